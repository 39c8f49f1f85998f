import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor, validateStatus } from '../api/index.ts';
import { FakeDriver } from './testing/fake-driver.ts';
import { PodWorker } from './pod-worker.ts';

/** Any name: the worker finds the pod's driver by it and never looks at it otherwise. */
const TIER = 'fake-tier';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pod-worker-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function pod(container: Record<string, unknown>, extra: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: {
      runtimeClassName: TIER,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: '/app.wasm', ...container }],
      ...extra,
    },
  };
}

function harness(p: any, driver = new FakeDriver()) {
  const statuses: any[] = [];
  const events: Array<{ type: string; reason: string; message: string }> = [];
  const client: any = {
    patch: async (_k: unknown, _ns: string, _n: string, body: any) => {
      // What the API server would refuse must fail here too.
      const causes = validateStatus(kindFor('v1', 'Pod')!, body.status);
      if (causes.length) throw new Error(`invalid status: ${JSON.stringify(causes)}`);
      statuses.push(body.status);
      return {};
    },
    find: async () => undefined,
  };
  const worker = new PodWorker(p, {
    client,
    drivers: new Map([[TIER, driver]]),
    podsDir: dir,
    backoffInitialMs: 50,
    events: { event: (_o, type, reason, message) => events.push({ type, reason, message }) },
    log: { info: () => {}, warn: () => {} },
  });
  const last = () => statuses.at(-1);
  const cs = () => last()?.containerStatuses?.[0];
  return { worker, driver, statuses, events, last, cs };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('PodWorker probes', () => {
  it('a failing liveness probe restarts the container with back-off and records why', async () => {
    const port = await closedPort();
    const h = harness(pod({ livenessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 1 } }));
    void h.worker.start();
    await until('two restarts', () => h.cs()?.restartCount >= 2);
    const lt = h.cs().lastState.terminated;
    expect(lt.reason).toBe('Error');
    expect(lt.signal).toBe(15);
    expect(lt.message).toBe(`Liveness probe failed: dial tcp 127.0.0.1:${port}: connect: connection refused`);
    expect(h.statuses.some((s) => s.containerStatuses[0].state.waiting?.reason === 'CrashLoopBackOff')).toBe(
      true,
    );
    const reasons = h.events.map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['Pulled', 'Created', 'Started', 'Unhealthy', 'Killing', 'BackOff']),
    );
    expect(h.events.find((e) => e.reason === 'Killing')!.message).toBe(
      'Container app failed liveness probe, will be restarted',
    );
    expect(h.events.find((e) => e.reason === 'Unhealthy')!.type).toBe('Warning');
    await h.worker.stop(0);
  });

  it('readiness drives ready and the Ready condition; no probe means ready once running', async () => {
    const server = createServer((s) => s.end());
    const h = harness(
      pod({
        readinessProbe: { tcpSocket: { port: 'web' }, periodSeconds: 1, failureThreshold: 1 },
        ports: [],
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    h.worker.pod.spec.containers[0].ports = [{ name: 'web', containerPort: port }];
    try {
      void h.worker.start();
      await until('ready', () => h.cs()?.ready === true);
      const ready = h.last().conditions.find((c: any) => c.type === 'Ready');
      expect(ready.status).toBe('True');
      // Before the first successful probe the running container was reported not ready.
      expect(
        h.statuses.some((s) => s.containerStatuses[0].state.running && !s.containerStatuses[0].ready),
      ).toBe(true);
      await new Promise<void>((r) => server.close(() => r()));
      await until('not ready', () => h.cs()?.ready === false);
      expect(h.last().conditions.find((c: any) => c.type === 'Ready').status).toBe('False');
      expect(h.cs().state.running).toBeDefined();
      expect(h.cs().restartCount).toBe(0);
    } finally {
      server.close();
      await h.worker.stop(0);
    }

    const plain = harness(pod({}));
    void plain.worker.start();
    await until('ready', () => plain.cs()?.ready === true && plain.cs()?.started === true);
    await plain.worker.stop(0);
  });

  it('fast first readiness: running and Ready go out in one status write when the server listens at once', async () => {
    const server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const p = pod({
      readinessProbe: { tcpSocket: { port }, periodSeconds: 10 },
      ports: [{ containerPort: port }],
    });
    p.metadata.annotations = { 'strata.dev/fast-first-readiness': 'true' };
    const h = harness(p);
    try {
      void h.worker.start();
      await until('ready', () => h.cs()?.ready === true);
      // No write ever said running but not ready: the running report waited for the first verdict.
      const running = h.statuses.filter((st) => st.containerStatuses?.[0]?.state?.running);
      expect(running.length).toBeGreaterThan(0);
      expect(running.every((st) => st.containerStatuses[0].ready === true)).toBe(true);
    } finally {
      await h.worker.stop(0);
      server.close();
    }

    // A server that listens only later: running is reported (not ready) without waiting for it.
    const late = await closedPort();
    const q = pod({ readinessProbe: { tcpSocket: { port: late }, periodSeconds: 10 } });
    q.metadata.annotations = { 'strata.dev/fast-first-readiness': 'true' };
    const slow = harness(q);
    try {
      void slow.worker.start();
      await until('running, not ready', () => slow.cs()?.state?.running && slow.cs()?.ready === false);
      const listener = createServer((c) => c.end());
      await new Promise<void>((r) => listener.listen(late, '127.0.0.1', r));
      try {
        await until('ready once it listens', () => slow.cs()?.ready === true);
      } finally {
        listener.close();
      }
    } finally {
      await slow.worker.stop(0);
    }
  });

  it('an exec probe on a tier without exec fails with a clear message', async () => {
    const h = harness(pod({ readinessProbe: { exec: { command: ['check'] }, periodSeconds: 1 } }));
    void h.worker.start();
    await until('Unhealthy event', () => h.events.find((e) => e.reason === 'Unhealthy'));
    expect(h.events.find((e) => e.reason === 'Unhealthy')!.message).toBe(
      `Readiness probe failed: exec probes are not supported: runtime class "${TIER}" cannot run commands in a container`,
    );
    expect(h.cs().ready).toBe(false);
    await h.worker.stop(0);
  });

  it('exec probes run through driver.exec where the tier has it', async () => {
    const driver = new FakeDriver({ capabilities: { exec: true } });
    driver.execResult = {
      exitCode: 1,
      stdout: new TextEncoder().encode('db down'),
      stderr: new Uint8Array(),
    };
    const h = harness(
      pod({ livenessProbe: { exec: { command: ['check'] }, periodSeconds: 1, failureThreshold: 1 } }),
      driver,
    );
    void h.worker.start();
    await until('restart', () => h.cs()?.restartCount >= 1);
    expect(h.cs().lastState.terminated.message).toBe('Liveness probe failed: db down');
    await h.worker.stop(0);
  });
});

describe('PodWorker lifecycle', () => {
  it('a start failure is a Warning Failed event and a waiting reason', async () => {
    const driver = new FakeDriver();
    driver.failStart = { reason: 'ErrImagePull', message: 'no such file /app.wasm' };
    const h = harness(pod({}), driver);
    void h.worker.start();
    await until('waiting', () => h.cs()?.state.waiting?.reason === 'ErrImagePull');
    expect(h.events[0]).toEqual({
      type: 'Warning',
      reason: 'Failed',
      message: 'Error: ErrImagePull: no such file /app.wasm',
    });
    await h.worker.stop(0);
  });

  it('stop(announce) records Killing for each running container', async () => {
    const h = harness(pod({}));
    void h.worker.start();
    await until('running', () => h.cs()?.state.running);
    await h.worker.stop(1, true);
    expect(h.events.at(-1)).toEqual({ type: 'Normal', reason: 'Killing', message: 'Stopping container app' });
  });

  it('re-adopts a sandbox that survived an agent restart instead of starting another', async () => {
    const driver = new FakeDriver({ capabilities: { survivesAgentRestart: true } });
    const first = harness(pod({}), driver);
    void first.worker.start();
    await until('running', () => first.cs()?.state.running);
    const id = driver.latest('app')!;
    await first.worker.shutdown();
    expect(driver.stopped).toEqual([]);
    driver.restarted();
    // The next agent sees the pod as last reported (running, restartCount 0).
    const p = pod({});
    p.status = first.last();
    const second = harness(p, driver);
    void second.worker.start();
    await until('re-adopted and running', () => second.cs()?.state.running);
    expect(driver.recovered).toEqual([id]);
    expect(driver.started).toHaveLength(1);
    expect(second.cs().restartCount).toBe(0);
    // The adopted sandbox is supervised as usual: its exit restarts it.
    driver.exit(id, 1);
    await until('restarted', () => second.cs()?.restartCount === 1 && second.cs()?.state.running);
    expect(driver.started).toHaveLength(2);
    await second.worker.stop(0);
  });

  it('a non-surviving tier is stopped on agent shutdown and counts a restart next time', async () => {
    const h = harness(pod({}));
    void h.worker.start();
    await until('running', () => h.cs()?.state.running);
    await h.worker.shutdown();
    expect(h.driver.stopped).toHaveLength(1);
    const p = pod({});
    p.status = h.last();
    const next = harness(p, h.driver);
    void next.worker.start();
    await until('running again', () => next.cs()?.state.running);
    expect(next.cs().restartCount).toBe(1);
    await next.worker.stop(0);
  });
});

describe('PodWorker asks the tier, through its capabilities', () => {
  it('without optional parts: the image reference as written, argv from command/args, no options', async () => {
    const h = harness(pod({ image: `mod.wasm@sha256:${'b'.repeat(64)}`, args: ['x'] }));
    void h.worker.start();
    await until('running', () => h.cs()?.state.running);
    expect(h.driver.started[0]).toMatchObject({
      image: 'mod.wasm',
      imageDigest: `sha256:${'b'.repeat(64)}`,
      args: ['app', 'x'],
    });
    expect(h.driver.started[0].options).toBeUndefined();
    expect(h.driver.prepared).toEqual([]);
    expect(h.last().podIP).toBeUndefined();
    await h.worker.stop(0);
  });

  it('artifacts and tier options: the tier makes image, argv, imageID and options, and releases them', async () => {
    const driver = new FakeDriver({ capabilities: { artifacts: true, tierOptions: true } });
    const h = harness(pod({ image: 'registry.example/app:1', args: ['--flag'] }), driver);
    void h.worker.start();
    await until('running', () => h.cs()?.state.running);
    const id = driver.latest('app')!;
    expect(driver.prepared).toEqual([expect.objectContaining({ sandboxId: id })]);
    expect(driver.started[0]).toMatchObject({
      image: 'fake://registry.example/app:1',
      args: ['registry.example/app:1-entrypoint', '--flag'],
      options: { fromImage: 'registry.example/app:1', fromPod: 'app' },
    });
    expect(driver.started[0].imageDigest).toBeUndefined();
    expect(h.cs().imageID).toBe('fake-id:registry.example/app:1');
    // The run ends: what was prepared for it is released.
    driver.exit(id, 0);
    await until('released', () => driver.releasedArtifacts.includes(id));
    await h.worker.stop(0);
  });

  it('a re-adopted sandbox lost its release(): the tier releases its artifact by sandbox id', async () => {
    const caps = { artifacts: true, survivesAgentRestart: true };
    const driver = new FakeDriver({ capabilities: caps });
    const first = harness(pod({}), driver);
    void first.worker.start();
    await until('running', () => first.cs()?.state.running);
    const id = driver.latest('app')!;
    await first.worker.shutdown();
    driver.restarted();
    const p = pod({});
    p.status = first.last();
    const second = harness(p, driver);
    void second.worker.start();
    await until('re-adopted', () => second.cs()?.state.running);
    expect(driver.releasedArtifacts).toEqual([]);
    driver.exit(id, 0);
    await until('released', () => driver.releasedArtifacts.includes(id));
    await second.worker.stop(0);
  });

  it('pod network: the pod IP comes back from start(), hostPorts are published once, probes go to the pod', async () => {
    const driver = new FakeDriver({ capabilities: { podNetwork: true } });
    const containers = [
      {
        name: 'app',
        image: '/app.wasm',
        ports: [{ containerPort: 80, hostPort: 18080 }, { containerPort: 81 }],
        readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1, timeoutSeconds: 1 },
      },
      {
        name: 'side',
        image: '/side.wasm',
        ports: [{ containerPort: 90, hostPort: 19090, hostIP: '127.0.0.1' }],
      },
    ];
    const h = harness(pod({}, { containers }), driver);
    driver.podIP = '192.0.2.10'; // TEST-NET-1: nothing answers there
    void h.worker.start();
    await until('pod IP reported', () => h.last()?.podIP === '192.0.2.10');
    await until('both running', () => h.last()?.containerStatuses.every((c: any) => c.state.running));
    expect(driver.published).toEqual([
      {
        podUid: 'uid-1',
        ports: [
          { containerPort: 80, hostPort: 18080 },
          { containerPort: 90, hostPort: 19090, hostIP: '127.0.0.1' },
        ],
      },
    ]);
    await until('probe failed', () => h.events.find((e) => e.reason === 'Unhealthy'));
    expect(h.events.find((e) => e.reason === 'Unhealthy')!.message).toMatch(/192\.0\.2\.10:80/);
    // A restart does not publish again.
    driver.exit(driver.latest('side')!, 1);
    await until(
      'side restarted',
      () => h.last()?.containerStatuses.find((c: any) => c.name === 'side').restartCount === 1,
    );
    expect(driver.published).toHaveLength(1);
    await h.worker.stop(0);
  });
});
