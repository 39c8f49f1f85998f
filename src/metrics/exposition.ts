// The agent's Prometheus endpoints, rendered from the collector's latest pass (prom-client registries
// whose collect() callbacks copy the pass in; nothing is read from the kernel during a scrape):
//   /metrics/cadvisor   per-container and per-pod (`container=""`) series with cAdvisor's names and labels
//   /metrics/resource   the kubelet's resource metrics (what metrics-server scrapes)
//   /metrics            node_exporter-named node series, the agent's own collection cost, process metrics
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CollectionPass, StatsCollector } from './collector.ts';
import { byPod, podNetwork } from './summary.ts';
import type { ContainerSample } from './samples.ts';

const CONTAINER_LABELS = ['namespace', 'pod', 'container', 'runtime_class'] as const;
type Labels = Record<(typeof CONTAINER_LABELS)[number], string>;

/** A counter whose value is copied from a cumulative reading (prom-client counters only go up by inc()). */
function setCounter<T extends string>(
  c: Counter<T>,
  labels: Partial<Record<T, string>>,
  v: number | undefined,
): void {
  if (v === undefined || !Number.isFinite(v) || v < 0) return;
  c.inc(labels, v);
}

function labelsOf(s: ContainerSample, container = s.ref.container): Labels {
  return { namespace: s.ref.namespace, pod: s.ref.pod, container, runtime_class: s.ref.runtimeClass };
}

/** Renders a registry from whatever pass `latest` returns at scrape time. */
export interface Exposition {
  registry: Registry;
  render(): Promise<string>;
}

function exposition(
  registry: Registry,
  collector: StatsCollector,
  fill: (pass: CollectionPass) => void,
): Exposition {
  return {
    registry,
    async render() {
      const pass = await collector.current();
      registry.resetMetrics();
      fill(pass);
      return registry.metrics();
    },
  };
}

