// The scheduler at scale, on hollow nodes (Node objects with status and no agent, like kubemark):
//
//   (a) placements per second through the real scheduler core (podInfo digest, plugins, Placer,
//       NodeInfoCache with its indexes) — pure placement, no store — at Kubernetes' default sampling and
//       at its floor of 100 nodes; beside a same-run baseline that counts pods per topology domain by
//       scanning every pod per attempt, as kube-scheduler's PreFilter does;
//   (b) end-to-end: every pod created through the real ObjectStore (validation, priority admission,
//       sqlite or etcd) and bound by the real Scheduler loop (informers, queue, binding writes);
//   (c) API latency during (b): concurrent GETs, LISTs (namespaced and cluster-wide, small and full) and
//       writes through the real HTTP server, each class's p99 against Kubernetes' SLOs;
//   (d) packing quality on small instances: nodes used by Strata's binpack vs the optimum from the HiGHS
//       MIP solver, measured in the same run.
//
//   npm run bench -- scheduler [NODES] [PODS]      (default 5000 150000: Kubernetes' published limits)
//   npm run bench -- scheduler --quick             (500 nodes, 15000 pods)
//   flags: --datastore sqlite|etcd|both (default sqlite; etcd: a 3-member etcd on loopback started here,
//          read through the watch cache a server puts in front of it (store/watch-cache.ts);
//          both: the two end-to-end runs one after the other, printed side by side; or a comma-separated
//          list of sqlite, etcd and etcd-nocache — etcd without the watch cache, kube's --watch-cache=false),
//          --no-core, --no-e2e, --no-packing
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Agent, setGlobalDispatcher } from 'undici';
import { kindFor } from '../src/api/index.ts';
import { ensureDefaultNamespaces } from '../src/controllers/namespace.ts';
import { SharedInformers } from '../src/store/shared-informers.ts';
import { NodeInfoCache, podInfo } from '../src/scheduler/node-info.ts';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import { Placer } from '../src/scheduler/schedule.ts';
import { mostAllocatedScore } from '../src/scheduler/scores.ts';
import { priorityAdmission } from '../src/server/admission.ts';
import { buildServer } from '../src/server/app.ts';
import { Authenticator } from '../src/server/auth.ts';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { type EtcdStore, openEtcdStore } from '../src/store/etcd.ts';
import { DEFAULT_QUOTA_BACKEND_BYTES } from '../src/store/etcd-embedded/member.ts';
import { startDefragUpkeep } from '../src/store/etcd-embedded/upkeep.ts';
import { etcdUnavailable, startEtcdCluster } from '../src/store/testing/etcd.ts';
import { WatchCache, type WatchCacheStats } from '../src/store/watch-cache.ts';
import { optimalNodes, packingInstance, strataNodesUsed } from './lib/binpack-optimal.ts';
import { type CoreResult, runCore } from './lib/scheduler-core.ts';
import { buildWorkload } from './lib/scheduler-workload.ts';
import { type Summary, fmt, summarize } from './lib/stats.ts';

const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const nums = args.filter((a) => /^\d+$/.test(a)).map(Number);
const quick = flag('--quick');
const NODES = nums[0] ?? (quick ? 500 : 5000);
const PODS = nums[1] ?? (quick ? 15_000 : 150_000);
const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;
const PC = kindFor('scheduling.k8s.io/v1', 'PriorityClass')!;

const rows: { name: string; value: string; note: string }[] = [];
const row = (name: string, value: string, note = '') => {
  rows.push({ name, value, note });
  console.log(`  ${name}: ${value}${note ? `  (${note})` : ''}`);
};
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const lat = (s: Summary) => `p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}`;

/** How evenly the spread strategy used the nodes: coefficient of variation of cpu requested/allocatable. */
function cpuSpreadCv(cache: NodeInfoCache): number {
  const f = cache.nodes().map((n) => n.requested.milliCpu / Math.max(1, n.allocatable.milliCpu));
  const mean = f.reduce((a, b) => a + b, 0) / f.length;
  const sd = Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / f.length);
  return sd / mean;
}

