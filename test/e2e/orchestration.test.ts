// End to end on one `strata up`: a rollout whose new pods never become ready halts with the old pods
// still serving and `strata rollout undo` restores it; a failing liveness probe restarts a container with
// back-off. Probes of wasm pods reach 127.0.0.1 on the node (a wasm guest cannot listen), so the test
// process plays the pods' listener.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, fixture, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;
let c: Cluster;
let listener: Server;
let openPort: number;
let closedPort: number;

async function listen(): Promise<Server> {
  const s = createServer((sock) => sock.end());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

beforeAll(async () => {
  listener = await listen();
  openPort = (listener.address() as AddressInfo).port;
  const spare = await listen();
  closedPort = (spare.address() as AddressInfo).port;
  await new Promise<void>((r) => spare.close(() => r()));
  c = await new Cluster().up();
});

afterAll(async () => {
  await c?.stop();
  listener?.close();
});

const ready = (p: any): boolean =>
  !p.metadata.deletionTimestamp &&
  p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');

function deployment(name: string, readinessPort: number, image = fixture('sleeper')): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: 3
  progressDeadlineSeconds: 8
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${image}
          readinessProbe: { tcpSocket: { port: ${readinessPort} }, periodSeconds: 1, failureThreshold: 1 }
`;
}

async function podsOf(app: string): Promise<any[]> {
  return (await c.client.list(pods, 'default', { labelSelector: `app=${app}` })).items;
}

describe('rollouts that go wrong', () => {
  it('a rollout whose new pods never become ready halts, the old pods keep serving, and undo restores it', async () => {
    const applied = await c.cli(['apply', '-f', '-'], { input: deployment('web', openPort) });
    expect(applied.code).toBe(0);
    const ok = await c.cli(['rollout', 'status', 'deployment/web', '--timeout', '60s'], {
      timeoutMs: 90_000,
    });
    expect(ok.stdout).toContain('deployment "web" successfully rolled out');
    expect(ok.code).toBe(0);
    const good = await podsOf('web');
    expect(good.filter(ready)).toHaveLength(3);
    const goodHash = good[0].metadata.labels['pod-template-hash'];

    // Revision 2: the readiness probe points at a port nothing listens on.
    const bad = await c.cli(['apply', '-f', '-'], { input: deployment('web', closedPort) });
    expect(bad.stdout).toContain('deployment.apps/web configured');
    const status = await c.cli(['rollout', 'status', 'deployment/web', '--timeout', '90s'], {
      timeoutMs: 120_000,
    });
    expect(status.code).toBe(1);
    expect(status.stderr.trim()).toBe('error: deployment "web" exceeded its progress deadline');
    // Halted: the new pod runs but is not ready, and every old pod is still there and ready.
    const during = await podsOf('web');
    const old = during.filter((p) => p.metadata.labels['pod-template-hash'] === goodHash);
    const fresh = during.filter((p) => p.metadata.labels['pod-template-hash'] !== goodHash);
    expect(old.filter(ready)).toHaveLength(3);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.filter(ready)).toHaveLength(0);
    expect(fresh.some((p) => p.status?.containerStatuses?.[0]?.state?.running)).toBe(true);
    const table = await c.cli(['get', 'deploy', 'web']);
    expect(table.stdout).toMatch(/web\s+3\/3\s+\d+\s+3\s+Stalled/);
    const unhealthy = await c.cli([
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${fresh[0].metadata.name}`,
    ]);
    expect(unhealthy.stdout).toMatch(/Warning\s+Unhealthy\s+pod\/\S+\s+Readiness probe failed: dial tcp/);
    const described = await c.cli(['describe', 'pod', fresh[0].metadata.name]);
    expect(described.stdout).toMatch(
      new RegExp(
        `Readiness:\\s+tcp-socket :${closedPort} delay=0s timeout=1s period=1s #success=1 #failure=1`,
      ),
    );
    expect(described.stdout).toMatch(/Ready\s+False/);

    const history = await c.cli(['rollout', 'history', 'deployment/web']);
    expect(history.stdout).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);

    const undo = await c.cli(['rollout', 'undo', 'deployment/web']);
    expect(undo.stdout.trim()).toBe('deployment.apps/web rolled back');
    const done = await c.cli(['rollout', 'status', 'deployment/web', '--timeout', '60s'], {
      timeoutMs: 90_000,
    });
    expect(done.stdout).toContain('successfully rolled out');
    expect(done.code).toBe(0);
    const after = await waitFor('only the old template, all ready', async () => {
      const ps = await podsOf('web');
      return ps.length === 3 &&
        ps.every((p) => ready(p) && p.metadata.labels['pod-template-hash'] === goodHash)
        ? ps
        : undefined;
    });
    expect(after[0].spec.containers[0].readinessProbe.tcpSocket.port).toBe(openPort);
    const d = await c.client.get(deployments, 'default', 'web');
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    expect((await c.cli(['get', 'deploy', 'web'])).stdout).toMatch(/web\s+3\/3\s+3\s+3\s+Available/);
  });

  it('an image that cannot be pulled halts the rollout too, and undo --to-revision picks the revision', async () => {
    const applied = await c.cli(['apply', '-f', '-'], {
      input: deployment('api', openPort),
    });
    expect(applied.code).toBe(0);
    expect((await c.cli(['rollout', 'status', 'deploy/api', '--timeout', '60s'])).code).toBe(0);
    await c.cli(['apply', '-f', '-'], { input: deployment('api', openPort, '/nonexistent/app.wasm') });
    const status = await c.cli(['rollout', 'status', 'deploy/api', '--timeout', '90s'], {
      timeoutMs: 120_000,
    });
    expect(status.code).toBe(1);
    const ps = await podsOf('api');
    const waiting = ps.find((p) => p.spec.containers[0].image === '/nonexistent/app.wasm');
    expect(waiting.status.containerStatuses[0].state.waiting.reason).toBe('ErrImagePull');
    expect(ps.filter(ready)).toHaveLength(3);
    const undo = await c.cli(['rollout', 'undo', 'deploy/api', '--to-revision', '1']);
    expect(undo.stdout.trim()).toBe('deployment.apps/api rolled back');
    expect((await c.cli(['rollout', 'status', 'deploy/api', '--timeout', '60s'])).code).toBe(0);
    await waitFor('no pod of the bad image left', async () =>
      (await podsOf('api')).every((p) => p.spec.containers[0].image !== '/nonexistent/app.wasm'),
    );
    const missing = await c.cli(['rollout', 'undo', 'deploy/api', '--to-revision', '9']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('error: unable to find specified revision 9 in history');
  });
});

