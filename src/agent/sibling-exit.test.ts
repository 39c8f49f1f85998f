// Issue 8's bug: a container that exits while its sibling keeps running must be reported terminated at
// once, not when the last container of the pod ends. Run with the real wasm driver (hello exits 0, ticker
// runs until stopped), and with the fake driver for the restart and OnFailure paths.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kindFor, validateStatus } from '../api/index.ts';
import { WasmDriver } from '../sandbox/wasm/driver.ts';
import { buildFixtures, example, fixture } from '../sandbox/wasm/test-support.ts';
import { FakeDriver } from './testing/fake-driver.ts';
import { PodWorker } from './pod-worker.ts';
import type { Driver } from '../sandbox/driver.ts';

const TIER = 'tier-under-test';
let dir: string;
let wasm: WasmDriver;
beforeAll(() => {
  buildFixtures();
  wasm = new WasmDriver({ cacheDir: mkdtempSync(join(tmpdir(), 'sibling-cache-')) });
});
afterAll(async () => wasm.shutdown());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sibling-exit-'));
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

function worker(containers: any[], driver: Driver, restartPolicy = 'Never') {
  const statuses: any[] = [];
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
    metadata: { name: 'two', namespace: 'default', uid: `uid-${Math.random()}` },
    spec: { runtimeClassName: TIER, restartPolicy, terminationGracePeriodSeconds: 1, containers },
  };
  const w = new PodWorker(pod, {
    client,
    drivers: new Map([[TIER, driver]]),
    podsDir: dir,
    backoffInitialMs: 50,
    log: { info: () => {}, warn: () => {} },
  });
  const state = (name: string) =>
    statuses.at(-1)?.containerStatuses?.find((c: any) => c.name === name)?.state ?? {};
  return { w, statuses, state };
}

describe('a container that ends while its sibling runs', () => {
  it('is reported terminated at once (real wasm driver, restartPolicy Never)', async () => {
    const h = worker(
      [
        { name: 'ticker', image: example('ticker') },
        // Ends 1 s in: after both were reported running, so only its own exit can report it.
        { name: 'nap', image: fixture('sleeper'), args: ['1'] },
      ],
      wasm,
    );
    void h.w.start();
    await until('both running', () => h.state('nap').running && h.state('ticker').running);
    await until(
      'nap terminated while ticker runs',
      () => h.state('nap').terminated && h.state('ticker').running,
    );
    expect(h.state('nap').terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    // exec-like access to the ended container says so; the running one is still there.
    expect(h.w.sandboxOf('nap')).toBeUndefined();
    expect(h.w.sandboxOf('ticker')).toBeDefined();
    expect(h.statuses.at(-1).phase).toBe('Running');
    await h.w.stop(0);
    expect(h.state('ticker').terminated).toBeDefined();
  });

  it('each exit of a sibling is reported, on every restart policy path (fake driver)', async () => {
    const driver = new FakeDriver();
    const h = worker(
      [
        { name: 'main', image: '/main.wasm' },
        { name: 'job', image: '/job.wasm' },
      ],
      driver,
      'OnFailure',
    );
    void h.w.start();
    await until('both running', () => h.state('main').running && h.state('job').running);
    // A failure restarts it (reported through the back-off); a success ends it for good, reported at once.
    driver.exit(driver.latest('job')!, 3);
    await until(
      'job restarted',
      () => h.statuses.at(-1)?.containerStatuses[1].restartCount === 1 && h.state('job').running,
    );
    driver.exit(driver.latest('job')!, 0);
    await until('job completed', () => h.state('job').terminated?.reason === 'Completed');
    expect(h.state('main').running).toBeDefined();
    await h.w.stop(0);
  });
});
