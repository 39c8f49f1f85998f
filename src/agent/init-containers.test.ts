// Init containers, native sidecars and lifecycle hooks in the pod worker (fake driver: each sandbox runs
// until the test makes it exit or the worker stops it), and the status the kubelet would report.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor, validateStatus } from '../api/index.ts';
import { podStatus } from '../api/columns.ts';
import { FakeDriver } from './testing/fake-driver.ts';
import { PodWorker } from './pod-worker.ts';

const TIER = 'fake-tier';
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'init-containers-'));
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

function harness(spec: Record<string, unknown>, driver = new FakeDriver(), status?: any) {
  const statuses: any[] = [];
  const events: Array<{ type: string; reason: string; message: string }> = [];
  const client: any = {
    patch: async (_k: unknown, _ns: string, _n: string, body: any) => {
      const causes = validateStatus(kindFor('v1', 'Pod')!, body.status);
      if (causes.length) throw new Error(`invalid status: ${JSON.stringify(causes)}`);
      statuses.push(body.status);
      return {};
    },
    find: async () => undefined,
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'uid-init' },
    spec: {
      runtimeClassName: TIER,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image: '/app.wasm' }],
      ...spec,
    },
    // What the API last had: a restarted agent starts from it.
    ...(status ? { status } : {}),
  };
  const worker = new PodWorker(pod, {
    client,
    drivers: new Map([[TIER, driver]]),
    podsDir: dir,
    backoffInitialMs: 30,
    events: { event: (_o, type, reason, message) => events.push({ type, reason, message }) },
    log: { info: () => {}, warn: () => {} },
  });
  const last = () => statuses.at(-1);
  const of = (name: string) =>
    [...(last()?.initContainerStatuses ?? []), ...(last()?.containerStatuses ?? [])].find(
      (c: any) => c.name === name,
    );
  // What kubectl's STATUS column shows for the last reported status.
  const column = () => podStatus({ ...pod, metadata: { ...pod.metadata }, status: last() } as any);
  return { worker, driver, statuses, events, last, of, column };
}

const started = (d: FakeDriver) => d.started.map((s) => s.containerName);

describe('init containers', () => {
  it('run in order, each to completion, before the app containers; Init:N/M meanwhile', async () => {
    const h = harness({
      initContainers: [
        { name: 'first', image: '/a.wasm' },
        { name: 'second', image: '/b.wasm' },
      ],
    });
    void h.worker.start();
    await until('first running', () => h.of('first')?.state.running);
    expect(started(h.driver)).toEqual(['first']);
    expect(h.last().phase).toBe('Pending');
    expect(h.column()).toBe('Init:0/2');
    expect(h.last().conditions.find((c: any) => c.type === 'Initialized')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotInitialized',
    });
    expect(h.of('app').state.waiting.reason).toBe('PodInitializing');
    h.driver.exit(h.driver.latest('first')!, 0);
    await until('second running', () => h.of('second')?.state.running);
    expect(h.column()).toBe('Init:1/2');
    expect(started(h.driver)).toEqual(['first', 'second']);
    h.driver.exit(h.driver.latest('second')!, 0);
    await until('app running', () => h.of('app')?.state.running);
    expect(started(h.driver)).toEqual(['first', 'second', 'app']);
    expect(h.last().phase).toBe('Running');
    expect(h.last().conditions.find((c: any) => c.type === 'Initialized').status).toBe('True');
    expect(h.of('first')).toMatchObject({ ready: true, state: { terminated: { exitCode: 0 } } });
    await h.worker.stop(0);
  });

  it('a failing init container with restartPolicy Never fails the pod: Init:Error, the app never runs', async () => {
    const h = harness({ restartPolicy: 'Never', initContainers: [{ name: 'check', image: '/c.wasm' }] });
    const done = h.worker.start();
    await until('check running', () => h.of('check')?.state.running);
    h.driver.exit(h.driver.latest('check')!, 1);
    await done;
    expect(h.last().phase).toBe('Failed');
    expect(h.column()).toBe('Init:Error');
    expect(started(h.driver)).toEqual(['check']);
    expect(h.of('app').state.waiting.reason).toBe('PodInitializing');
  });

  it('a failing init container is restarted with back-off otherwise: Init:CrashLoopBackOff', async () => {
    const h = harness({ initContainers: [{ name: 'check', image: '/c.wasm' }] });
    void h.worker.start();
    await until('check running', () => h.of('check')?.state.running);
    h.driver.exit(h.driver.latest('check')!, 1);
    await until('back-off', () => h.of('check')?.state.waiting?.reason === 'CrashLoopBackOff');
    expect(h.column()).toBe('Init:CrashLoopBackOff');
    expect(h.last().phase).toBe('Pending');
    await until('check restarted', () => h.of('check')?.restartCount === 1 && h.of('check')?.state.running);
    h.driver.exit(h.driver.latest('check')!, 0);
    await until('app running', () => h.of('app')?.state.running);
    await h.worker.stop(0);
  });
});

