// Reads every node agent's /stats/summary (through the AgentDialer, with the server's client
// certificate, as kube-apiserver reaches kubelets) on an interval — what metrics-server does for
// metrics.k8s.io — keeps the latest summary of each node, and records per-pod and per-node figures
// into the history (rates and ratios from two successive summaries).
import type { IncomingMessage } from 'node:http';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { AgentDialer } from './agent-endpoint.ts';
import { MetricsHistory, nodeEntity, podEntity } from './metrics-history.ts';

const nodeKind = kindFor('v1', 'Node')!;

/** The parts of the kubelet's stats/v1alpha1 Summary (plus Strata's `strata` fields) read here. */
export interface CpuStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}
export interface MemoryStats {
  time: string;
  workingSetBytes?: number;
  rssBytes?: number;
  availableBytes?: number;
}
export interface PressureMicros {
  cpu?: number;
  memory?: number;
  io?: number;
}
export interface ContainerStatsSummary {
  name: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
  strata?: {
    runtimeClass?: string;
    cfs?: { periods: number; throttledPeriods: number; throttledNanos: number };
    fs?: { readBytes: number; writeBytes: number };
    pressureStallMicros?: PressureMicros;
    memoryLimitBytes?: number;
  };
}
export interface PodStatsSummary {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerStatsSummary[];
  cpu?: CpuStats;
  memory?: MemoryStats;
  network?: { time: string; rxBytes?: number; txBytes?: number };
}
export interface Summary {
  node: {
    nodeName: string;
    cpu?: CpuStats;
    memory?: MemoryStats;
    strata?: { memoryCapacityBytes?: number; cpuCount?: number; pressureStallMicros?: PressureMicros };
  };
  pods: PodStatsSummary[];
}

export interface NodeScrape {
  node: string;
  /** When the summary arrived (epoch ms). */
  at: number;
  summary?: Summary;
  error?: string;
}

/** Cumulative counters of a pod at the previous summary, for rates. */
interface PodCounters {
  t: number;
  periods: number;
  throttled: number;
  rx?: number;
  tx?: number;
  read: number;
  write: number;
  pressure: PressureMicros;
}

export interface PollerOptions {
  objects: ObjectStore;
  agents: AgentDialer;
  history?: MetricsHistory;
  /** Default 10 s. */
  intervalMs?: number;
  /** A summary request gives up after this. Default 5 s. */
  timeoutMs?: number;
  log?: { warn(o: object, m: string): void };
}

export class MetricsPoller {
  readonly history: MetricsHistory;
  readonly intervalMs: number;
  private readonly opts: PollerOptions;
  private readonly scrapes = new Map<string, NodeScrape>();
  private readonly counters = new Map<string, PodCounters>();
  private readonly nodeCounters = new Map<string, { t: number; pressure: PressureMicros }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastPoll = 0;

