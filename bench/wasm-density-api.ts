// Wasm density through the API: N long-running ticker pods (a Deployment, as a user would make it) on
// one node of `strata up --runtimes wasm` — the real CLI process: HTTPS API server, sqlite store,
// controllers, scheduler and agent — until all are Running, then every pod's last log line is read back
// through the API to show that each is still answering (its ticker writes a line a second).
//
//   npm run bench -- wasm-density-api [PODS=10000] [--cpu-prof DIR] [--ramp-limit SECONDS] [--read-limit SECONDS]
//
// Printed: pods/s to Running (and the ReplicaSet's creation and the scheduler's binding rates beside it,
// from one watch on the pods), the API's latency during the ramp (a GET and a PATCH every 500 ms on a
// client of their own), the process's RSS per pod, and the lag of each pod's last line behind the clock.
// `--read-limit SECONDS` bounds the read-back (pods not read are reported as unread).
// `--ramp-limit` stops waiting for Running after that long and reports what was reached.
// `--cpu-prof DIR` runs the process under V8's CPU profiler (profiles written to DIR at its exit;
// bench/lib/cpuprofile-summary.ts prints them by file and function).
//
// The driver alone (no API, no agent) is bench/wasm-density.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { kindFor } from '../src/api/index.ts';
import { Client } from '../src/client/client.ts';
import { readKubeconfig } from '../src/client/kubeconfig.ts';
import { Cluster, wasm } from '../test/e2e/harness.ts';
import { fmt, summarize } from './lib/stats.ts';

const argv = process.argv.slice(2);
const profDir = argv.includes('--cpu-prof') ? argv[argv.indexOf('--cpu-prof') + 1] : undefined;
/** How long the read-back of every pod's last line may take (pods not read by then are counted as unread). */
const readLimitS = argv.includes('--read-limit') ? Number(argv[argv.indexOf('--read-limit') + 1]) : Infinity;
const rampLimitS = argv.includes('--ramp-limit') ? Number(argv[argv.indexOf('--ramp-limit') + 1]) : Infinity;
const PODS = Number(
  argv.find((a, i) => /^\d+$/.test(a) && !['--ramp-limit', '--read-limit'].includes(argv[i - 1])) ?? 10_000,
);
/** A pod is answering when its last line is at most this far behind the clock (it writes one a second). */
const ANSWERING_LAG_MS = 5_000;
/** No pod reaching Running for this long ends the ramp as stuck. */
const STALL_MS = 180_000;

const podsKind = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;
const configMaps = kindFor('v1', 'ConfigMap')!;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function cpuSeconds(pid: number): number {
  // utime + stime, fields 14 and 15 of /proc/pid/stat (after the parenthesised comm).
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** When each pod was first seen, first bound to the node, first Running (ms since the Deployment's create). */
interface PodTimes {
  seen: number;
  bound?: number;
  running?: number;
}

/** Follows the pods through one watch (re-listing if the server ends it). */
async function trackPods(
  client: Client,
  t0: () => number,
  times: Map<string, PodTimes>,
): Promise<() => void> {
  let cancel = (): void => undefined;
  let stopped = false;
  const note = (p: any): void => {
    const name = p.metadata.name as string;
    const now = Date.now() - t0();
    let t = times.get(name);
    if (!t) times.set(name, (t = { seen: now }));
    if (p.spec?.nodeName && t.bound === undefined) t.bound = now;
    if (p.status?.phase === 'Running' && t.running === undefined) t.running = now;
  };
  const start = async (): Promise<void> => {
    const list = await client.list(podsKind, 'default', { labelSelector: 'app=density' });
    for (const p of list.items) note(p);
    const w = await client.watch(
      podsKind,
      'default',
      { labelSelector: 'app=density', resourceVersion: list.metadata.resourceVersion },
      (ev) => {
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') note(ev.object);
      },
      () => {
        if (!stopped) setTimeout(() => void start().catch(() => undefined), 1000);
      },
    );
    cancel = () => w.cancel();
  };
  await start();
  return () => {
    stopped = true;
    cancel();
  };
}

/** A GET and a PATCH every 500 ms, each timed: the API's latency as others see it during the ramp. */
function probeApi(
  client: Client,
  t0: () => number,
): { stop(): void; reads: number[]; writes: number[]; errors: string[]; slow: string[] } {
  const slow: string[] = [];
  const note = (what: string, startedAt: number, ms: number): void => {
    if (ms > 5_000)
      slow.push(
        `${what} sent at ${((startedAt - t0()) / 1000).toFixed(0)} s took ${(ms / 1000).toFixed(1)} s`,
      );
  };
  const reads: number[] = [];
  const writes: number[] = [];
  const errors: string[] = [];
  let n = 0;
  const timer = setInterval(() => {
    const a = performance.now();
    client.get(configMaps, 'default', 'density-probe').then(
      () => {
        reads.push(performance.now() - a);
        note('GET', Date.now() - (performance.now() - a), performance.now() - a);
      },
      (e) => errors.push(`GET: ${(e as Error).message}`),
    );
    const b = performance.now();
    client.patch(configMaps, 'default', 'density-probe', { data: { n: String(++n) } }).then(
      () => writes.push(performance.now() - b),
      (e) => errors.push(`PATCH: ${(e as Error).message}`),
    );
  }, 500);
  return { stop: () => clearInterval(timer), reads, writes, errors, slow };
}

/** How long one pod's log read may take: a starved server once left the read-back hanging for good. */
const READ_TIMEOUT_MS = 15_000;

/** `work(signal)`, abandoned after `ms` (the signal aborts the request; the race also ends a stuck body). */
async function withTimeout<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`no answer in ${ms / 1000} s`);
      ac.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([work(ac.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Each pod's last log line through the API (`kubectl logs --tail=1`), 32 at a time, with when it was
 * read; a read that takes longer than READ_TIMEOUT_MS is recorded as such and the next pod is read.
 */
async function lastLines(
  client: Client,
  names: string[],
  limitMs: number,
): Promise<Map<string, { line: string; at: number }>> {
  const out = new Map<string, { line: string; at: number }>();
  let next = 0;
  const started = Date.now();
  const until = started + limitMs;
  const progress = setInterval(() => {
    const failed = [...out.values()].filter((v) => v.line.startsWith('error: ')).length;
    console.log(
      `read-back ${((Date.now() - started) / 1000).toFixed(0)} s: ${out.size} of ${names.length} read, ${failed} errors or timeouts`,
    );
  }, 15_000);
  try {
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < names.length && Date.now() < until) {
          const name = names[next++];
          try {
            const line = await withTimeout(READ_TIMEOUT_MS, async (signal) => {
              const res = await client.request('GET', `/api/v1/namespaces/default/pods/${name}/log`, {
                query: { tailLines: '1' },
                signal,
              });
              return (await res.text()).trim();
            });
            out.set(name, { line, at: Date.now() });
          } catch (e) {
            out.set(name, { line: `error: ${(e as Error).message}`, at: Date.now() });
          }
        }
      }),
    );
  } finally {
    clearInterval(progress);
  }
  return out;
}