export function cadvisorExposition(collector: StatsCollector): Exposition {
  const registry = new Registry();
  const at = [...CONTAINER_LABELS];
  const c = (name: string, help: string, labelNames: string[] = at) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const g = (name: string, help: string, labelNames: string[] = at) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const cpu = c('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.');
  const periods = c('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.');
  const throttled = c('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.');
  const throttledSec = c(
    'container_cpu_cfs_throttled_seconds_total',
    'Total time duration the container has been throttled.',
  );
  const ws = g('container_memory_working_set_bytes', 'Current working set in bytes.');
  const rss = g('container_memory_rss', 'Size of RSS in bytes.');
  const usage = g(
    'container_memory_usage_bytes',
    'Current memory usage in bytes, including all memory regardless of when it was accessed.',
  );
  const memLimit = g('container_spec_memory_limit_bytes', 'Memory limit for the container.');
  const cpuQuota = g('container_spec_cpu_quota', 'CPU quota of the container.');
  const cpuPeriod = g('container_spec_cpu_period', 'CPU period of the container.');
  const rx = c('container_network_receive_bytes_total', 'Cumulative count of bytes received', [
    ...at,
    'interface',
  ]);
  const tx = c('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', [
    ...at,
    'interface',
  ]);
  const reads = c('container_fs_reads_bytes_total', 'Cumulative count of bytes read');
  const writes = c('container_fs_writes_bytes_total', 'Cumulative count of bytes written');
  const start = g('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.');
  const pressure = {
    cpu: c(
      'container_pressure_cpu_waiting_seconds_total',
      'Total time duration tasks in the container have waited due to CPU congestion.',
    ),
    memory: c(
      'container_pressure_memory_waiting_seconds_total',
      'Total time duration tasks in the container have waited due to memory congestion.',
    ),
    io: c(
      'container_pressure_io_waiting_seconds_total',
      'Total time duration tasks in the container have waited due to IO congestion.',
    ),
  };
  return exposition(registry, collector, (pass) => {
    for (const pod of byPod(pass)) {
      const sum = (f: (s: ContainerSample) => number | undefined): number | undefined => {
        const vs = pod.map(f).filter((v): v is number => v !== undefined);
        return vs.length ? vs.reduce((a, b) => a + b, 0) : undefined;
      };
      for (const s of pod) {
        const l = labelsOf(s);
        const r = s.reading;
        setCounter(cpu, l, r.cpuNanos / 1e9);
        setCounter(periods, l, r.cpuCfsPeriods);
        setCounter(throttled, l, r.cpuCfsThrottledPeriods);
        setCounter(
          throttledSec,
          l,
          r.cpuCfsThrottledNanos === undefined ? undefined : r.cpuCfsThrottledNanos / 1e9,
        );
        ws.set(l, r.memoryBytes);
        usage.set(l, r.memoryBytes);
        if (r.memoryRssBytes !== undefined) rss.set(l, r.memoryRssBytes);
        // cAdvisor reports 0 for "no limit".
        memLimit.set(l, s.ref.limits.memoryBytes ?? r.memoryLimitBytes ?? 0);
        if (s.ref.limits.cpuCores !== undefined) {
          cpuPeriod.set(l, 100_000);
          cpuQuota.set(l, Math.round(s.ref.limits.cpuCores * 100_000));
        }
        setCounter(reads, l, r.fsReadBytes);
        setCounter(writes, l, r.fsWriteBytes);
        start.set(l, s.startedAt);
        for (const k of ['cpu', 'memory', 'io'] as const) {
          const v = r.pressureStallMicros?.[k];
          setCounter(pressure[k], l, v === undefined ? undefined : v / 1e6);
        }
      }
      // The pod's own series (cAdvisor's pod cgroup): container="".
      const p = labelsOf(pod[0], '');
      setCounter(
        cpu,
        p,
        sum((s) => s.reading.cpuNanos / 1e9),
      );
      setCounter(
        periods,
        p,
        sum((s) => s.reading.cpuCfsPeriods),
      );
      setCounter(
        throttled,
        p,
        sum((s) => s.reading.cpuCfsThrottledPeriods),
      );
      ws.set(p, sum((s) => s.reading.memoryBytes) ?? 0);
      const podRss = sum((s) => s.reading.memoryRssBytes);
      if (podRss !== undefined) rss.set(p, podRss);
      setCounter(
        reads,
        p,
        sum((s) => s.reading.fsReadBytes),
      );
      setCounter(
        writes,
        p,
        sum((s) => s.reading.fsWriteBytes),
      );
      start.set(p, Math.min(...pod.map((s) => s.startedAt)));
      const net = podNetwork(pod);
      if (net) {
        setCounter(rx, { ...p, interface: 'eth0' }, net.rxBytes);
        setCounter(tx, { ...p, interface: 'eth0' }, net.txBytes);
      }
    }
  });
}

