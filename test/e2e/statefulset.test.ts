// A StatefulSet as the Kubernetes documentation shows it: a headless Service and a StatefulSet of busybox
// web servers on the container tier, driven with the real kubectl. The pods come up one at a time with
// stable names; web-0.nginx.default.svc.cluster.local resolves from another pod; a deleted pod comes back
// under its name; a rolling update with a partition replaces only the higher ordinals; rollout
// status/history/undo and scale work. Then the same on the wasm tier.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, ROOT, waitFor, wasm, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'nft', 'kubectl'], 'the container tier and cluster DNS need root');
}
const why = missing();
if (why) console.warn(`skipping the StatefulSet e2e tests: ${why}`);

let c: Cluster;

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function getJson(...args: string[]): Promise<any> {
  return JSON.parse(await kubectlOk(['get', ...args, '-o', 'json']));
}

const ready = (p: any) => p?.status?.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True';
const readySince = (p: any): string =>
  p.status.conditions.find((x: any) => x.type === 'Ready').lastTransitionTime;
const revisionOf = (p: any): string => p.metadata.labels['controller-revision-hash'];

async function podsReady(selector: string, n: number, timeoutMs = 180_000): Promise<any[]> {
  return waitFor(
    `${n} ready pods ${selector}`,
    async () => {
      const items = (await getJson('pods', '-l', selector)).items.filter(
        (p: any) => !p.metadata.deletionTimestamp,
      );
      return items.length === n && items.every(ready) && items;
    },
    timeoutMs,
  );
}

const MANIFEST = `apiVersion: v1
kind: Service
metadata: { name: nginx, labels: { app: web } }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ name: web, port: 8080 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: nginx
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      runtimeClassName: container
      terminationGracePeriodSeconds: 2
      containers:
        - name: httpd
          image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
          ports: [{ name: web, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: web }, periodSeconds: 1 }
`;

