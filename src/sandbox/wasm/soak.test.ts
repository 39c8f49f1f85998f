// 20,000 sequential sandboxes in one process. Node 20 crashed (SIGSEGV) after 500–8,500 wasi.start()
// calls in one process (nodejs/node#52402); the driver must hold, without leaking descriptors or
// memory, at warm-pool speed.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WasmDriver } from './driver.ts';
import { buildFixtures, example, openFdCount, spec, tempDir } from './test-support.ts';

const RUNS = 20_000;
let tmp: ReturnType<typeof tempDir>;
let driver: WasmDriver;

beforeAll(() => {
  buildFixtures();
  tmp = tempDir();
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache') });
});
afterAll(async () => {
  await driver.shutdown();
  tmp.remove();
});

it(`runs ${RUNS} hello sandboxes one after another`, { timeout: 300_000 }, async () => {
  const image = example('hello');
  let bytes = 0;
  const log = { write: (_s: 'stdout' | 'stderr', c: Uint8Array) => void (bytes += c.length) };
  const one = async (i: number) => {
    const s = spec(image, { id: `soak-${i}`, args: ['hello', String(i)], log });
    await driver.start(s);
    const r = await driver.wait(s.id);
    await driver.destroy(s.id);
    if (r.reason !== 'Completed') throw new Error(`run ${i}: ${r.reason} ${r.message ?? ''}`);
  };
  for (let i = 0; i < 200; i++) await one(-i - 1); // warm up: compile, pool, JIT
  const fds = openFdCount();
  const rss = process.memoryUsage.rss();
  bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) await one(i);
  const seconds = (performance.now() - t0) / 1000;
  const growthMiB = (process.memoryUsage.rss() - rss) / 2 ** 20;
  console.log(
    `wasm soak: ${RUNS} start→wait→destroy in ${seconds.toFixed(1)} s = ${Math.round(RUNS / seconds)} sandboxes/s ` +
      `(${((seconds * 1000) / RUNS).toFixed(3)} ms each); compiles ${driver.cache.compiles}; ` +
      `rss ${growthMiB >= 0 ? '+' : ''}${growthMiB.toFixed(0)} MiB; fds ${openFdCount() - fds >= 0 ? '+' : ''}${openFdCount() - fds}`,
  );
  expect(bytes).toBeGreaterThan(RUNS * 60);
  expect(driver.cache.compiles).toBe(1);
  expect(openFdCount() - fds).toBeLessThan(10);
  expect(growthMiB).toBeLessThan(400);
});
