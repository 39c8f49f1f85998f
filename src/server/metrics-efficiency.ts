// Efficiency and bottlenecks of a pod over a recent window (default 5 min) of its history: CPU use
// against its requests and limits, the share of CFS periods it was throttled, memory working set
// against its limit (OOM risk), I/O and CPU pressure (the pod's own PSI on cgroup v2, else its node's
// /proc/pressure), network rates. Efficiency is usage ÷ reservation (what the pod requested, which the
// scheduler set aside for it); the verdict names the worst bottleneck with its evidence and what to do;
// right-sizing hints compare requests with the observed peak.
import { formatCpu, formatMemory, parseCpu, parseMemory } from '../api/index.ts';
import { nodeEntity, podEntity, type MetricsHistory, type Point } from './metrics-history.ts';

/** Throttled in at least this share of CFS periods: a bottleneck. */
export const THROTTLED_RATIO = 0.25;
/** Working set at or above this share of the limit: an OOM risk. */
export const OOM_RISK_RATIO = 0.9;
/** CPU use at or above this share of the limit, where the tier has no CFS figures (wasm): saturated. */
export const CPU_SATURATED_RATIO = 0.9;
/** Tasks stalled on I/O this share of the time: I/O pressure. */
export const IO_PRESSURE_RATIO = 0.1;
/** Peak use below this share of the request: over-provisioned. */
export const OVERPROVISIONED_RATIO = 0.5;
/** Right-sizing suggestions leave this headroom above the peak. */
const HEADROOM = 1.25;

export interface Bottleneck {
  kind: 'cpu-throttling' | 'cpu-saturation' | 'oom-risk' | 'io-pressure' | 'memory-pressure';
  evidence: string;
  advice: string;
}

export interface PodEfficiency {
  namespace: string;
  name: string;
  node?: string;
  runtimeClass?: string;
  windowSeconds: number;
  /** Points of history the figures rest on. */
  samples: number;
  cpu: {
    usageCores?: number;
    peakCores?: number;
    requestCores?: number;
    limitCores?: number;
    /** usage ÷ request, usage ÷ limit */
    ofRequest?: number;
    ofLimit?: number;
    /** Σthrottled ÷ Σperiods over the window. */
    throttledRatio?: number;
  };
  memory: {
    workingSetBytes?: number;
    peakBytes?: number;
    requestBytes?: number;
    limitBytes?: number;
    ofRequest?: number;
    ofLimit?: number;
  };
  io: {
    readBytesPerSecond?: number;
    writeBytesPerSecond?: number;
    pressure?: number;
    pressureSource?: 'pod' | 'node';
  };
  network: { receiveBytesPerSecond?: number; transmitBytesPerSecond?: number };
  /** usage ÷ reservation, averaged over the resources the pod requested (undefined: it requested none). */
  efficiency?: number;
  /** One line: the worst bottleneck, "over-provisioned", "ok", or "no data yet". */
  verdict: string;
  bottlenecks: Bottleneck[];
  hints: string[];
}

const pct = (r: number): string => `${Math.round(r * 100)} %`;
const mean = (ps: Point[]): number | undefined =>
  ps.length ? ps.reduce((a, p) => a + p.v, 0) / ps.length : undefined;
const peak = (ps: Point[]): number | undefined => (ps.length ? Math.max(...ps.map((p) => p.v)) : undefined);
const total = (ps: Point[]): number => ps.reduce((a, p) => a + p.v, 0);

function sumResources(pod: any, which: 'requests' | 'limits') {
  let cpu = 0;
  let memory = 0;
  let cpuAll = true;
  let memAll = true;
  let cpuAny = false;
  let memAny = false;
  for (const c of pod.spec?.containers ?? []) {
    const r = c.resources?.[which] ?? {};
    if (r.cpu !== undefined) {
      cpu += parseCpu(r.cpu) / 1000;
      cpuAny = true;
    } else cpuAll = false;
    if (r.memory !== undefined) {
      memory += parseMemory(r.memory);
      memAny = true;
    } else memAll = false;
  }
  // A limit counts for the pod only when every container has one (otherwise the pod is unbounded);
  // requests add up whatever each container asked for.
  const ok = (any: boolean, all: boolean) => (which === 'limits' ? all && any : any);
  return { cpu: ok(cpuAny, cpuAll) ? cpu : undefined, memory: ok(memAny, memAll) ? memory : undefined };
}