console.log(
  `scheduler benchmark: ${int(NODES)} hollow nodes, ${int(PODS)} pods; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on this machine at start`,
);
const workload = buildWorkload(NODES, PODS);
console.log(
  `pod mix: ${Object.entries(workload.mix)
    .map(([k, v]) => `${k} ${int(v)}`)
    .join(', ')}`,
);

// ---- (a) core ------------------------------------------------------------------------------------
console.log('\n(a) scheduler core');
function coreRow(label: string, r: CoreResult) {
  const s = summarize(r.samples);
  const examined = r.placer.stats.examined / r.placer.stats.attempts;
  row(
    label,
    `${int(r.perSecond)} placements/s`,
    `${int(r.placed)} placed, ${int(r.unschedulable)} unschedulable in ${r.seconds.toFixed(1)} s; per pod ${lat(s)}; ${examined.toFixed(0)} nodes filtered per pod; cpu spread CV ${cpuSpreadCv(r.cache).toFixed(3)}`,
  );
}
if (!flag('--no-core')) {
  const coreDefault = runCore(workload.nodes, workload.pods, 'spread');
  coreRow('(a) core, default sampling (Kubernetes formula)', coreDefault);
  const coreFloor = runCore(workload.nodes, workload.pods, 'spread', 2);
  coreRow('(a) core, percentageOfNodesToScore=2 (100-node floor)', coreFloor);
  if (coreDefault.messages.size)
    console.log(
      '  most common unschedulable reasons:',
      [...coreDefault.messages].sort((a, b) => b[1] - a[1]).slice(0, 3),
    );

  // Baseline in the same run: per-attempt pod counting (kube-scheduler's PreFilter scans every pod) on
  // the cluster as (a) left it, for a sample of pods with affinity or spread rules.
  {
    const placer = new Placer({ strategy: 'spread' });
    const nodes = [...coreDefault.cache.nodes()]; // a copy: no indexes, no incremental counts
    const sample = workload.pods.filter(
      (p) => p.spec.topologySpreadConstraints || p.spec.affinity?.podAntiAffinity,
    );
    // Bounded in time: at 150,000 pods each attempt of the baseline takes a large fraction of a second.
    let n = 0;
    const t = performance.now();
    while (n < Math.min(200, sample.length) && performance.now() - t < 5_000) {
      const info = podInfo({ ...sample[n], metadata: { ...sample[n].metadata, name: `baseline-${n}` } });
      placer.place(info, nodes);
      n++;
    }
    const perSec = n / ((performance.now() - t) / 1000);
    const inc = new Placer({ strategy: 'spread' });
    const t2 = performance.now();
    for (let i = 0; i < n; i++) {
      const info = podInfo({ ...sample[i], metadata: { ...sample[i].metadata, name: `incremental-${i}` } });
      inc.place(info, coreDefault.cache.nodes(), coreDefault.cache);
    }
    const incPerSec = n / ((performance.now() - t2) / 1000);
    row(
      'baseline: per-attempt pod scan (kube PreFilter style), spread/anti-affinity pods',
      `${int(perSec)} placements/s`,
      `same pods with Strata's incremental counts: ${int(incPerSec)}/s (${(incPerSec / perSec).toFixed(0)}×); ${n} pods, cluster holding ${int(coreDefault.placed)}`,
    );
  }
  row('reference: kube-scheduler (published)', '~100–300 pods/s', 'scheduler_perf / SIG scalability');
  row('reference: Nomad C1M (published)', '~3,750 containers/s', '1M containers on 5 servers');
}

// ---- (b) + (c) end to end --------------------------------------------------------------------------
type Backend = 'sqlite' | 'etcd' | 'etcd-nocache';
const BACKENDS: Backend[] = ['sqlite', 'etcd', 'etcd-nocache'];
const backendLabel = (b: Backend) =>
  b === 'sqlite'
    ? 'sqlite'
    : b === 'etcd'
      ? 'etcd (3 members) + watch cache'
      : 'etcd (3 members), no watch cache';