  constructor(opts: PollerOptions) {
    this.opts = opts;
    this.history = opts.history ?? new MetricsHistory();
    this.intervalMs = opts.intervalMs ?? 10_000;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll().catch(() => {}), this.intervalMs);
    this.timer.unref();
    void this.poll().catch(() => {});
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass over every node now (joins a pass under way). */
  poll(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The latest scrapes, polling first when the last pass is older than two intervals (just started). */
  async fresh(): Promise<NodeScrape[]> {
    if (Date.now() - this.lastPoll > 2 * this.intervalMs) await this.poll();
    return [...this.scrapes.values()];
  }

  private async pass(): Promise<void> {
    const { items } = await this.opts.objects.list(nodeKind, undefined);
    const names = new Set(items.map((n: any) => n.metadata.name as string));
    for (const k of this.scrapes.keys()) if (!names.has(k)) this.scrapes.delete(k);
    const live = new Set<string>();
    await Promise.all(
      items.map(async (node: any) => {
        const name = node.metadata.name as string;
        try {
          const summary = await this.fetchSummary(node);
          this.scrapes.set(name, { node: name, at: Date.now(), summary });
          for (const uid of this.record(summary)) live.add(uid);
        } catch (err) {
          // A node without a reachable agent keeps its last summary, marked with the error.
          const prev = this.scrapes.get(name);
          this.scrapes.set(name, { ...prev, node: name, at: prev?.at ?? 0, error: (err as Error).message });
        }
      }),
    );
    // Pods no agent reports any more lose their counters (their history ages out with the retention).
    for (const uid of this.counters.keys()) if (!live.has(uid)) this.counters.delete(uid);
    this.lastPoll = Date.now();
    this.history.prune();
  }

  private async fetchSummary(node: unknown): Promise<Summary> {
    const abort = AbortSignal.timeout(this.opts.timeoutMs ?? 5000);
    const res: IncomingMessage = await this.opts.agents.request(node, '/stats/summary', { signal: abort });
    const parts: Buffer[] = [];
    for await (const d of res) parts.push(d as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    if ((res.statusCode ?? 500) >= 400)
      throw new Error(`agent answered ${res.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as Summary;
  }

  /** Per-pod and per-node figures into the history. */
  private record(s: Summary): Set<string> {
    const now = Date.now();
    const seen = new Set<string>();
    for (const p of s.pods) {
      const uid = p.podRef.uid;
      seen.add(uid);
      const sum = (f: (c: ContainerStatsSummary) => number | undefined): number =>
        p.containers.reduce((a, c) => a + (f(c) ?? 0), 0);
      const maxPressure = (k: keyof PressureMicros): number | undefined => {
        const vs = p.containers
          .map((c) => c.strata?.pressureStallMicros?.[k])
          .filter((v): v is number => v !== undefined);
        return vs.length ? Math.max(...vs) : undefined;
      };
      const cur: PodCounters = {
        t: now,
        periods: sum((c) => c.strata?.cfs?.periods),
        throttled: sum((c) => c.strata?.cfs?.throttledPeriods),
        rx: p.network?.rxBytes,
        tx: p.network?.txBytes,
        read: sum((c) => c.strata?.fs?.readBytes),
        write: sum((c) => c.strata?.fs?.writeBytes),
        pressure: { cpu: maxPressure('cpu'), memory: maxPressure('memory'), io: maxPressure('io') },
      };
      const figures: Record<string, number> = {};
      if (p.cpu?.usageNanoCores !== undefined) figures.cpu = p.cpu.usageNanoCores / 1e9;
      if (p.memory?.workingSetBytes !== undefined) figures.memory = p.memory.workingSetBytes;
      const prev = this.counters.get(uid);
      const dt = prev ? (now - prev.t) / 1000 : 0;
      if (prev && dt > 0) {
        const rate = (a: number | undefined, b: number | undefined) =>
          a !== undefined && b !== undefined && a >= b ? (a - b) / dt : undefined;
        // Deltas, not a ratio: a window's throttling is Σthrottled ÷ Σperiods.
        if (cur.periods >= prev.periods) {
          figures.cfsPeriods = cur.periods - prev.periods;
          figures.cfsThrottledPeriods = Math.max(0, cur.throttled - prev.throttled);
        }
        const put = (k: string, v: number | undefined) => v !== undefined && (figures[k] = v);
        put('networkRx', rate(cur.rx, prev.rx));
        put('networkTx', rate(cur.tx, prev.tx));
        put('fsRead', rate(cur.read, prev.read));
        put('fsWrite', rate(cur.write, prev.write));
        for (const k of ['cpu', 'memory', 'io'] as const) {
          // µs stalled per second of wall time → the share of time some task waited.
          const r = rate(cur.pressure[k], prev.pressure[k]);
          if (r !== undefined) figures[`${k}Pressure`] = r / 1e6;
        }
      }
      this.counters.set(uid, cur);
      this.history.record(podEntity(p.podRef.namespace, p.podRef.name), now, figures);
    }
    const n = s.node;
    const nf: Record<string, number> = {};
    if (n.cpu?.usageNanoCores !== undefined) nf.cpu = n.cpu.usageNanoCores / 1e9;
    if (n.memory?.workingSetBytes !== undefined) nf.memory = n.memory.workingSetBytes;
    const np = n.strata?.pressureStallMicros;
    const prevNode = this.nodeCounters.get(n.nodeName);
    if (np && prevNode) {
      const dt = (now - prevNode.t) / 1000;
      for (const k of ['cpu', 'memory', 'io'] as const) {
        const a = np[k];
        const b = prevNode.pressure[k];
        if (dt > 0 && a !== undefined && b !== undefined && a >= b) nf[`${k}Pressure`] = (a - b) / 1e6 / dt;
      }
    }
    if (np) this.nodeCounters.set(n.nodeName, { t: now, pressure: np });
    this.history.record(nodeEntity(n.nodeName), now, nf);
    return seen;
  }
}
