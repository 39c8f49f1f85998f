// Wasm density: how many idle (sleeping) wasm sandboxes one agent process holds, at what memory per
// instance and start latency — guests sharing worker threads (JSPI, the wasm tier's design) beside a
// thread per guest (the earlier design, `guestsPerWorker: 1`), measured in the same run. Each scenario
// runs in a fresh child process, so that RSS is its own.
//
//   npm run bench -- wasm-density [SHARED_COUNTS] [THREAD_COUNTS] [NO_TRAP_COUNTS]
//                                  (defaults: 1000,10000 and 128 and none; 0 skips a list)
//
// NO_TRAP_COUNTS run the shared design in a process with --disable-wasm-trap-handler: linear memories
// without V8's guard regions (explicit bounds checks), the way past ~12,900 instances per process
// (capacity.ts): the next ceiling is vm.max_map_count.
//
// Per scenario: N copies of build/wasm/fixtures/sleeper.wasm (prints a line, sleeps an hour in
// poll_oneoff) are started through WasmDriver.start() with 64 starts in flight; start latency is
// start() → the guest is running. Then 20 tickers (a line every second) join them: their ticks show
// that the node still answers on time with all N asleep. Finally every sleeper is stopped: a guest
// that ends "Killed, 143" was woken from its sleep and unwound at its host call, i.e. was alive.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogSink, SandboxSpec } from '../src/sandbox/driver.ts';
import { WasmDriver } from '../src/sandbox/wasm/driver.ts';
import { fmt, summarize } from './lib/stats.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sleeperWasm = join(root, 'build/wasm/fixtures/sleeper.wasm');
const tickerWasm = join(root, 'build/wasm/ticker.wasm');
const helloWasm = join(root, 'build/wasm/hello.wasm');
const IN_FLIGHT = 64;
const TICKERS = 20;
const TICK_WINDOW_MS = 5000;

type Mode = 'shared' | 'thread' | 'shared-notrap';

interface Result {
  mode: Mode;
  asked: number;
  live: number;
  firstError?: string;
  threads: number;
  rssBeforeMiB: number;
  rssPerInstanceKiB: number;
  startP50: number;
  startP99: number;
  startAllSeconds: number;
  ticksMin: number;
  ticksExpected: number;
  stoppedClean: number;
  stopAllSeconds: number;
}

const discard: LogSink = { write: () => undefined };

function sandbox(id: string, image: string, args: string[], log: LogSink = discard): SandboxSpec {
  return {
    id,
    podUid: id,
    podName: id,
    namespace: 'bench',
    containerName: 'main',
    image,
    args,
    env: {},
    mounts: [],
    limits: {},
    log,
  };
}