describe('native sidecars (initContainers[].restartPolicy: Always)', () => {
  it('start in order, keep running beside the app, restart when they exit, and stop after the app', async () => {
    const h = harness({
      restartPolicy: 'Never',
      initContainers: [
        { name: 'logshipper', image: '/l.wasm', restartPolicy: 'Always' },
        { name: 'migrate', image: '/m.wasm' },
      ],
    });
    const done = h.worker.start();
    await until('migrate running', () => h.of('migrate')?.state.running);
    expect(started(h.driver)).toEqual(['logshipper', 'migrate']);
    h.driver.exit(h.driver.latest('migrate')!, 0);
    await until('app running', () => h.of('app')?.state.running);
    expect(h.of('logshipper').state.running).toBeDefined();
    // A sidecar is restarted whatever the pod's restartPolicy.
    h.driver.exit(h.driver.latest('logshipper')!, 1);
    await until(
      'sidecar restarted',
      () => h.of('logshipper')?.restartCount === 1 && h.of('logshipper').state.running,
    );
    // The app ends: the sidecar is stopped (its exit does not fail the pod), then the pod completes.
    h.driver.exit(h.driver.latest('app')!, 0);
    await until('app terminated', () => h.of('app')?.state.terminated);
    expect(
      h.statuses
        .filter((s) => s.phase === 'Succeeded')
        .every((s) => s.initContainerStatuses[0].state.terminated),
    ).toBe(true);
    await done;
    expect(h.driver.stopped).toContain(h.driver.latest('logshipper'));
    expect(h.of('logshipper').state.terminated).toBeDefined();
    expect(h.last().phase).toBe('Succeeded');
  });
});

describe('lifecycle hooks', () => {
  it('preStop runs before the stop signal and within the grace period', async () => {
    const h = harness({
      containers: [{ name: 'app', image: '/app.wasm', lifecycle: { preStop: { sleep: { seconds: 1 } } } }],
    });
    void h.worker.start();
    await until('running', () => h.of('app')?.state.running);
    const t0 = Date.now();
    await h.worker.stop(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(Date.now() - t0).toBeLessThan(2500);
    const sleepy = harness({
      containers: [{ name: 'app', image: '/app.wasm', lifecycle: { preStop: { sleep: { seconds: 30 } } } }],
    });
    void sleepy.worker.start();
    await until('running', () => sleepy.of('app')?.state.running);
    const t1 = Date.now();
    await sleepy.worker.stop(1);
    expect(Date.now() - t1).toBeLessThan(2500); // the grace period bounds the hook
  });

  it('a failing postStart hook kills the container: FailedPostStartHook, the hook message in terminated', async () => {
    const driver = new FakeDriver({ capabilities: { exec: true } });
    driver.execResult = {
      exitCode: 2,
      stdout: new TextEncoder().encode('no config'),
      stderr: new Uint8Array(),
    };
    const h = harness(
      {
        restartPolicy: 'Never',
        containers: [
          { name: 'app', image: '/app.wasm', lifecycle: { postStart: { exec: { command: ['setup'] } } } },
        ],
      },
      driver,
    );
    await h.worker.start();
    expect(h.events.map((e) => e.reason)).toContain('FailedPostStartHook');
    expect(h.of('app').state.terminated.message).toContain('PostStartHookError');
    expect(h.last().phase).toBe('Failed');
  });
});

describe('readinessGates', () => {
  it('the pod is Ready only once each gate condition is True; the gate conditions are kept', async () => {
    const h = harness({ readinessGates: [{ conditionType: 'example.com/lb-ready' }] });
    void h.worker.start();
    await until('running', () => h.of('app')?.state.running && h.of('app').ready);
    await until('reported', () => h.last().conditions.find((c: any) => c.type === 'Ready'));
    expect(h.last().conditions.find((c: any) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
    });
    // The owner of the gate sets its condition; the next report makes the pod Ready.
    h.worker.pod.status = {
      conditions: [
        { type: 'example.com/lb-ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
    };
    h.worker.pod.spec.containers[0].image = '/app.wasm';
    h.driver.exit(h.driver.latest('app')!, 1);
    await until('Ready', () => h.last().conditions.find((c: any) => c.type === 'Ready')?.status === 'True');
    expect(h.last().conditions.find((c: any) => c.type === 'example.com/lb-ready').status).toBe('True');
    await h.worker.stop(0);
  });
});

describe('init containers across an agent restart', () => {
  it('completed init containers do not run again; a surviving sidecar and app are re-adopted', async () => {
    const driver = new FakeDriver({ capabilities: { survivesAgentRestart: true } });
    const spec = {
      initContainers: [
        { name: 'setup', image: '/s.wasm' },
        { name: 'proxy', image: '/p.wasm', restartPolicy: 'Always' },
      ],
    };
    const first = harness(spec, driver);
    void first.worker.start();
    await until('setup running', () => first.of('setup')?.state.running);
    driver.exit(driver.latest('setup')!, 0);
    await until('app running', () => first.of('app')?.state.running);
    await first.worker.shutdown();
    driver.restarted();
    const second = harness(spec, driver, first.last());
    void second.worker.start();
    await until('app re-adopted', () => second.of('app')?.state.running);
    expect(driver.started.map((s) => s.containerName)).toEqual(['setup', 'proxy', 'app']);
    expect(driver.recovered).toHaveLength(2);
    expect(second.of('setup').state.terminated.exitCode).toBe(0);
    expect(second.of('proxy').state.running).toBeDefined();
    expect(second.last().conditions.find((c: any) => c.type === 'Initialized').status).toBe('True');
    await second.worker.stop(0);
  });
});