export function resourceExposition(collector: StatsCollector): Exposition {
  const registry = new Registry();
  const cl = ['container', 'namespace', 'pod'];
  const pl = ['namespace', 'pod'];
  const nodeCpu = new Counter({
    name: 'node_cpu_usage_seconds_total',
    help: 'Cumulative cpu time consumed by the node in core-seconds',
    registers: [registry],
  });
  const nodeMem = new Gauge({
    name: 'node_memory_working_set_bytes',
    help: 'Current working set of the node in bytes',
    registers: [registry],
  });
  const cCpu = new Counter({
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative cpu time consumed by the container in core-seconds',
    labelNames: cl,
    registers: [registry],
  });
  const cMem = new Gauge({
    name: 'container_memory_working_set_bytes',
    help: 'Current working set of the container in bytes',
    labelNames: cl,
    registers: [registry],
  });
  const cStart = new Gauge({
    name: 'container_start_time_seconds',
    help: 'Start time of the container since unix epoch in seconds',
    labelNames: cl,
    registers: [registry],
  });
  const pCpu = new Counter({
    name: 'pod_cpu_usage_seconds_total',
    help: 'Cumulative cpu time consumed by the pod in core-seconds',
    labelNames: pl,
    registers: [registry],
  });
  const pMem = new Gauge({
    name: 'pod_memory_working_set_bytes',
    help: 'Current working set of the pod in bytes',
    labelNames: pl,
    registers: [registry],
  });
  const scrapeError = new Gauge({
    name: 'scrape_error',
    help: '1 if there was an error while getting container metrics, 0 otherwise',
    registers: [registry],
  });
  return exposition(registry, collector, (pass) => {
    if (pass.node) {
      setCounter(nodeCpu, {}, pass.node.cpuBusySeconds);
      nodeMem.set(pass.node.memory.totalBytes - pass.node.memory.availableBytes);
    }
    scrapeError.set(pass.errors > 0 ? 1 : 0);
    for (const pod of byPod(pass)) {
      const p = { namespace: pod[0].ref.namespace, pod: pod[0].ref.pod };
      for (const s of pod) {
        const l = { ...p, container: s.ref.container };
        setCounter(cCpu, l, s.reading.cpuNanos / 1e9);
        cMem.set(l, s.reading.memoryBytes);
        cStart.set(l, s.startedAt);
      }
      setCounter(
        pCpu,
        p,
        pod.reduce((a, s) => a + s.reading.cpuNanos / 1e9, 0),
      );
      pMem.set(
        p,
        pod.reduce((a, s) => a + s.reading.memoryBytes, 0),
      );
    }
  });
}