async function scenario(mode: Mode, n: number): Promise<Result> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'strata-bench-density-'));
  const driver =
    mode !== 'thread'
      ? new WasmDriver({ cacheDir, maxSandboxes: n + TICKERS + 1 })
      : new WasmDriver({
          cacheDir,
          guestsPerWorker: 1,
          maxWorkers: n + TICKERS + 2,
          maxSandboxes: n + TICKERS + 1,
        });
  try {
    // Warm: the first worker, the compiled module, the JIT.
    const warm = sandbox('warm', helloWasm, ['hello']);
    await driver.start(warm);
    await driver.wait(warm.id);
    await driver.destroy(warm.id);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const rssBefore = process.memoryUsage.rss();

    const latencies: number[] = [];
    let next = 0;
    let firstError: string | undefined;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < n && firstError === undefined) {
          const i = next++;
          const s = sandbox(`sleeper-${i}`, sleeperWasm, ['sleeper', '3600']);
          const a = performance.now();
          try {
            await driver.start(s);
            latencies.push(performance.now() - a);
          } catch (err) {
            firstError ??= `#${i}: ${(err as Error).message}`;
          }
        }
      }),
    );
    const startAllSeconds = (performance.now() - t0) / 1000;
    const live = latencies.length;
    await new Promise((r) => setTimeout(r, 1000));
    gc?.();
    const rssAfter = process.memoryUsage.rss();
    const threads = driver.threads;

    // With all of them asleep, tickers still tick on time.
    const ticks = new Map<string, number>();
    const tickers = Array.from({ length: TICKERS }, (_, i) =>
      sandbox(`ticker-${i}`, tickerWasm, ['ticker'], {
        write: (_s, chunk) => {
          const lines = Buffer.from(chunk).toString().split('\n').length - 1;
          ticks.set(`ticker-${i}`, (ticks.get(`ticker-${i}`) ?? 0) + lines);
        },
      }),
    );
    let ticksMin = 0;
    try {
      for (const t of tickers) await driver.start(t);
      await new Promise((r) => setTimeout(r, TICK_WINDOW_MS));
      ticksMin = Math.min(...tickers.map((t) => ticks.get(t.id) ?? 0));
      for (const t of tickers) await driver.stop(t.id, 5);
    } catch (err) {
      firstError ??= `ticker: ${(err as Error).message}`;
    }

    const t1 = performance.now();
    const ends = await Promise.all(
      Array.from({ length: live }, async (_, i) => {
        await driver.stop(`sleeper-${i}`, 5);
        return driver.wait(`sleeper-${i}`);
      }),
    );
    const stopAllSeconds = (performance.now() - t1) / 1000;
    const s = summarize(latencies);
    return {
      mode,
      asked: n,
      live,
      firstError,
      threads,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssPerInstanceKiB: (rssAfter - rssBefore) / Math.max(1, live) / 1024,
      startP50: s.p50,
      startP99: s.p99,
      startAllSeconds,
      ticksMin,
      ticksExpected: Math.floor(TICK_WINDOW_MS / 1000),
      stoppedClean: ends.filter((e) => e.reason === 'Killed' && e.exitCode === 143).length,
      stopAllSeconds,
    };
  } finally {
    await driver.shutdown();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Runs one scenario in a fresh process (its RSS is then its own). */
function inChild(mode: Mode, n: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', mode, String(n)], {
      execArgv: [
        '--expose-gc',
        '--disable-warning=ExperimentalWarning',
        ...(mode === 'shared-notrap' ? ['--disable-wasm-trap-handler'] : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m) => resolve(m as Result));
    child.on('exit', (code) => reject(new Error(`${mode} ${n}: child exited with ${code}`)));
  });
}

if (process.argv[2] === '--child') {
  const r = await scenario(process.argv[3] as Mode, Number(process.argv[4]));
  process.send!(r, () => process.exit(0));
} else {
  const counts = (arg: string | undefined, dflt: string) =>
    (arg ?? dflt)
      .split(',')
      .map(Number)
      .filter((n) => n > 0);
  const sharedCounts = counts(process.argv[2], '1000,10000');
  const threadCounts = counts(process.argv[3], '128');
  const noTrapCounts = counts(process.argv[4], '');
  const results: Result[] = [];
  for (const n of threadCounts) results.push(await inChild('thread', n));
  for (const n of sharedCounts) results.push(await inChild('shared', n));
  for (const n of noTrapCounts) results.push(await inChild('shared-notrap', n));
  console.log('\n### Wasm density: idle (sleeping) sandboxes in one agent process\n');
  console.log(
    '| design | asked | live | threads | RSS / instance | start p50 | start p99 | all started in | starts/s | tickers: ticks in 5 s (min) | stopped cleanly | all stopped in |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const design = {
      shared: 'shared threads (JSPI)',
      'shared-notrap': 'shared threads (JSPI), no trap handler',
      thread: 'thread per guest',
    }[r.mode];
    console.log(
      `| ${design} | ${r.asked} | ${r.live} | ${r.threads} | ${r.rssPerInstanceKiB.toFixed(1)} KiB | ${fmt(r.startP50)} | ${fmt(r.startP99)} | ` +
        `${r.startAllSeconds.toFixed(2)} s | ${Math.round(r.live / r.startAllSeconds)} | ${r.ticksMin}/${r.ticksExpected} | ` +
        `${r.stoppedClean}/${r.live} | ${r.stopAllSeconds.toFixed(2)} s |`,
    );
    if (r.firstError) console.log(`\n${design} ${r.asked}: first failure ${r.firstError}`);
  }
}