describe('liveness', () => {
  it('a failing liveness probe restarts the container with back-off and says why', async () => {
    const applied = await c.cli(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: { name: live }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${fixture('sleeper')}
      livenessProbe: { tcpSocket: { port: ${closedPort} }, periodSeconds: 1, failureThreshold: 2 }
`,
    });
    expect(applied.code).toBe(0);
    const seen: string[] = [];
    const pod = await waitFor(
      'two restarts',
      async () => {
        const p = await c.client.get(pods, 'default', 'live');
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        if (w?.reason === 'CrashLoopBackOff' && !seen.includes(w.message)) seen.push(w.message);
        return p.status?.containerStatuses?.[0]?.restartCount >= 2 ? p : undefined;
      },
      90_000,
    );
    const cs = pod.status.containerStatuses[0];
    expect(cs.lastState.terminated.reason).toBe('Error');
    expect(cs.lastState.terminated.message).toBe(
      `Liveness probe failed: dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
    );
    // Back-off doubles between restarts (10s, then 20s), and the pod shows it while waiting.
    expect(seen[0]).toBe('back-off 10s restarting failed container=main pod=live');
    expect(cs.state.waiting).toEqual({
      reason: 'CrashLoopBackOff',
      message: 'back-off 20s restarting failed container=main pod=live',
    });
    const row = await waitFor('get pods shows CrashLoopBackOff', async () => {
      const r = await c.cli(['get', 'pod', 'live']);
      return /CrashLoopBackOff/.test(r.stdout) ? r.stdout : undefined;
    });
    expect(row).toMatch(/live\s+0\/1\s+CrashLoopBackOff\s+\d+ \(\S+ ago\)/);
    const described = (await c.cli(['describe', 'pod', 'live'])).stdout;
    expect(described).toMatch(
      /Last State:\s+Terminated\n\s+Reason:\s+Error\n\s+Message:\s+Liveness probe failed/,
    );
    expect(described).toMatch(/Warning\s+Unhealthy\s+.*Liveness probe failed: dial tcp/);
    expect(described).toMatch(/Normal\s+Killing\s+.*Container main failed liveness probe, will be restarted/);
    expect(described).toMatch(/Warning\s+BackOff\s+.*Back-off restarting failed container main in pod live/);
    await c.cli(['delete', 'pod', 'live']);
  });
});

describe('apply', () => {
  it('re-applying manifests of running objects changes nothing, and a field the manifest drops goes away', async () => {
    const manifest = (extraLabel: boolean): string => `apiVersion: v1
kind: Pod
metadata:
  name: reapplied
  labels: { app: reapplied${extraLabel ? ', tier: extra' : ''} }
spec:
  runtimeClassName: wasm
  containers: [{ name: main, image: ${fixture('sleeper')} }]
---
apiVersion: v1
kind: Service
metadata: { name: reapplied }
spec:
  selector: { app: reapplied }
  ports: [{ port: 80 }]
`;
    expect((await c.cli(['apply', '-f', '-'], { input: manifest(true) })).stdout).toContain(
      'pod/reapplied created',
    );
    // Scheduled (the server set nodeName) and running; the Service got a cluster IP from the server.
    await waitFor('pod reapplied running', async () => {
      const p = await c.client.get(pods, 'default', 'reapplied');
      return p.spec.nodeName && p.status?.phase === 'Running';
    });
    const again = await c.cli(['apply', '-f', '-'], { input: manifest(true) });
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe('pod/reapplied unchanged\nservice/reapplied unchanged\n');
    const dropped = await c.cli(['apply', '-f', '-'], { input: manifest(false) });
    expect(dropped.stdout).toContain('pod/reapplied configured');
    const p = await c.client.get(pods, 'default', 'reapplied');
    expect(p.metadata.labels).toEqual({ app: 'reapplied' });
    expect(p.spec.nodeName).toBeTruthy();
  });
});
