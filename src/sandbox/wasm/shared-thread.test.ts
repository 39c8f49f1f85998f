// Many guests on one worker thread: sleepers wake, a spinner is time-sliced and throttled, and
// stopping, killing, trapping or running out of memory ends one guest only.
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExitResult } from '../driver.ts';
import { WasmDriver } from './driver.ts';
import {
  buildFixtures,
  example,
  eventually,
  fixture,
  sleep,
  spec,
  tempDir,
  type CapturedLog,
} from './test-support.ts';

let tmp: ReturnType<typeof tempDir>;
/** One thread for every guest: whatever runs here shares it. */
let driver: WasmDriver;

beforeAll(async () => {
  buildFixtures();
  tmp = tempDir();
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache'), maxWorkers: 1 });
  // Start the thread first, so that the figures below are about guests, not about booting a worker.
  const warm = spec(example('hello'));
  await driver.start(warm);
  await driver.wait(warm.id);
  await driver.destroy(warm.id);
});
afterAll(async () => {
  await driver.shutdown();
  tmp.remove();
});

async function startAll(image: string, n: number, over: Parameters<typeof spec>[1] = {}) {
  const specs = Array.from({ length: n }, () => spec(image, over));
  await Promise.all(specs.map((s) => driver.start(s)));
  return specs;
}

const stdout = (s: { log: unknown }): string => (s.log as CapturedLog).stdout();