/** Kubernetes' API latency SLOs (sig-scalability api_call_latency), p99 per class, milliseconds. */
const SLO = {
  mutating: { limit: 1_000, label: 'mutating (POST ConfigMap)' },
  get: { limit: 1_000, label: 'single-object GET (pod, node)' },
  listNamespaced: { limit: 5_000, label: 'LIST namespaced (50 pods by label; a whole workload namespace)' },
  listCluster: { limit: 30_000, label: 'LIST cluster-wide (namespaces, nodes, every pod)' },
} as const;
type ApiClass = keyof typeof SLO;

interface EndToEnd {
  backend: Backend;
  seconds: number;
  bound: number;
  unschedulable: number;
  createsSeconds: number;
  preemptions: number;
  nodesSeconds: number;
  /** Per SLO class, every request of the class. */
  api: Record<ApiClass, Summary>;
  /**
   * Per verb, resource and scope, as Kubernetes' SLI buckets them (and as each bucket must meet its
   * class's SLO): the rare full LISTs are not hidden in the p99 of the frequent small ones.
   */
  buckets: { name: string; cls: ApiClass; s: Summary; failed: number }[];
  loopDelay: string;
  /** etcd only: backend size of the largest member at the end, and the revision compacted to. */
  etcd?: { dbBytes: number; compacted: number; revision: number };
  /** The watch cache's counters at the end (etcd with the cache only). */
  cache?: WatchCacheStats;
  /** Resident memory of the one process (server, store, cache, informers, scheduler): peak and at the end. */
  rssPeakMiB: number;
  rssEndMiB: number;
}

const sloVerdict = (c: ApiClass, s: Summary) =>
  s.n === 0
    ? 'no samples'
    : s.p99 <= SLO[c].limit
      ? `met (≤ ${fmt(SLO[c].limit)})`
      : `MISSED (> ${fmt(SLO[c].limit)})`;

/** A 3-member etcd on loopback, with the quota and upkeep a Strata server gives its member. */
async function openEtcdBackend(): Promise<{
  store: EtcdStore;
  stats(): Promise<EndToEnd['etcd']>;
  close(): Promise<void>;
}> {
  // 150,000 pods written twice (create, binding) outgrow etcd's 2 GiB default quota before compaction
  // catches up: the same --quota-backend-bytes as `strata server --cluster-init`, the Store's own
  // compactor (kube-apiserver's: every 5 minutes, keeping 100,000 revisions) and each member's defrag
  // upkeep, as each server runs it on its local member.
  const etcd = await startEtcdCluster({
    size: 3,
    extraArgs: [`--quota-backend-bytes=${DEFAULT_QUOTA_BACKEND_BYTES}`],
    readyTimeoutMs: 60_000,
  });
  const store = openEtcdStore({ endpoints: etcd.endpoints });
  const locals = etcd.members.map((m) => new Etcd3({ hosts: [m.clientUrl] }));
  const upkeeps = locals.map((client) =>
    startDefragUpkeep({ client, quotaBackendBytes: DEFAULT_QUOTA_BACKEND_BYTES }),
  );
  return {
    store,
    async stats() {
      const sizes = await Promise.all(locals.map(async (c) => Number((await c.maintenance.status()).dbSize)));
      return {
        dbBytes: Math.max(...sizes),
        compacted: store.compactedRevision(),
        revision: await store.revision(),
      };
    },
    async close() {
      for (const u of upkeeps) u.stop();
      for (const c of locals) c.close();
      await store.close();
      await etcd.stop();
    },
  };
}