/** node_exporter's node series, the agent's collection cost, and the agent process's own metrics. */
export function agentExposition(collector: StatsCollector): Exposition {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  const cpu = new Counter({
    name: 'node_cpu_seconds_total',
    help: 'Seconds the CPUs spent in each mode.',
    labelNames: ['cpu', 'mode'],
    registers: r,
  });
  const mem = (k: string, help: string) => new Gauge({ name: `node_memory_${k}_bytes`, help, registers: r });
  const memTotal = mem('MemTotal', 'Memory information field MemTotal_bytes.');
  const memAvail = mem('MemAvailable', 'Memory information field MemAvailable_bytes.');
  const memFree = mem('MemFree', 'Memory information field MemFree_bytes.');
  const buffers = mem('Buffers', 'Memory information field Buffers_bytes.');
  const cached = mem('Cached', 'Memory information field Cached_bytes.');
  const fsl = ['device', 'mountpoint', 'fstype'];
  const fsSize = new Gauge({
    name: 'node_filesystem_size_bytes',
    help: 'Filesystem size in bytes.',
    labelNames: fsl,
    registers: r,
  });
  const fsAvail = new Gauge({
    name: 'node_filesystem_avail_bytes',
    help: 'Filesystem space available to non-root users in bytes.',
    labelNames: fsl,
    registers: r,
  });
  const fsFree = new Gauge({
    name: 'node_filesystem_free_bytes',
    help: 'Filesystem free space in bytes.',
    labelNames: fsl,
    registers: r,
  });
  const nl = ['device'];
  const rxB = new Counter({
    name: 'node_network_receive_bytes_total',
    help: 'Network device statistic receive_bytes.',
    labelNames: nl,
    registers: r,
  });
  const txB = new Counter({
    name: 'node_network_transmit_bytes_total',
    help: 'Network device statistic transmit_bytes.',
    labelNames: nl,
    registers: r,
  });
  const rxP = new Counter({
    name: 'node_network_receive_packets_total',
    help: 'Network device statistic receive_packets.',
    labelNames: nl,
    registers: r,
  });
  const txP = new Counter({
    name: 'node_network_transmit_packets_total',
    help: 'Network device statistic transmit_packets.',
    labelNames: nl,
    registers: r,
  });
  const boot = new Gauge({
    name: 'node_boot_time_seconds',
    help: 'Node boot time, in unixtime.',
    registers: r,
  });
  const pressure = {
    cpu: new Counter({
      name: 'node_pressure_cpu_waiting_seconds_total',
      help: 'Total time in seconds that processes have waited for CPU time',
      registers: r,
    }),
    memory: new Counter({
      name: 'node_pressure_memory_waiting_seconds_total',
      help: 'Total time in seconds that processes have waited for memory',
      registers: r,
    }),
    io: new Counter({
      name: 'node_pressure_io_waiting_seconds_total',
      help: 'Total time in seconds that processes have waited due to IO congestion',
      registers: r,
    }),
  };
  const sandboxes = new Gauge({
    name: 'strata_agent_sandboxes',
    help: 'Running sandboxes the agent collects stats for, by tier.',
    labelNames: ['runtime_class'],
    registers: r,
  });
  const passes = new Counter({
    name: 'strata_agent_stats_collections_total',
    help: 'Stats collection passes.',
    registers: r,
  });
  const errors = new Counter({
    name: 'strata_agent_stats_collection_errors_total',
    help: 'Sandboxes whose stats could not be read in a pass.',
    registers: r,
  });
  const wall = new Counter({
    name: 'strata_agent_stats_collection_seconds_total',
    help: 'Wall time spent in stats collection passes.',
    registers: r,
  });
  const spent = new Counter({
    name: 'strata_agent_stats_collection_cpu_seconds_total',
    help: 'CPU time the agent process spent during stats collection passes (all its threads).',
    registers: r,
  });
  return {
    registry,
    async render() {
      const pass = await collector.current();
      for (const m of [
        cpu,
        memTotal,
        memAvail,
        memFree,
        buffers,
        cached,
        fsSize,
        fsAvail,
        fsFree,
        rxB,
        txB,
        rxP,
        txP,
        boot,
        ...Object.values(pressure),
        sandboxes,
        passes,
        errors,
        wall,
        spent,
      ])
        m.reset();
      const n = pass.node;
      if (n) {
        n.cpuSeconds.forEach((modes, i) => {
          for (const [mode, v] of Object.entries(modes)) setCounter(cpu, { cpu: String(i), mode }, v);
        });
        memTotal.set(n.memory.totalBytes);
        memAvail.set(n.memory.availableBytes);
        memFree.set(n.memory.freeBytes);
        buffers.set(n.memory.buffersBytes);
        cached.set(n.memory.cachedBytes);
        for (const f of n.filesystems) {
          const l = { device: f.device, mountpoint: f.mountpoint, fstype: f.fstype };
          fsSize.set(l, f.sizeBytes);
          fsAvail.set(l, f.availBytes);
          fsFree.set(l, f.freeBytes);
        }
        for (const i of n.network) {
          setCounter(rxB, { device: i.device }, i.rxBytes);
          setCounter(txB, { device: i.device }, i.txBytes);
          setCounter(rxP, { device: i.device }, i.rxPackets);
          setCounter(txP, { device: i.device }, i.txPackets);
        }
        boot.set(n.bootTime);
        for (const k of ['cpu', 'memory', 'io'] as const) {
          const v = n.pressureStallMicros?.[k];
          setCounter(pressure[k], {}, v === undefined ? undefined : v / 1e6);
        }
      }
      const tiers = new Map<string, number>();
      for (const s of pass.containers)
        tiers.set(s.ref.runtimeClass, (tiers.get(s.ref.runtimeClass) ?? 0) + 1);
      for (const [t, count] of tiers) sandboxes.set({ runtime_class: t }, count);
      const t = collector.totals;
      setCounter(passes, {}, t.passes);
      setCounter(errors, {}, t.errors);
      setCounter(wall, {}, t.durationSeconds);
      setCounter(spent, {}, t.cpuSeconds);
      return registry.metrics();
    },
  };
}