describe.skipIf(!!why)('StatefulSet end to end', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
  }, 300_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('creates web-0, web-1, web-2 in order, each once the one before is Ready', async () => {
    const file = join(c.dir, 'web.yaml');
    writeFileSync(file, MANIFEST);
    const applied = await kubectlOk(['apply', '-f', file]);
    expect(applied).toMatch(/statefulset.apps\/web created/);
    const pods = await podsReady('app=web', 3);
    const byName = Object.fromEntries(pods.map((p: any) => [p.metadata.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['web-0', 'web-1', 'web-2']);
    // OrderedReady: each pod was created only after the one before it became Ready.
    expect(byName['web-1'].metadata.creationTimestamp >= readySince(byName['web-0'])).toBe(true);
    expect(byName['web-2'].metadata.creationTimestamp >= readySince(byName['web-1'])).toBe(true);
    expect(byName['web-1'].spec).toMatchObject({ hostname: 'web-1', subdomain: 'nginx' });
    expect(byName['web-1'].metadata.labels).toMatchObject({
      'statefulset.kubernetes.io/pod-name': 'web-1',
      'apps.kubernetes.io/pod-index': '1',
    });
    const status = await kubectlOk(['rollout', 'status', 'statefulset/web', '--timeout=120s']);
    expect(status).toMatch(/partitioned roll out complete: 3 new pods have been updated/);
    const table = await kubectlOk(['get', 'sts', 'web', '-o', 'wide']);
    expect(table).toMatch(/^NAME\s+READY\s+AGE\s+CONTAINERS\s+IMAGES/);
    expect(table).toMatch(/^web\s+3\/3\s+\S+\s+httpd\s+localhost\/busybox:1\.0/m);
    // Inside, the pod's host name is its own name.
    expect((await kubectlOk(['exec', 'web-2', '--', 'hostname'])).trim()).toBe('web-2');
  });

  it('resolves web-0.nginx.default.svc.cluster.local to web-0 from another pod', async () => {
    const ip0 = (await getJson('pod', 'web-0')).status.podIP;
    const ip2 = (await getJson('pod', 'web-2')).status.podIP;
    const file = join(c.dir, 'dns.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: sts-dns }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'for n in web-0.nginx.default.svc.cluster.local web-2.nginx.default.svc.cluster.local; do ip=$(nslookup $n 2>/dev/null | sed -n "s/^Address: *//p" | tail -1); echo "$n -> $ip"; done; wget -q -O - http://web-0.nginx:8080/']
`,
    );
    await kubectlOk(['apply', '-f', file]);
    await waitFor('sts-dns finished', async () =>
      ['Succeeded', 'Failed'].includes((await getJson('pod', 'sts-dns')).status?.phase),
    );
    const out = await kubectlOk(['logs', 'sts-dns']);
    expect(out).toContain(`web-0.nginx.default.svc.cluster.local -> ${ip0}`);
    expect(out).toContain(`web-2.nginx.default.svc.cluster.local -> ${ip2}`);
    // The short name through the search path (busybox's nslookup tries no search domain for a dotted
    // name, its resolver does): web-0's page is its host name.
    expect(out).toMatch(/^web-0$/m);
  });

  it('brings a deleted pod back under the same name', async () => {
    const before = await getJson('pod', 'web-1');
    await kubectlOk(['delete', 'pod', 'web-1', '--wait=false']);
    const after = await waitFor(
      'web-1 back',
      async () => {
        const p = await getJson('pods', '-l', 'statefulset.kubernetes.io/pod-name=web-1');
        const item = p.items[0];
        return item && item.metadata.uid !== before.metadata.uid && ready(item) && item;
      },
      180_000,
    );
    expect(after.metadata.name).toBe('web-1');
    expect(after.spec.hostname).toBe('web-1');
  });

  it('rolls out a new template with partition 2 to web-2 only; history and undo work', async () => {
    const v1 = (await getJson('sts', 'web')).status.updateRevision;
    await kubectlOk([
      'patch',
      'sts',
      'web',
      '-p',
      '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}',
    ]);
    await kubectlOk(['set', 'env', 'statefulset/web', 'VERSION=2']);
    const status = await kubectlOk(['rollout', 'status', 'sts/web', '--timeout=150s']);
    expect(status).toMatch(/partitioned roll out complete: 1 new pods have been updated/);
    const sts = await getJson('sts', 'web');
    const v2 = sts.status.updateRevision;
    expect(v2).not.toBe(v1);
    expect(sts.status.currentRevision).toBe(v1);
    const pods = await podsReady('app=web', 3);
    const rev = Object.fromEntries(pods.map((p: any) => [p.metadata.name, revisionOf(p)]));
    expect(rev).toEqual({ 'web-0': v1, 'web-1': v1, 'web-2': v2 });
    const env = (p: any) => p.spec.containers[0].env ?? [];
    expect(env(pods.find((p: any) => p.metadata.name === 'web-2'))).toEqual([
      { name: 'VERSION', value: '2' },
    ]);
    expect(env(pods.find((p: any) => p.metadata.name === 'web-0'))).toEqual([]);

    const history = await kubectlOk(['rollout', 'history', 'sts/web']);
    expect(history).toMatch(/^REVISION\s+CHANGE-CAUSE/m);
    expect(history).toMatch(/^1\s+<none>/m);
    expect(history).toMatch(/^2\s+<none>/m);
    expect(await kubectlOk(['rollout', 'history', 'sts/web', '--revision=2'])).toMatch(/VERSION:\s+2/);
    // strata's own rollout commands read the same revisions.
    const strataHistory = await c.cli(['rollout', 'history', 'sts/web']);
    expect(strataHistory.code, strataHistory.stderr).toBe(0);
    expect(strataHistory.stdout).toMatch(/^2\s+<none>/m);
    const strataStatus = await c.cli(['rollout', 'status', 'sts/web']);
    expect(strataStatus.stdout).toMatch(/partitioned roll out complete: 1 new pods have been updated/);

    // Undo goes back to revision 1's template, which becomes revision 3; web-2 returns to it.
    expect(await kubectlOk(['rollout', 'undo', 'sts/web'])).toMatch(/statefulset.apps\/web rolled back/);
    await waitFor(
      'web-2 back at the first template',
      async () => {
        const p = (await getJson('pods', '-l', 'app=web')).items.find(
          (x: any) => x.metadata.name === 'web-2',
        );
        return p && ready(p) && revisionOf(p) === v1 && p;
      },
      180_000,
    );
    const back = await getJson('sts', 'web');
    expect(back.status.updateRevision).toBe(v1);
    expect(await kubectlOk(['rollout', 'history', 'sts/web'])).toMatch(/^3\s+<none>/m);
  });

  it('scales down from the highest ordinal with kubectl scale', async () => {
    expect(await kubectlOk(['scale', 'sts', 'web', '--replicas=2'])).toMatch(/statefulset.apps\/web scaled/);
    await waitFor(
      'web-2 gone',
      async () => {
        const names = (await getJson('pods', '-l', 'app=web')).items.map((p: any) => p.metadata.name);
        return names.join() === 'web-0,web-1';
      },
      120_000,
    );
    expect((await getJson('sts', 'web')).status).toMatchObject({ replicas: 2, readyReplicas: 2 });
    const described = await kubectlOk(['describe', 'sts', 'web']);
    expect(described).toMatch(/^Replicas:\s+2 desired \| 2 total$/m);
    expect(described).toMatch(/^Update Strategy:\s+RollingUpdate$/m);
    expect(described).toMatch(/SuccessfulDelete .*delete Pod web-2 in StatefulSet web successful/);
    expect(await kubectlOk(['get', 'all', '-o', 'name'])).toMatch(/^statefulset.apps\/web$/m);
  });

  it('gives each pod its own claim, whose data survives the pod, and deletes a scaled-down claim (whenScaled: Delete)', async () => {
    const file = join(c.dir, 'data.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: data }
spec:
  replicas: 2
  selector: { matchLabels: { app: data } }
  persistentVolumeClaimRetentionPolicy: { whenScaled: Delete }
  template:
    metadata: { labels: { app: data } }
    spec:
      runtimeClassName: container
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: localhost/busybox:1.0
          command: [sh, -c, 'test -f /var/lib/data/first || hostname > /var/lib/data/first; exec sleep 3600']
          volumeMounts: [{ name: store, mountPath: /var/lib/data }]
  volumeClaimTemplates:
    - metadata: { name: store }
      spec:
        accessModes: [ReadWriteOnce]
        resources: { requests: { storage: 32Mi } }
`,
    );
    await kubectlOk(['apply', '-f', file]);
    await podsReady('app=data', 2);
    const claims = await getJson('pvc', '-l', 'app=data');
    expect(claims.items.map((x: any) => [x.metadata.name, x.status?.phase]).sort()).toEqual([
      ['store-data-0', 'Bound'],
      ['store-data-1', 'Bound'],
    ]);
    expect((await kubectlOk(['exec', 'data-1', '--', 'cat', '/var/lib/data/first'])).trim()).toBe('data-1');
    await kubectlOk(['exec', 'data-0', '--', 'sh', '-c', 'echo kept > /var/lib/data/marker']);
    const uid = (await getJson('pod', 'data-0')).metadata.uid;
    await kubectlOk(['delete', 'pod', 'data-0']);
    await waitFor(
      'data-0 back',
      async () => {
        const p = (await getJson('pods', '-l', 'app=data')).items.find(
          (x: any) => x.metadata.name === 'data-0',
        );
        return p && p.metadata.uid !== uid && ready(p);
      },
      180_000,
    );
    expect((await kubectlOk(['exec', 'data-0', '--', 'cat', '/var/lib/data/marker'])).trim()).toBe('kept');
    expect((await kubectlOk(['exec', 'data-0', '--', 'cat', '/var/lib/data/first'])).trim()).toBe('data-0');
    // Scaling down removes data-1 and, with whenScaled: Delete, its claim; data-0's stays.
    await kubectlOk(['scale', 'sts', 'data', '--replicas=1']);
    await waitFor(
      'store-data-1 deleted',
      async () =>
        (await getJson('pvc', '-l', 'app=data')).items.map((x: any) => x.metadata.name).join() ===
        'store-data-0',
      120_000,
    );
  });

  it('runs examples/statefulset-web.yaml as written: three pods, each with a Bound claim', async () => {
    await c.importTestImages('httpd');
    await kubectlOk(['apply', '-f', join(ROOT, 'examples/statefulset-web.yaml')]);
    const pods = await podsReady('app=www', 3);
    expect(pods.map((p: any) => p.metadata.name).sort()).toEqual(['www-0', 'www-1', 'www-2']);
    const claims = (await getJson('pvc', '-l', 'app=www')).items;
    expect(claims.map((x: any) => `${x.metadata.name}:${x.status?.phase}`).sort()).toEqual([
      'data-www-0:Bound',
      'data-www-1:Bound',
      'data-www-2:Bound',
    ]);
  });

  it('runs a StatefulSet of wasm pods in order with stable names', async () => {
    const file = join(c.dir, 'ticker.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: tick }
spec:
  replicas: 2
  selector: { matchLabels: { app: tick } }
  template:
    metadata: { labels: { app: tick } }
    spec:
      runtimeClassName: wasm
      containers:
        - name: ticker
          image: ${wasm('ticker')}
`,
    );
    await kubectlOk(['apply', '-f', file]);
    const pods = await podsReady('app=tick', 2, 60_000);
    const byName = Object.fromEntries(pods.map((p: any) => [p.metadata.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['tick-0', 'tick-1']);
    expect(byName['tick-1'].metadata.creationTimestamp >= readySince(byName['tick-0'])).toBe(true);
    const uid = byName['tick-0'].metadata.uid;
    await kubectlOk(['delete', 'pod', 'tick-0', '--wait=false']);
    await waitFor('tick-0 back', async () => {
      const p = (await getJson('pods', '-l', 'app=tick')).items.find(
        (x: any) => x.metadata.name === 'tick-0',
      );
      return p && p.metadata.uid !== uid && ready(p);
    });
    expect((await kubectlOk(['logs', 'tick-1'])).length).toBeGreaterThan(0);
  });
});