function rate(count: number, ms: number): string {
  return `${(count / (ms / 1000)).toFixed(1)}/s`;
}

wasm('ticker');
if (profDir) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${profDir}`;
const c = await new Cluster().up(['--runtimes', 'wasm']);
// Interrupted: the cluster (its process, directory and network slot) goes with the bench.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => void c.stop().finally(() => process.exit(130)));
delete process.env.NODE_OPTIONS;
const pid = c.procs[0].pid!;
try {
  const node = await c.client.get(kindFor('v1', 'Node')!, undefined, 'node-a');
  console.log(`node-a capacity: ${JSON.stringify(node.status.capacity)}`);
  await c.client.create(configMaps, { metadata: { name: 'density-probe' }, data: { n: '0' } }, 'default');
  // The probe has a client (and connection) of its own, as another user of the cluster would.
  const probeClient = new Client({
    server: c.server || readKubeconfig(c.kubeconfig).server,
    token: readFileSync(c.tokenFile, 'utf8').trim(),
    tls: { ca: readKubeconfig(c.kubeconfig).tls.ca },
  });
  const times = new Map<string, PodTimes>();
  let t0 = Date.now();
  const stopWatch = await trackPods(c.client, () => t0, times);
  const rssBefore = rssKiB(pid);
  const cpuBefore = cpuSeconds(pid);
  const probe = probeApi(probeClient, () => t0);
  t0 = Date.now();
  await c.client.create(
    deployments,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'density' },
      spec: {
        replicas: PODS,
        selector: { matchLabels: { app: 'density' } },
        template: {
          metadata: { labels: { app: 'density' } },
          spec: {
            runtimeClassName: 'wasm',
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'ticker', image: 'build/wasm/ticker.wasm' }],
          },
        },
      },
    },
    'default',
  );

  let best = 0;
  let progressAt = Date.now();
  let lastReport = 0;
  let stuck = false;
  for (;;) {
    const running = [...times.values()].filter((t) => t.running !== undefined).length;
    if (running > best) [best, progressAt] = [running, Date.now()];
    if (Date.now() - lastReport >= 15_000) {
      lastReport = Date.now();
      const bound = [...times.values()].filter((t) => t.bound !== undefined).length;
      console.log(
        `${((Date.now() - t0) / 1000).toFixed(0)} s: ${times.size} created, ${bound} bound, ${running} running; ` +
          `RSS ${(rssKiB(pid) / 1024).toFixed(0)} MiB; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
      );
    }
    if (running >= PODS) break;
    if (Date.now() - progressAt > STALL_MS || Date.now() - t0 > rampLimitS * 1000) {
      stuck = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  probe.stop();
  const rampMs = Date.now() - t0;
  const cpuRamp = cpuSeconds(pid) - cpuBefore;
  const all = [...times.values()];
  const lastOf = (k: keyof PodTimes): number => Math.max(...all.map((t) => t[k] ?? 0));
  const runningCount = all.filter((t) => t.running !== undefined).length;
  // Let the tickers run a few seconds with everyone up, then measure the process and every pod's line.
  await new Promise((r) => setTimeout(r, 10_000));
  const rssAfter = rssKiB(pid);
  const fdsAfter = readdirSync(`/proc/${pid}/fd`).length;
  const fdLimit = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];

  const names = [...times.keys()];
  const readStart = Date.now();
  const lines = await lastLines(c.client, names, readLimitS * 1000);
  const readMs = Date.now() - readStart;
  const lags: number[] = [];
  let answering = 0;
  const notAnswering: string[] = [];
  for (const [name, { line, at }] of lines) {
    // "tick N <ISO time>" — stamped by the guest from its WASI clock; compared with when it was read.
    const m = /^tick (\d+) (\S+)$/m.exec(line.split('\n').pop() ?? '');
    const lag = m ? at - Date.parse(m[2]) : Infinity;
    if (m) lags.push(lag);
    if (lag <= ANSWERING_LAG_MS) answering++;
    else if (notAnswering.length < 5) notAnswering.push(`${name}: ${JSON.stringify(line.slice(0, 120))}`);
  }
  const lagS = summarize(lags);
  const readErrors = [...lines.values()].filter((v) => v.line.startsWith('error: '));
  const timedOut = readErrors.filter((v) => v.line.includes('no answer in')).length;
  const r = summarize(probe.reads);
  const w = summarize(probe.writes);

  console.log(
    `\n### Wasm density through the API: ${PODS} ticker pods, one node (strata up --runtimes wasm)\n`,
  );
  console.log('| measure | value |');
  console.log('|---|---:|');
  console.log(
    `| pods Running | ${runningCount}/${PODS}${stuck ? ' (stopped waiting: stalled or --ramp-limit)' : ''} |`,
  );
  console.log(`| all Running in | ${(rampMs / 1000).toFixed(1)} s (${rate(runningCount, rampMs)}) |`);
  console.log(
    `| pods created by the ReplicaSet (last at) | ${(lastOf('seen') / 1000).toFixed(1)} s (${rate(all.length, lastOf('seen'))}) |`,
  );
  console.log(
    `| pods bound by the scheduler (last at) | ${(lastOf('bound') / 1000).toFixed(1)} s (${rate(all.filter((t) => t.bound).length, lastOf('bound'))}) |`,
  );
  console.log(
    `| API GET during the ramp: p50 / p99 / max (n) | ${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)} (${r.n}) |`,
  );
  console.log(
    `| API PATCH during the ramp: p50 / p99 / max (n) | ${fmt(w.p50)} / ${fmt(w.p99)} / ${fmt(w.max)} (${w.n}) |`,
  );
  console.log(
    `| API probe errors | ${probe.errors.length}${probe.errors.length ? `: ${probe.errors[0]}` : ''} |`,
  );
  console.log(
    `| process CPU during the ramp | ${cpuRamp.toFixed(0)} s (${((cpuRamp / rampMs) * 1000).toFixed(2)} cores) |`,
  );
  console.log(
    `| RSS before → after | ${(rssBefore / 1024).toFixed(0)} → ${(rssAfter / 1024).toFixed(0)} MiB |`,
  );
  console.log(
    `| RSS per pod (everything: API objects, caches, agent, guest) | ${((rssAfter - rssBefore) / Math.max(1, runningCount)).toFixed(0)} KiB |`,
  );
  console.log(`| open files of the process (all Running) / RLIMIT_NOFILE | ${fdsAfter} / ${fdLimit} |`);
  console.log(
    `| last lines read back (kubectl logs --tail=1, 32 at a time) | ${lines.size} of ${names.length} in ${(readMs / 1000).toFixed(1)} s |`,
  );
  console.log(
    `| reads that failed: timed out (${READ_TIMEOUT_MS / 1000} s) / other errors | ${timedOut} / ${readErrors.length - timedOut}${readErrors.length > timedOut ? ` (first: ${readErrors.find((v) => !v.line.includes('no answer in'))!.line.slice(7, 120)})` : ''} |`,
  );
  console.log(
    `| pods answering (last line ≤ ${ANSWERING_LAG_MS / 1000} s behind) | ${answering}/${lines.size} read |`,
  );
  console.log(
    `| last line behind the clock: p50 / p99 / max | ${fmt(lagS.p50)} / ${fmt(lagS.p99)} / ${fmt(lagS.max)} |`,
  );
  console.log(
    `| load average at the end | ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} |`,
  );
  if (probe.slow.length)
    console.log(
      `\nAPI probes slower than 5 s (${probe.slow.length}; first 10):\n${probe.slow.slice(0, 10).join('\n')}`,
    );
  if (notAnswering.length) console.log(`\nnot answering (first 5):\n${notAnswering.join('\n')}`);
  stopWatch();
  probeClient.close();
} finally {
  if (profDir) {
    // The profile is written at the process's exit: give it time to stop its pods and exit cleanly.
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 300_000;
    while (c.procs[0].exitCode === null && c.procs[0].signalCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
  }
  await c.stop();
}