async function endToEnd(backend: Backend): Promise<EndToEnd> {
  console.log(`\n(b) end to end through ObjectStore + ${backend} + Scheduler, (c) API latency meanwhile`);
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-sched-'));
  const etcd = backend === 'sqlite' ? undefined : await openEtcdBackend();
  const store = etcd?.store ?? openSqliteStore(join(dir, 'state.db'));
  try {
    // As a server wires it (store/datastore.ts withWatchCache): the ObjectStore reads through the cache.
    const cache = backend === 'etcd' ? new WatchCache(store) : undefined;
    return await runEndToEnd(backend, cache ?? store, etcd?.stats, cache);
  } finally {
    if (etcd) await etcd.close();
    else await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runEndToEnd(
  backend: Backend,
  store: Store,
  etcdStats: (() => Promise<EndToEnd['etcd']>) | undefined,
  cache: WatchCache | undefined,
): Promise<EndToEnd> {
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  const informers = new SharedInformers(objects);
  objects.addCreateHook(priorityAdmission(objects, informers.informerFor(PC)));
  for (const ns of [...workload.namespaces, 'bench-api'])
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const pc of workload.priorityClasses) await objects.create(pc);
  const parallel = async <T>(items: readonly T[], width: number, fn: (x: T) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        for (let i = next++; i < items.length; i = next++) await fn(items[i]);
      }),
    );
  };
  const tNodes = performance.now();
  await parallel(workload.nodes, 64, async (n) => {
    const { status, ...spec } = n;
    await objects.create(spec);
    await objects.updateStatus(NODE, undefined, n.metadata.name, { status });
  });
  const nodesSeconds = (performance.now() - tNodes) / 1000;
  console.log(`  ${int(NODES)} hollow nodes registered in ${nodesSeconds.toFixed(1)} s`);
  // A few bound pods in a small namespace for the LIST requests.
  for (let i = 0; i < 50; i++)
    await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `api-${i}`, namespace: 'bench-api', labels: { app: 'api' } },
      spec: {
        nodeName: workload.nodes[i % NODES].metadata.name,
        containers: [{ name: 'c', image: 'x.wasm' }],
      },
    });

  informers.start();
  const scheduler = new Scheduler({ objects, informers, retryIntervalMs: 5_000 });
  await scheduler.start();

  const token = 'bench-token';
  const auth = new Authenticator();
  auth.add(token, 'admin');
  const app = buildServer({ objects, auth });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as any).port}`;
  setGlobalDispatcher(new Agent({ connections: 8 }));
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const samples: Record<ApiClass, number[]> = { mutating: [], get: [], listNamespaced: [], listCluster: [] };
  const buckets = new Map<string, { cls: ApiClass; xs: number[]; failed: number }>();
  let created = 0;
  let configMaps = 0;
  const call = async (into: ApiClass, bucket: string, url: string, body?: unknown) => {
    const s = performance.now();
    const res = await fetch(url, {
      headers,
      ...(body ? { method: 'POST', body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // A 5xx (etcd did not answer within the store's deadline: 503) is a failed request of the bucket, kept
    // with its latency and counted; anything else unexpected is a bug of the bench.
    if (res.status >= 300 && res.status !== 404 && res.status < 500)
      throw new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    const ms = performance.now() - s;
    samples[into].push(ms);
    const b = buckets.get(bucket) ?? { cls: into, xs: [], failed: 0 };
    b.xs.push(ms);
    if (res.status >= 500) {
      b.failed++;
      console.log(`  ${bucket}: HTTP ${res.status} after ${fmt(ms)}: ${text.slice(0, 200)}`);
    }
    buckets.set(bucket, b);
  };
  // Four light clients: single-object GETs, small LISTs and writes, 5 ms apart each.
  const apiLoop = async (worker: number) => {
    for (let i = 0; apiRunning; i++) {
      const kind = (i + worker) % 10;
      if (kind < 4 && created > 0) {
        const p = workload.pods[Math.floor(Math.random() * created)];
        await call(
          'get',
          'GET pod',
          `${base}/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`,
        );
      } else if (kind < 6)
        await call(
          'get',
          'GET node',
          `${base}/api/v1/nodes/${workload.nodes[Math.floor(Math.random() * NODES)].metadata.name}`,
        );
      else if (kind < 8)
        await call(
          'listNamespaced',
          'LIST pods in a namespace, 50 by label',
          `${base}/api/v1/namespaces/bench-api/pods?labelSelector=app%3Dapi`,
        );
      else if (kind < 9) await call('listCluster', 'LIST namespaces', `${base}/api/v1/namespaces`);
      else
        await call('mutating', 'POST configmap', `${base}/api/v1/namespaces/bench-api/configmaps`, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${worker}-${configMaps++}` },
          data: { k: 'v' },
        });
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // One heavy client, as a dashboard or controller resync would: every 10 s an unpaginated LIST of a
  // whole workload namespace, of every node, of every pod in the cluster, in turn.
  const heavyLoop = async () => {
    for (let i = 0; apiRunning; i++) {
      for (let w = 0; w < 100 && apiRunning; w++) await new Promise((r) => setTimeout(r, 100));
      if (!apiRunning) break;
      if (i % 3 === 0)
        await call(
          'listNamespaced',
          `LIST all pods of a namespace (${int(PODS / workload.namespaces.length)})`,
          `${base}/api/v1/namespaces/${workload.namespaces[0]}/pods`,
        );
      else if (i % 3 === 1)
        await call('listCluster', `LIST all nodes (${int(NODES)})`, `${base}/api/v1/nodes`);
      else await call('listCluster', `LIST all pods, cluster-wide (${int(PODS)})`, `${base}/api/v1/pods`);
    }
  };
  // Warm up: connections open and routes compiled before the measured run (clients keep connections).
  let apiRunning = true;
  await Promise.all(
    [0, 1, 2, 3].map(async () => {
      for (let i = 0; i < 10; i++)
        await (await fetch(`${base}/api/v1/namespaces`, { headers })).arrayBuffer();
    }),
  );
  const api = Promise.all([...[0, 1, 2, 3].map(apiLoop), heavyLoop()]);

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const t0 = performance.now();
  let createdAt = 0;
  // 64 writers, each yielding to the event loop between creates as independent API clients would (a
  // bare loop of awaited creates resolves entirely in microtasks and would starve every other client).
  const creating = parallel(workload.pods, 64, async (p) => {
    await objects.create(p);
    created++;
    await new Promise((r) => setImmediate(r));
  }).then(() => (createdAt = performance.now()));
  let last = '';
  let rssPeak = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    const s = scheduler.stats();
    const line = `  ${((performance.now() - t0) / 1000).toFixed(0)} s: created ${int(created)}, bound ${int(s.scheduled)}, waiting ${int(s.unschedulable)}`;
    if (line.slice(line.indexOf(':')) !== last) {
      if (Math.round((performance.now() - t0) / 250) % 40 === 0) console.log(line);
      last = line.slice(line.indexOf(':'));
    }
    if (createdAt && s.pending === 0 && s.binding === 0 && s.scheduled + s.unschedulable >= PODS) break;
  }
  const total = (performance.now() - t0) / 1000;
  loopDelay.disable();
  await creating;
  apiRunning = false;
  await api;
  const s = scheduler.stats();
  // Cross-check through the store: every pod the scheduler says it bound is bound there.
  const bound = (await objects.list(POD)).items.filter(
    (p) => p.spec.nodeName && p.metadata.namespace !== 'bench-api',
  ).length;
  const result: EndToEnd = {
    backend,
    seconds: total,
    bound,
    unschedulable: s.unschedulable,
    createsSeconds: (createdAt - t0) / 1000,
    preemptions: s.preemptions,
    nodesSeconds,
    api: {
      mutating: summarize(samples.mutating),
      get: summarize(samples.get),
      listNamespaced: summarize(samples.listNamespaced),
      listCluster: summarize(samples.listCluster),
    },
    buckets: [...buckets].map(([name, b]) => ({ name, cls: b.cls, s: summarize(b.xs), failed: b.failed })),
    loopDelay: `p50 ${fmt(loopDelay.percentile(50) / 1e6)}, p99 ${fmt(loopDelay.percentile(99) / 1e6)}, max ${fmt(loopDelay.max / 1e6)}`,
    etcd: await etcdStats?.(),
    cache: cache?.stats(),
    rssPeakMiB: Math.max(rssPeak, process.memoryUsage.rss()) / 1024 ** 2,
    rssEndMiB: process.memoryUsage.rss() / 1024 ** 2,
  };
  await app.close();
  await scheduler.stop();
  informers.stop();

  const on = backendLabel(backend);
  row(
    `(b) end to end on ${on}: ${int(PODS)} pods created through ObjectStore and bound by the Scheduler`,
    `${total.toFixed(1)} s`,
    `${int(bound)} bound (store), ${int(s.unschedulable)} unschedulable; ${int(bound / total)} pods/s; creates finished after ${result.createsSeconds.toFixed(1)} s; ${int(s.preemptions)} preemptions; nodes registered in ${nodesSeconds.toFixed(1)} s`,
  );
  for (const c of Object.keys(SLO) as ApiClass[])
    row(
      `(c) ${on}: API ${SLO[c].label}`,
      lat(result.api[c]),
      `${int(result.api[c].n)} requests; SLO p99 ${sloVerdict(c, result.api[c])}`,
    );
  for (const b of result.buckets)
    row(
      `(c) ${on}: ${b.name}`,
      `${lat(b.s)}, max ${fmt(b.s.max)}`,
      `${int(b.s.n)} requests${b.failed ? `, ${int(b.failed)} failed (5xx)` : ''}; SLO p99 ${sloVerdict(b.cls, b.s)}`,
    );
  row(
    `(c) ${on}: event loop delay of the one control-plane process`,
    result.loopDelay,
    'server, store, informers and scheduler share one thread',
  );
  row(
    `(b) ${on}: resident memory of the process`,
    `peak ${int(result.rssPeakMiB)} MiB`,
    `${int(result.rssEndMiB)} MiB at the end (server, store, informers, scheduler, bench clients in one process)`,
  );
  if (result.cache)
    row(
      `(b) ${on}: watch cache`,
      `${int(result.cache.cached)} lists from memory`,
      `${int(result.cache.fallbacks)} read from etcd after the 3 s bound, ${int(result.cache.loads)} resource loads, ${int(result.cache.resyncs)} resyncs, ${int(result.cache.keys)} keys held`,
    );
  if (result.etcd)
    row(
      `(b) ${on}: etcd backend at the end`,
      `${(result.etcd.dbBytes / 1024 ** 2).toFixed(0)} MiB`,
      `largest member's db; revision ${int(result.etcd.revision)}, compacted to ${int(result.etcd.compacted)}; quota ${DEFAULT_QUOTA_BACKEND_BYTES / 1024 ** 3} GiB`,
    );
  return result;
}

