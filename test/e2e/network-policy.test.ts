// NetworkPolicy end to end: real `strata up`, container pods on the node's bridge, policies applied with
// kubectl, connections made from inside pods with `kubectl exec` (busybox wget to pod IPs and the
// Service's cluster IP). A default deny blocks, an allow rule for one label lets exactly that client in,
// a namespaceSelector admits another namespace, an egress deny stops a client, the node's readiness
// probes keep working throughout, and `strata down` removes the policy table.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkNames } from '../../src/net/network-names.ts';
import { Cluster, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'nft'], 'NetworkPolicy needs root (container tier and nftables)');
}
const why = missing();
if (why) console.warn(`skipping the NetworkPolicy e2e tests: ${why}`);

let c: Cluster;
let dbIP: string;
let dbClusterIP: string;

const sleeper = (name: string, namespace: string, app: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace}, labels: { app: ${app} } }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sleep, '3600']
`;

async function apply(yaml: string): Promise<void> {
  const file = join(c.dir, `np-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const r = await c.kubectl(['apply', '-f', file]);
  expect(r.code, r.stderr).toBe(0);
}

/** Whether `pod` (in `namespace`) gets db's page from `target` (busybox wget: exit 0 with the body). */
async function reaches(pod: string, target: string, namespace = 'default'): Promise<boolean> {
  const r = await c.kubectl(
    ['exec', '-n', namespace, pod, '--', 'wget', '-q', '-O', '-', `http://${target}/`],
    { timeoutMs: 20_000 },
  );
  return r.code === 0 && r.stdout.includes('db says hi');
}

/** Wait until the kernel rules agree (the agent syncs within a moment of each change). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(what, check, 30_000);
}

async function dbReady(): Promise<boolean> {
  const p = JSON.parse((await c.kubectl(['get', 'pod', 'db', '-o', 'json'])).stdout);
  return p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
}

describe.skipIf(!!why)('NetworkPolicy end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
    await apply(`apiVersion: v1
kind: Namespace
metadata: { name: ops, labels: { team: ops } }
---
apiVersion: v1
kind: Pod
metadata: { name: db, labels: { app: db } }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 0
  containers:
    - name: httpd
      image: localhost/busybox:1.0
      command: [sh, -c, 'mkdir -p /www && echo db says hi > /www/index.html && exec httpd -f -p 8080 -h /www']
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe: { tcpSocket: { port: http }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: db }
spec:
  selector: { app: db }
  ports: [{ port: 80, targetPort: http }]
---
${sleeper('web', 'default', 'web')}---
${sleeper('other', 'default', 'other')}---
${sleeper('tool', 'ops', 'web')}`);
    await waitFor(
      'db ready and the clients running',
      async () => {
        const pods = JSON.parse((await c.kubectl(['get', 'pods', '-A', '-o', 'json'])).stdout).items;
        const running = pods.filter((p: any) => p.status?.phase === 'Running').length;
        return running === 4 && (await dbReady());
      },
      120_000,
    );
    dbIP = JSON.parse((await c.kubectl(['get', 'pod', 'db', '-o', 'json'])).stdout).status.podIP;
    dbClusterIP = JSON.parse((await c.kubectl(['get', 'svc', 'db', '-o', 'json'])).stdout).spec.clusterIP;
  }, 240_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('without a policy every pod reaches db, by pod IP and by cluster IP', async () => {
    await eventually('web reaches db', () => reaches('web', `${dbIP}:8080`));
    expect(await reaches('other', `${dbIP}:8080`)).toBe(true);
    expect(await reaches('tool', `${dbIP}:8080`, 'ops')).toBe(true);
    await eventually('web reaches the db Service', () => reaches('web', dbClusterIP));
  });

  it('a default deny blocks every client, while the node still probes db', async () => {
    await apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db-deny }
spec:
  podSelector: { matchLabels: { app: db } }
`);
    const listed = await c.kubectl(['get', 'netpol']);
    expect(listed.stdout).toMatch(/db-deny\s+app=db/);
    await eventually('web blocked', async () => !(await reaches('web', `${dbIP}:8080`)));
    expect(await reaches('other', `${dbIP}:8080`)).toBe(false);
    expect(await reaches('other', dbClusterIP)).toBe(false);
    expect(await reaches('tool', `${dbIP}:8080`, 'ops')).toBe(false);
    // Readiness probes come from the node: db stays Ready past several probe periods.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await dbReady()).toBe(true);
  });

  it('an allow rule for one label lets exactly that client in (same namespace, on the named port)', async () => {
    await apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db-allow-web }
spec:
  podSelector: { matchLabels: { app: db } }
  ingress:
    - from: [{ podSelector: { matchLabels: { app: web } } }]
      ports: [{ port: http }]
`);
    await eventually('web let in', () => reaches('web', `${dbIP}:8080`));
    expect(await reaches('web', dbClusterIP)).toBe(true);
    expect(await reaches('other', `${dbIP}:8080`)).toBe(false);
    expect(await reaches('other', dbClusterIP)).toBe(false);
    // app=web in another namespace is not matched by a podSelector alone.
    expect(await reaches('tool', `${dbIP}:8080`, 'ops')).toBe(false);
  });

  it('a namespaceSelector admits the pods of the namespaces it matches', async () => {
    await apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db-allow-ops }
spec:
  podSelector: { matchLabels: { app: db } }
  ingress:
    - from: [{ namespaceSelector: { matchLabels: { team: ops } } }]
`);
    await eventually('tool let in', () => reaches('tool', `${dbIP}:8080`, 'ops'));
    expect(await reaches('other', `${dbIP}:8080`)).toBe(false);
  });

  it('an egress deny stops a client that ingress rules would admit; deleting it restores it', async () => {
    await apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web-no-egress }
spec:
  podSelector: { matchLabels: { app: web } }
  policyTypes: [Egress]
`);
    await eventually('web blocked by its egress policy', async () => !(await reaches('web', `${dbIP}:8080`)));
    expect(await reaches('web', dbClusterIP)).toBe(false);
    // Traffic to its own node is never filtered: the egress-isolated pod still resolves names through
    // the kube-dns Service (DNATed to the node's DNS server).
    const lookup = await c.kubectl(['exec', 'web', '--', 'nslookup', 'db.default.svc.cluster.local']);
    expect(lookup.stdout).toContain(dbClusterIP);
    // Only default/web is selected: ops/tool (also app=web) still gets in.
    expect(await reaches('tool', `${dbIP}:8080`, 'ops')).toBe(true);
    expect((await c.kubectl(['delete', 'netpol', 'web-no-egress'])).code).toBe(0);
    await eventually('web let in again', () => reaches('web', `${dbIP}:8080`));
  });

  it('strata down removes the policy table', async () => {
    const table = `${networkNames(c.podBridge).serviceTable}_policy`;
    const list = () => spawnSync('nft', ['list', 'table', 'ip', table], { encoding: 'utf8' });
    expect(list().status).toBe(0);
    await c.stop();
    expect(list().status).not.toBe(0);
  });
});