describe('guests sharing one worker thread', () => {
  it('200 sleeping guests share the thread and all wake, none early', async () => {
    const t0 = Date.now();
    const sleepers = await startAll(fixture('sleeper'), 200, { args: ['sleeper', '1'] });
    expect(driver.threads).toBe(1);
    const results = await Promise.all(sleepers.map((s) => driver.wait(s.id)));
    const wall = Date.now() - t0;
    for (const [i, r] of results.entries()) {
      expect(r.reason).toBe('Completed');
      expect(stdout(sleepers[i])).toBe('sleeping 1 s\nwoke up\n');
      expect(r.finishedAt.getTime() - r.startedAt.getTime()).toBeGreaterThanOrEqual(1000);
    }
    const late = results
      .map((r) => r.finishedAt.getTime() - r.startedAt.getTime() - 1000)
      .sort((a, b) => a - b);
    console.log(
      `200 sleepers on one thread: wake lateness p50 ${late[100]} ms, max ${late[199]} ms; all done in ${wall} ms`,
    );
    // One after another they would take 200 s.
    expect(wall).toBeLessThan(100_000);
    await Promise.all(sleepers.map((s) => driver.destroy(s.id)));
  });

  it('a spinning guest does not starve a ticker on the same thread, and its stop kills it alone', async () => {
    const [ticker] = await startAll(example('ticker'), 1);
    const [spinner] = await startAll(fixture('spinner'), 1);
    const sleepers = await startAll(fixture('sleeper'), 5, { args: ['sleeper', '3600'] });
    await eventually(() => stdout(spinner).includes('spinning'));
    expect(driver.threads).toBe(1);
    // Ticks keep coming while the spinner computes on the same thread.
    const ticksBefore = stdout(ticker).split('\n').length;
    await sleep(3500);
    const ticks = stdout(ticker).split('\n').length - ticksBefore;
    expect(ticks).toBeGreaterThanOrEqual(3);
    // It had its share of the thread too, a slice at a time.
    expect((await driver.stats(spinner.id)).cpuNanos).toBeGreaterThan(0);

    await driver.stop(spinner.id, 0.2);
    expect(await driver.wait(spinner.id)).toMatchObject({
      reason: 'Killed',
      exitCode: 137,
      signal: 'SIGKILL',
    });
    // Killed at a preemption point, without terminating the thread its neighbours run on.
    expect(driver.terminatedWorkers).toBe(0);
    await driver.stop(sleepers[0].id, 1);
    expect(await driver.wait(sleepers[0].id)).toMatchObject({ reason: 'Killed', exitCode: 143 });

    const ticked = stdout(ticker).split('\n').length;
    await eventually(() => stdout(ticker).split('\n').length > ticked + 1, 5000);
    for (const s of sleepers.slice(1)) expect((await driver.stats(s.id)).memoryBytes).toBeGreaterThan(0);
    for (const s of [ticker, ...sleepers.slice(1)]) await driver.stop(s.id, 1);
    for (const s of [ticker, spinner, ...sleepers]) await driver.destroy(s.id);
  });

  it('limits.cpu holds for a guest that computes without calling the host', async () => {
    const [limited] = await startAll(fixture('spinner'), 1, { limits: { cpu: 0.25 } });
    const [free] = await startAll(fixture('spinner'), 1);
    await eventually(() => stdout(limited).includes('spinning') && stdout(free).includes('spinning'));
    const cpu = async () => [
      (await driver.stats(limited.id)).cpuNanos,
      (await driver.stats(free.id)).cpuNanos,
    ];
    const [l0, f0] = await cpu();
    const t0 = performance.now();
    await sleep(1500);
    const [l1, f1] = await cpu();
    const wallNs = (performance.now() - t0) * 1e6;
    for (const s of [limited, free]) {
      await driver.stop(s.id, 0);
      await driver.destroy(s.id);
    }
    console.log(
      `cpu 0.25 spinner: ${((l1 - l0) / wallNs).toFixed(2)} of a core; unlimited neighbour ${((f1 - f0) / wallNs).toFixed(2)}`,
    );
    // At most its limit (with the burst); unthrottled it would share the thread half and half.
    expect((l1 - l0) / wallNs).toBeLessThan(0.35);
    expect(l1 - l0).toBeGreaterThan(0);
    expect(f1 - f0).toBeGreaterThan(0);
  });

  it('guests reading stdin, trapping or running out of memory end alone; their neighbours carry on', async () => {
    const sleepers = await startAll(fixture('sleeper'), 10, { args: ['sleeper', '3600'] });
    const inputs = Array.from({ length: 50 }, (_, i) => `guest ${i}\n`.repeat(500 + i));
    const echoes = inputs.map((input) =>
      spec(fixture('echo-stdin'), { stdin: new TextEncoder().encode(input) }),
    );
    const trap = spec(fixture('trap'));
    const hog = spec(fixture('memory-hog'), { limits: { memoryBytes: 16 * 1024 * 1024 } });
    await Promise.all([...echoes, trap, hog].map((s) => driver.start(s)));
    const ends = new Map<string, ExitResult>();
    for (const s of [...echoes, trap, hog]) ends.set(s.id, await driver.wait(s.id));
    for (const [i, s] of echoes.entries()) {
      expect(ends.get(s.id)!.reason).toBe('Completed');
      expect(stdout(s)).toBe(inputs[i]);
    }
    expect(ends.get(trap.id)).toMatchObject({
      reason: 'Error',
      exitCode: 134,
      message: 'wasm trap: unreachable',
    });
    expect(ends.get(hog.id)).toMatchObject({ reason: 'OOMKilled' });
    expect(driver.threads).toBe(1);
    expect(driver.liveSandboxes).toBe(10);
    for (const s of sleepers) {
      await driver.stop(s.id, 1);
      expect((await driver.wait(s.id)).reason).toBe('Killed');
    }
  });

  it(
    '1,000 guests using files through node:wasi on one thread all complete',
    { timeout: 120_000 },
    async () => {
      // node:wasi reports its allocations to V8; from a guest's JSPI stack, a report that triggers a GC
      // (likely with a thousand linear memories alive) aborted the whole process. It runs on the main stack.
      const dir = join(tmp.path, 'files');
      mkdirSync(dir);
      // One thread holding all 1,000 (the default stops at 500 guests per thread).
      const driver = new WasmDriver({
        cacheDir: join(tmp.path, 'cache-1000'),
        maxWorkers: 1,
        guestsPerWorker: 1000,
      });
      const mounts = [{ hostPath: dir, guestPath: '/data', readOnly: false }];
      const guests = Array.from({ length: 1000 }, (_, i) =>
        spec(fixture('fs-tool'), {
          args: [
            'fs-tool',
            'write',
            `/data/f${i}`,
            `text ${i}`,
            ',',
            'sleep',
            '1',
            ',',
            'cat',
            `/data/f${i}`,
          ],
          mounts,
        }),
      );
      for (let i = 0; i < guests.length; i += 100)
        await Promise.all(guests.slice(i, i + 100).map((g) => driver.start(g)));
      expect(driver.threads).toBe(1);
      for (const [i, g] of guests.entries()) {
        expect((await driver.wait(g.id)).reason).toBe('Completed');
        expect(stdout(g)).toContain(`CONTENT /data/f${i}: text ${i}`);
        await driver.destroy(g.id);
      }
      await driver.shutdown();
    },
  );

  it('a module the preemption rewriter refuses runs on a thread of its own and is still killed', async () => {
    const own = new WasmDriver({ cacheDir: join(tmp.path, 'cache-own'), maxWorkers: 2 });
    // (type (struct)) makes it a GC-proposal module; _start spins: (loop (br 0)).
    const gcSpinner = join(tmp.path, 'gc-spinner.wasm');
    writeFileSync(
      gcSpinner,
      Uint8Array.of(
        ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
        ...[0x01, 0x06, 0x02, 0x5f, 0x00, 0x60, 0x00, 0x00], // types: struct {}, func
        ...[0x03, 0x02, 0x01, 0x01], // one function of type 1
        ...[0x05, 0x03, 0x01, 0x00, 0x01], // memory 1
        ...[
          0x07,
          0x13,
          0x02,
          0x06,
          ...Buffer.from('memory'),
          0x02,
          0x00,
          0x06,
          ...Buffer.from('_start'),
          0x00,
          0x00,
        ],
        ...[0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b], // loop br 0 end
      ),
    );
    try {
      const sleeper = spec(fixture('sleeper'), { args: ['sleeper', '3600'] });
      expect((await own.start(sleeper)).state).toMatchObject({ thread: 'shared' });
      const s = spec(gcSpinner);
      expect((await own.start(s)).state).toMatchObject({ thread: 'own' });
      expect(own.threads).toBe(2);
      await sleep(200);
      await own.stop(s.id, 0);
      expect(await own.wait(s.id)).toMatchObject({ reason: 'Killed', exitCode: 137 });
      expect(own.terminatedWorkers).toBe(0);
      // Interrupted in place through the inspector (which works on a JSPI stack too): no thread ended.
      const hello = spec(example('hello'));
      await own.start(hello);
      expect((await own.wait(hello.id)).reason).toBe('Completed');
      expect((await own.stats(sleeper.id)).memoryBytes).toBeGreaterThan(0);
      await own.stop(sleeper.id, 1);
      expect((await own.wait(sleeper.id)).reason).toBe('Killed');
    } finally {
      await own.shutdown();
    }
  });
});