function printSideBySide(r: EndToEnd[]): void {
  const head = r.map((x) => backendLabel(x.backend));
  console.log(`\n### End to end, same run: ${int(NODES)} hollow nodes, ${int(PODS)} pods\n`);
  console.log(`| measurement | ${head.join(' | ')} | SLO (p99) |`);
  console.log(`|---|${r.map(() => '---:').join('|')}|---|`);
  const line = (name: string, cells: string[], slo = '') =>
    console.log(`| ${name} | ${cells.join(' | ')} | ${slo} |`);
  line(
    'wall time, create → all bound',
    r.map((x) => `${x.seconds.toFixed(1)} s`),
  );
  line(
    'pods/s',
    r.map((x) => int(x.bound / x.seconds)),
  );
  line(
    'bound / unschedulable',
    r.map((x) => `${int(x.bound)} / ${int(x.unschedulable)}`),
  );
  line(
    'creates finished after',
    r.map((x) => `${x.createsSeconds.toFixed(1)} s`),
  );
  line(
    'nodes registered (create + status)',
    r.map((x) => `${x.nodesSeconds.toFixed(1)} s`),
  );
  for (const c of Object.keys(SLO) as ApiClass[])
    line(
      `API ${SLO[c].label}, p99 (n)`,
      r.map(
        (x) =>
          `${fmt(x.api[c].p99)} (${int(x.api[c].n)}) ${x.api[c].n && x.api[c].p99 <= SLO[c].limit ? 'met' : 'MISSED'}`,
      ),
      `≤ ${fmt(SLO[c].limit)}`,
    );
  const names = [...new Set(r.flatMap((x) => x.buckets.map((b) => b.name)))];
  for (const name of names) {
    const cls = r.flatMap((x) => x.buckets).find((b) => b.name === name)!.cls;
    line(
      `${name}: p99 (n)`,
      r.map((x) => {
        const b = x.buckets.find((y) => y.name === name);
        return b ? `${fmt(b.s.p99)} (${int(b.s.n)}) ${b.s.p99 <= SLO[cls].limit ? 'met' : 'MISSED'}` : '-';
      }),
      `≤ ${fmt(SLO[cls].limit)}`,
    );
  }
  line(
    'event loop delay',
    r.map((x) => x.loopDelay),
  );
  line(
    'process RSS, peak / end',
    r.map((x) => `${int(x.rssPeakMiB)} / ${int(x.rssEndMiB)} MiB`),
  );
}