function window(history: MetricsHistory, entity: string, figure: string, since: number): Point[] {
  return history.query({ entity, figure, since })[0]?.points ?? [];
}

export function analysePod(
  pod: any,
  history: MetricsHistory,
  opts: { windowSeconds?: number; now?: number } = {},
): PodEfficiency {
  const windowSeconds = opts.windowSeconds ?? 300;
  const since = (opts.now ?? Date.now()) - windowSeconds * 1000;
  const ns = pod.metadata.namespace;
  const name = pod.metadata.name;
  const entity = podEntity(ns, name);
  const q = (f: string) => window(history, entity, f, since);
  const cpuPts = q('cpu');
  const memPts = q('memory');
  const requests = sumResources(pod, 'requests');
  const limits = sumResources(pod, 'limits');
  const minutes = windowSeconds % 60 === 0 ? `${windowSeconds / 60} min` : `${windowSeconds} s`;

  const usage = mean(cpuPts);
  const periods = total(q('cfsPeriods'));
  const throttled = total(q('cfsThrottledPeriods'));
  const cpu: PodEfficiency['cpu'] = {
    usageCores: usage,
    peakCores: peak(cpuPts),
    requestCores: requests.cpu,
    limitCores: limits.cpu,
    ...(usage !== undefined && requests.cpu ? { ofRequest: usage / requests.cpu } : {}),
    ...(usage !== undefined && limits.cpu ? { ofLimit: usage / limits.cpu } : {}),
    ...(periods > 0 ? { throttledRatio: throttled / periods } : {}),
  };
  const ws = memPts.at(-1)?.v;
  const memory: PodEfficiency['memory'] = {
    workingSetBytes: ws,
    peakBytes: peak(memPts),
    requestBytes: requests.memory,
    limitBytes: limits.memory,
    ...(ws !== undefined && requests.memory ? { ofRequest: ws / requests.memory } : {}),
    ...(ws !== undefined && limits.memory ? { ofLimit: ws / limits.memory } : {}),
  };
  // The pod's own PSI where its cgroup has one (v2); otherwise its node's, which says less.
  let ioPressure = mean(q('ioPressure'));
  let pressureSource: 'pod' | 'node' | undefined = ioPressure !== undefined ? 'pod' : undefined;
  if (ioPressure === undefined && pod.spec?.nodeName) {
    ioPressure = mean(window(history, nodeEntity(pod.spec.nodeName), 'ioPressure', since));
    if (ioPressure !== undefined) pressureSource = 'node';
  }
  const io: PodEfficiency['io'] = {
    readBytesPerSecond: mean(q('fsRead')),
    writeBytesPerSecond: mean(q('fsWrite')),
    ...(ioPressure !== undefined ? { pressure: ioPressure, pressureSource } : {}),
  };
  const network = {
    receiveBytesPerSecond: mean(q('networkRx')),
    transmitBytesPerSecond: mean(q('networkTx')),
  };

  const bottlenecks: Bottleneck[] = [];
  if (cpu.throttledRatio !== undefined && cpu.throttledRatio >= THROTTLED_RATIO) {
    bottlenecks.push({
      kind: 'cpu-throttling',
      evidence: `CPU-throttled ${pct(cpu.throttledRatio)} of periods in the last ${minutes}`,
      advice: 'raise limits.cpu or scale out',
    });
  } else if (
    cpu.throttledRatio === undefined &&
    limits.cpu &&
    cpu.peakCores !== undefined &&
    cpu.peakCores >= CPU_SATURATED_RATIO * limits.cpu
  ) {
    bottlenecks.push({
      kind: 'cpu-saturation',
      evidence: `CPU at ${pct(cpu.peakCores / limits.cpu)} of limits.cpu (${formatCpu(limits.cpu * 1000)}) in the last ${minutes}`,
      advice: 'raise limits.cpu or scale out',
    });
  }
  const memPeak = memory.peakBytes;
  if (limits.memory && memPeak !== undefined && memPeak >= OOM_RISK_RATIO * limits.memory) {
    bottlenecks.push({
      kind: 'oom-risk',
      evidence: `memory working set reached ${pct(memPeak / limits.memory)} of limits.memory (${formatMemory(limits.memory)}) in the last ${minutes}: OOM risk`,
      advice: 'raise limits.memory or reduce the working set',
    });
  }
  if (ioPressure !== undefined && ioPressure >= IO_PRESSURE_RATIO) {
    bottlenecks.push({
      kind: 'io-pressure',
      evidence: `tasks stalled on I/O ${pct(ioPressure)} of the time in the last ${minutes}${pressureSource === 'node' ? ' (node-wide PSI: this pod is on cgroup v1)' : ''}`,
      advice: 'move the data to faster storage, cache reads, or spread the pods over nodes',
    });
  }
  const memPressure = mean(q('memoryPressure'));
  if (memPressure !== undefined && memPressure >= IO_PRESSURE_RATIO) {
    bottlenecks.push({
      kind: 'memory-pressure',
      evidence: `tasks stalled on memory ${pct(memPressure)} of the time in the last ${minutes}`,
      advice: 'raise limits.memory: the pod is reclaiming its own cache',
    });
  }

  // Efficiency: usage ÷ reservation, over the resources the pod reserved.
  const shares: number[] = [];
  if (cpu.ofRequest !== undefined) shares.push(cpu.ofRequest);
  if (memory.ofRequest !== undefined) shares.push(memory.ofRequest);
  const efficiency = shares.length ? shares.reduce((a, b) => a + b, 0) / shares.length : undefined;

  const hints: string[] = [];
  const enough = cpuPts.length >= 3;
  if (enough && cpu.peakCores !== undefined) {
    const suggested = Math.max(0.001, cpu.peakCores * HEADROOM);
    if (requests.cpu === undefined)
      hints.push(
        `set requests.cpu: ${formatCpu(Math.max(1, Math.round(suggested * 1000)))} (peak ${formatCpu(Math.round(cpu.peakCores * 1000))} + 25 %)`,
      );
    else if (cpu.peakCores < OVERPROVISIONED_RATIO * requests.cpu)
      hints.push(
        `lower requests.cpu ${formatCpu(requests.cpu * 1000)} → ${formatCpu(Math.max(1, Math.round(suggested * 1000)))} (peak ${formatCpu(Math.round(cpu.peakCores * 1000))} + 25 %)`,
      );
  }
  if (enough && memPeak !== undefined) {
    const mi = 1024 * 1024;
    const suggested = Math.max(mi, Math.ceil((memPeak * HEADROOM) / mi) * mi);
    if (requests.memory === undefined)
      hints.push(
        `set requests.memory: ${formatMemory(suggested)} (peak ${formatMemory(Math.ceil(memPeak / 1024) * 1024)} + 25 %)`,
      );
    else if (memPeak < OVERPROVISIONED_RATIO * requests.memory)
      hints.push(
        `lower requests.memory ${formatMemory(requests.memory)} → ${formatMemory(suggested)} (peak + 25 %)`,
      );
  }

  let verdict: string;
  if (!cpuPts.length && !memPts.length) verdict = 'no data yet';
  else if (bottlenecks.length) verdict = `${bottlenecks[0].evidence}: ${bottlenecks[0].advice}`;
  else if (efficiency !== undefined && efficiency < OVERPROVISIONED_RATIO && enough)
    verdict = `over-provisioned: uses ${pct(efficiency)} of what it reserves`;
  else verdict = 'ok';
  return {
    namespace: ns,
    name,
    node: pod.spec?.nodeName,
    runtimeClass: pod.spec?.runtimeClassName,
    windowSeconds,
    samples: cpuPts.length,
    cpu,
    memory,
    io,
    network,
    efficiency,
    verdict,
    bottlenecks,
    hints,
  };
}
