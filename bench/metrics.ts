// Scrape cost (issue 15). Two tables, each Strata beside a baseline measured in the same run:
//  1. The control plane's /metrics with 1,000 pods in the store (rendered as a scrape renders it: the
//     kube-state read of every pod plus the registry) against listing the same 1,000 pods as JSON (what
//     `GET /api/v1/pods` costs) — median latency and bytes.
//  2. The agent's stats collection for 1,000 wasm instances and 100 containers per 10 s interval: CPU
//     of one collection pass plus one render of /metrics/cadvisor, as a share of one core over 10 s,
//     against the bare file reads of the 100 containers' cgroups (the floor: reading the kernel).
//     Scaled down: the 100 "containers" read real cgroup files (this machine's root cgroup, as many
//     times), and the 1,000 wasm instances answer from memory — the real wasm stats() asks the guest's
//     worker thread for its CPU time, a message per guest this bench does not include.
// Goal: < 2 % of a core.
//
//   npm run bench -- metrics [ROUNDS]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kindFor } from '../src/api/index.ts';
import { StatsCollector } from '../src/metrics/collector.ts';
import { cadvisorExposition } from '../src/metrics/exposition.ts';
import type { SandboxRef, StatsReading } from '../src/metrics/samples.ts';
import { detectCgroups, readStats } from '../src/sandbox/container/cgroups.ts';
import { ServerMetrics } from '../src/server/metrics.ts';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

const ROUNDS = Number(process.argv[2] ?? 7);
const PODS = 1000;
const WASM = 1000;
const CONTAINERS = 100;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0: number): number => performance.now() - t0;

async function serverTable(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-metrics-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  for (let i = 0; i < PODS; i++) {
    await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}`, namespace: 'default', labels: { app: `a${i % 10}` } },
      spec: { runtimeClassName: 'wasm', containers: [{ name: 'main', image: '/opt/app.wasm' }] },
    });
  }
  const metrics = new ServerMetrics();
  await metrics.watchStore(objects);
  const podKind = kindFor('v1', 'Pod')!;
  const scrape: number[] = [];
  const list: number[] = [];
  let scrapeBytes = 0;
  let listBytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    const text = await metrics.render();
    scrape.push(ms(t0));
    scrapeBytes = Buffer.byteLength(text);
    t0 = performance.now();
    const body = JSON.stringify(await objects.list(podKind, undefined));
    list.push(ms(t0));
    listBytes = Buffer.byteLength(body);
  }
  console.log(`\n/metrics on the server with ${PODS} pods (median of ${ROUNDS})`);
  console.log(
    `  strata /metrics          ${median(scrape).toFixed(1)} ms   ${(scrapeBytes / 1024).toFixed(0)} KiB`,
  );
  console.log(
    `  baseline: list pods JSON ${median(list).toFixed(1)} ms   ${(listBytes / 1024).toFixed(0)} KiB`,
  );
  console.log(`  ratio                    ${(median(scrape) / median(list)).toFixed(2)}×`);
  await metrics.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

async function agentTable(): Promise<void> {
  const layout = detectCgroups();
  const refs: SandboxRef[] = [];
  let cpu = 0;
  const base = { requests: { cpuCores: 0.1, memoryBytes: 16 << 20 }, limits: { memoryBytes: 64 << 20 } };
  for (let i = 0; i < WASM; i++) {
    refs.push({
      ...base,
      namespace: 'default',
      pod: `w${i}`,
      podUid: `uid-w${i}`,
      container: 'main',
      runtimeClass: 'wasm',
      sandboxId: `w${i}`,
      stats: async (): Promise<StatsReading> => ({
        cpuNanos: (cpu += 1e6),
        memoryBytes: 1 << 20,
        timestamp: new Date(),
      }),
    });
  }
  const readContainer = (): StatsReading => {
    const s = readStats(layout, '/');
    return { ...s, memoryBytes: s.memoryWorkingSetBytes, timestamp: new Date() };
  };
  for (let i = 0; i < CONTAINERS; i++) {
    refs.push({
      ...base,
      namespace: 'default',
      pod: `c${i}`,
      podUid: `uid-c${i}`,
      container: 'main',
      runtimeClass: 'container',
      sandboxId: `c${i}`,
      stats: async () => readContainer(),
    });
  }
  const collector = new StatsCollector({ nodeName: 'bench', list: () => refs, intervalMs: 10_000 });
  const cadvisor = cadvisorExposition(collector);
  await collector.collect(); // warm up; the second pass has rates
  const strata: number[] = [];
  const bare: number[] = [];
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let c0 = process.cpuUsage();
    await collector.collect();
    bytes = Buffer.byteLength(await cadvisor.render());
    let c = process.cpuUsage(c0);
    strata.push((c.user + c.system) / 1000);
    c0 = process.cpuUsage();
    for (let i = 0; i < CONTAINERS; i++) readContainer();
    c = process.cpuUsage(c0);
    bare.push((c.user + c.system) / 1000);
  }
  const share = (cpuMs: number) => `${((cpuMs / 10_000) * 100).toFixed(2)} % of a core`;
  console.log(`\nagent stats for ${WASM} wasm + ${CONTAINERS} containers per 10 s (median of ${ROUNDS})`);
  console.log(
    `  strata: collect + render /metrics/cadvisor   ${median(strata).toFixed(1)} ms CPU = ${share(median(strata))}   (${(bytes / 1024).toFixed(0)} KiB)`,
  );
  console.log(
    `  baseline: bare cgroup reads (${CONTAINERS})        ${median(bare).toFixed(1)} ms CPU = ${share(median(bare))}`,
  );
  console.log(`  goal < 2 % of a core: ${median(strata) / 10_000 < 0.02 ? 'met' : 'NOT met'}`);
}

await serverTable();
await agentTable();