const datastoreArg =
  args.find((a) => a.startsWith('--datastore='))?.slice('--datastore='.length) ??
  (args.includes('--datastore') ? args[args.indexOf('--datastore') + 1] : 'sqlite');
const backends = (datastoreArg === 'both' ? 'sqlite,etcd' : datastoreArg).split(',') as Backend[];
if (backends.some((b) => !BACKENDS.includes(b))) {
  console.error(
    `--datastore ${datastoreArg}: expected sqlite, etcd, both or a list of sqlite,etcd,etcd-nocache`,
  );
  process.exit(2);
}
if (backends.some((b) => b !== 'sqlite') && etcdUnavailable()) {
  console.error(`--datastore ${datastoreArg}: ${etcdUnavailable()}`);
  process.exit(2);
}
const e2e: EndToEnd[] = [];
if (!flag('--no-e2e')) for (const b of backends) e2e.push(await endToEnd(b));

// ---- (d) packing ---------------------------------------------------------------------------------
if (!flag('--no-packing')) {
  console.log('\n(d) packing quality: 20 nodes (8 and 16 cores), 60 pods of varied shapes, 10 instances');
  const results = { binpack: 0, mostAllocated: 0, spread: 0, optimal: 0, proven: 0, equal: 0, solve: 0 };
  const K = 10;
  for (let seed = 1; seed <= K; seed++) {
    const inst = packingInstance(seed);
    const opt = await optimalNodes(inst);
    const b = strataNodesUsed(inst, 'binpack')!;
    const ma = strataNodesUsed(inst, 'binpack', [
      { name: 'MostAllocated', weight: 1, score: mostAllocatedScore },
    ])!;
    results.binpack += b;
    results.mostAllocated += ma;
    results.spread += strataNodesUsed(inst, 'spread')!;
    results.optimal += opt.nodes;
    results.proven += opt.status === 'Optimal' ? 1 : 0;
    results.equal += b === opt.nodes ? 1 : 0;
    results.solve += opt.seconds;
  }
  const avg = (x: number) => (x / K).toFixed(1);
  row(
    '(d) optimal (HiGHS MIP), nodes used',
    avg(results.optimal),
    `${results.proven}/${K} proven optimal, ${avg(results.solve)} s per solve`,
  );
  row(
    '(d) Strata binpack, nodes used',
    avg(results.binpack),
    `${(results.binpack / results.optimal).toFixed(2)}× optimal; equal to the optimum in ${results.equal}/${K}`,
  );
  row(
    '(d) Kubernetes-style MostAllocated score, nodes used',
    avg(results.mostAllocated),
    `${(results.mostAllocated / results.optimal).toFixed(2)}× optimal`,
  );
  row('(d) Strata spread, nodes used', avg(results.spread), 'spreads on purpose');
}

console.log(`\n### Scheduler: ${int(NODES)} hollow nodes, ${int(PODS)} pods\n`);
console.log('| measurement | result | note |');
console.log('|---|---:|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.value} | ${r.note} |`);
if (e2e.length > 1) printSideBySide(e2e);
console.log(
  `\nload average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
process.exit(0);
