// End to end, the container tier: an OCI image imported into the node's store runs as a Deployment
// of real runc containers with a hostPort on the node, `exec` reaches it, and limits are enforced.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { buildTestImages, Cluster, missingTools, ROOT, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables'], 'the container tier needs root');
}

const why = missing();
if (why) console.warn(`skipping container e2e tests: ${why}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as any).port;
      s.close(() => resolve(port));
    });
  });
}

let c: Cluster;

describe.skipIf(!!why)('container tier end to end', () => {
  beforeAll(async () => {
    buildTestImages();
    c = await new Cluster().up();
    const root = join(c.dir, 'data', 'agent', 'images');
    // Without --root, `strata image` follows the kubeconfig to the store of the node `up` started.
    const imported = await c.cli([
      'image',
      'import',
      join(ROOT, 'build/images/httpd'),
      '--name',
      'localhost/httpd:1.0',
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain(`image store: ${root} (node "node-a")`);
    const busybox = await c.cli([
      'image',
      'import',
      '--root',
      root,
      join(ROOT, 'build/images/busybox'),
      '--name',
      'localhost/busybox:1.0',
    ]);
    expect(busybox.code, busybox.stderr).toBe(0);
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('a Deployment of an HTTP server image with a hostPort answers on the node, and exec reaches it', async () => {
    const port = await freePort();
    const file = join(c.dir, 'web.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      runtimeClassName: container
      containers:
        - name: httpd
          image: localhost/httpd:1.0
          ports: [{ containerPort: 8080, hostPort: ${port} }]
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
          resources: { limits: { memory: 64Mi } }
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    const pod = await waitFor('web pod ready', async () => {
      const list = await c.client.list(pods, 'default', { labelSelector: 'app=web' });
      return list.items.find((p) =>
        p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'),
      );
    });
    expect(pod.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const body = await waitFor('hostPort answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      return res.ok ? res.text() : undefined;
    });
    expect(body).toContain('hello from strata httpd');

    const name = pod.metadata.name;
    const hostname = await c.cli(['exec', name, '--', 'cat', '/etc/hostname']);
    expect(hostname.code).toBe(0);
    expect(hostname.stdout.trim()).toBe(name);
    // Its own processes only: no host process is visible in the container's PID namespace.
    const ps = await c.cli(['exec', name, '--', 'sh', '-c', 'ls /proc | grep -c "^[0-9]"']);
    expect(Number(ps.stdout.trim())).toBeLessThan(10);
    const mount = await c.cli(['exec', name, '--', 'mount', '-t', 'tmpfs', 'x', '/mnt']);
    expect(mount.code).not.toBe(0);
    const failing = await c.cli(['exec', name, '--', 'sh', '-c', 'exit 7']);
    expect(failing.code).toBe(7);

    await c.cli(['delete', 'deployment', 'web']);
    await waitFor(
      'web pods gone',
      async () => (await c.client.list(pods, 'default', { labelSelector: 'app=web' })).items.length === 0,
    );
  });

  it('a hostPort is held by one pod per node: the scheduler keeps a second replica Pending; a pod bound past it starts once the port is free', async () => {
    const port = await freePort();
    // The pod spec both manifests share, indented to sit under `spec:` at `pad`.
    const podSpec = (pad: string) =>
      [
        'runtimeClassName: container',
        'terminationGracePeriodSeconds: 1',
        'containers:',
        '  - name: httpd',
        '    image: localhost/httpd:1.0',
        `    ports: [{ containerPort: 8080, hostPort: ${port} }]`,
        '    readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }',
      ]
        .map((l) => pad + l)
        .join('\n');
    const file = join(c.dir, 'held.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: held }
spec:
  replicas: 2
  selector: { matchLabels: { app: held } }
  template:
    metadata: { labels: { app: held } }
    spec:
${podSpec('      ')}
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    const { running, pending } = await waitFor('one held pod Running, one Pending', async () => {
      const list = (await c.client.list(pods, 'default', { labelSelector: 'app=held' })).items;
      const running = list.find((p) => p.status?.phase === 'Running');
      const pending = list.find((p) =>
        p.status?.conditions?.some((x: any) => x.type === 'PodScheduled' && x.status === 'False'),
      );
      return list.length === 2 && running && pending && { running, pending };
    });
    expect(pending.status.conditions.find((x: any) => x.type === 'PodScheduled').message).toContain(
      "didn't have free ports for the requested pod ports",
    );

    // Bound by hand to the same node (past the scheduler, as a kubelet takes any pod given nodeName): it
    // cannot publish the port while the Deployment's pod holds it, and must start once that pod is gone.
    const bound = join(c.dir, 'bound.yaml');
    writeFileSync(
      bound,
      `apiVersion: v1
kind: Pod
metadata: { name: bound-by-hand }
spec:
  nodeName: ${running.spec.nodeName}
${podSpec('  ')}
`,
    );
    expect((await c.cli(['apply', '-f', bound])).code).toBe(0);
    const waiting = await waitFor('the bound pod refused the taken port', async () => {
      const p = await c.client.get(pods, 'default', 'bound-by-hand');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.message?.includes('already published') && p;
    });
    expect(waiting.status.containerStatuses[0].state.waiting.reason).toBe('CreateContainerError');
    await c.cli(['delete', 'deployment', 'held']);
    await waitFor(
      'the bound pod Running',
      async () => {
        const p = await c.client.get(pods, 'default', 'bound-by-hand');
        return p.status?.containerStatuses?.[0]?.state?.running;
      },
      120_000,
    );
    const body = await waitFor('its hostPort answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    });
    expect(body).toContain('hello from strata httpd');
    await c.cli(['delete', 'pod', 'bound-by-hand']);
  });

  it('securityContext: runAsUser and a read-only root filesystem are enforced', async () => {
    const file = join(c.dir, 'sc.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: restricted }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo "uid $(id -u)"; touch /x 2>/dev/null && echo writable || echo read-only']
      securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    await waitFor('restricted finished', async () => {
      const p = await c.client.get(pods, 'default', 'restricted');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    const logs = await c.cli(['logs', 'restricted']);
    expect(logs.stdout).toContain('uid 1000');
    expect(logs.stdout).toContain('read-only');
  });

  it('a fork bomb stops at the pids limit', async () => {
    const file = join(c.dir, 'forks.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: forks }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'i=0; while [ $i -lt 3000 ]; do (sleep 120 &) 2>/dev/null; i=$((i+1)); done; sleep 120']
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    const pod = await waitFor('forks running', async () => {
      const p = await c.client.get(pods, 'default', 'forks');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    // The container's pids cgroup (cgroupfs layout: <hierarchy>/strata/<sandbox id>) refuses forks at its
    // limit: the count stays at or below pids.max and pids.events counts the refusals.
    const cg = existsSync('/sys/fs/cgroup/pids')
      ? `/sys/fs/cgroup/pids/strata/${pod.metadata.uid}-main-0`
      : `/sys/fs/cgroup/strata/${pod.metadata.uid}-main-0`;
    const refused = await waitFor(
      'forks refused at the limit',
      () => {
        const n = Number(/max (\d+)/.exec(readFileSync(`${cg}/pids.events`, 'utf8'))?.[1] ?? 0);
        return n > 0 ? n : undefined;
      },
      60_000,
    );
    expect(refused).toBeGreaterThan(0);
    const max = Number(readFileSync(`${cg}/pids.max`, 'utf8'));
    expect(Number(readFileSync(`${cg}/pids.current`, 'utf8'))).toBeLessThanOrEqual(max);
    expect(max).toBe(1024);
    await c.cli(['delete', 'pod', 'forks', '--grace-period', '1']);
  });

  it('a container over its memory limit is OOM-killed with reason OOMKilled', async () => {
    const file = join(c.dir, 'hog.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: hog }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: hog
      image: localhost/busybox:1.0
      command: [sh, -c, 'a=$(head -c 200000000 /dev/zero | tr "\\\\0" x); echo survived']
      resources: { limits: { memory: 32Mi } }
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    const pod = await waitFor('hog finished', async () => {
      const p = await c.client.get(pods, 'default', 'hog');
      return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p : undefined;
    });
    expect(pod.status.phase).toBe('Failed');
    expect(pod.status.containerStatuses[0].state.terminated.reason).toBe('OOMKilled');
  });
});
