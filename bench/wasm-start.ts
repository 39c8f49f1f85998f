// Wasm pod start: API create → Running and → Succeeded through the whole request path (server, store,
// scheduler, agent watch, driver), beside the same module started by the driver alone and by raw
// node:wasi (instantiate + start), all measured in this run.
//
//   npm run bench -- wasm-start [N]
import { join } from 'node:path';
import { kindFor } from '../src/api/index.ts';
import { WasmDriver } from '../src/sandbox/wasm/driver.ts';
import { summarize, printTable, fmt } from './lib/stats.ts';
import { startBenchCluster } from './lib/cluster.ts';
import { rawWasiStart, driverStart } from './lib/wasm-start-raw.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 200);
const root = fileURLToPath(new URL('..', import.meta.url));
const module = join(root, 'build/wasm/hello.wasm');
const pods = kindFor('v1', 'Pod')!;

const raw = await rawWasiStart(module, N);
const cacheDir = mkdtempSync(join(tmpdir(), 'strata-bench-drv-'));
const driver = new WasmDriver({ cacheDir });
const viaDriver = await driverStart(driver, module, N);
await driver.shutdown();
rmSync(cacheDir, { recursive: true, force: true });

const cluster = await startBenchCluster({ agent: true });
const created = new Map<string, number>();
const running: number[] = [];
const succeeded: number[] = [];
const seenRunning = new Set<string>();
let done!: () => void;
const allDone = new Promise<void>((r) => (done = r));
const watch = await cluster.client.watch(pods, 'default', { resourceVersion: '0' }, (ev) => {
  const name = ev.object?.metadata?.name;
  const t0 = created.get(name);
  if (t0 === undefined) return;
  const phase = ev.object.status?.phase;
  const started = ev.object.status?.containerStatuses?.[0]?.state;
  if (
    !seenRunning.has(name) &&
    (phase === 'Running' || phase === 'Succeeded' || started?.running || started?.terminated)
  ) {
    seenRunning.add(name);
    running.push(performance.now() - t0);
  }
  if (phase === 'Succeeded') {
    succeeded.push(performance.now() - t0);
    created.delete(name);
    if (succeeded.length === N) done();
  }
});
for (let i = 0; i < N; i++) {
  const name = `bench-${i}`;
  created.set(name, performance.now());
  await cluster.client.create(pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { runtimeClassName: 'wasm', restartPolicy: 'Never', containers: [{ name: 'main', image: module }] },
  });
  // One at a time: a cold-start latency, not a throughput, measurement.
  while (created.has(name)) await new Promise((r) => setTimeout(r, 0.2));
}
await allDone;
watch.cancel();
await cluster.stop();

const r = summarize(raw);
const d = summarize(viaDriver);
const run = summarize(running);
const suc = summarize(succeeded);
printTable(`wasm pod start (hello.wasm, n=${N}, sequential)`, [
  { name: 'baseline: raw node:wasi instantiate+start (cached module)', s: r },
  { name: 'Strata driver start→exit (worker pool)', s: d, extra: `${(d.p50 / r.p50).toFixed(1)}× raw` },
  { name: 'Strata API create → Running', s: run },
  { name: 'Strata API create → Succeeded', s: suc, extra: `${(suc.p50 / r.p50).toFixed(0)}× raw` },
]);
console.log(`\nmedian overhead of the control-plane path over the driver: ${fmt(suc.p50 - d.p50)}`);
process.exit(0);
