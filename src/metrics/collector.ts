// Samples every running sandbox and the node on an interval (10 s, as the kubelet's housekeeping does)
// and keeps the latest reading of each with the one before it, so rates (CPU cores) come from two real
// readings. Everything the agent serves — /metrics/cadvisor, /metrics/resource, /stats/summary — is
// rendered from the latest pass, so a scrape never reads the kernel or wakes a guest's worker.
import type { ContainerSample, NodeReading, SandboxRef, StatsReading } from './samples.ts';
import { readNode } from './node-stats.ts';

export interface CollectorOptions {
  nodeName: string;
  /** The sandboxes running now. */
  list: () => SandboxRef[];
  /** The node's own figures (default: the kernel's files). */
  node?: () => NodeReading;
  intervalMs?: number;
  /** Sandboxes read at once (each read is a few file reads, or a message to a wasm worker). */
  concurrency?: number;
  log?: { warn(o: object, m: string): void };
}

export interface CollectionPass {
  at: Date;
  /** Wall time the pass took, and the CPU time this process spent meanwhile (all threads). */
  durationSeconds: number;
  cpuSeconds: number;
  containers: ContainerSample[];
  node?: NodeReading;
  /** Node CPU cores busy between the previous pass and this one. */
  nodeCpuCores?: number;
  errors: number;
}

export class StatsCollector {
  private readonly opts: CollectorOptions;
  private readonly previous = new Map<string, { reading: StatsReading; startedAt: number }>();
  private previousNode?: NodeReading;
  private timer?: NodeJS.Timeout;
  private running?: Promise<CollectionPass>;
  latest?: CollectionPass;
  /** Totals for the agent's own /metrics. */
  readonly totals = { passes: 0, errors: 0, cpuSeconds: 0, durationSeconds: 0 };

  constructor(opts: CollectorOptions) {
    this.opts = opts;
  }

  start(): void {
    void this.collect();
    this.timer = setInterval(() => void this.collect(), this.opts.intervalMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass now (a pass already under way is joined, not doubled). */
  collect(): Promise<CollectionPass> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The latest pass, collecting one first if there is none yet. */
  async current(): Promise<CollectionPass> {
    return this.latest ?? this.collect();
  }

  private async pass(): Promise<CollectionPass> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const refs = this.opts.list();
    const containers: ContainerSample[] = [];
    const seen = new Set<string>();
    let errors = 0;
    const limit = this.opts.concurrency ?? 64;
    for (let i = 0; i < refs.length; i += limit) {
      const batch = refs.slice(i, i + limit);
      const readings = await Promise.allSettled(batch.map((r) => r.stats()));
      readings.forEach((res, j) => {
        const ref = batch[j];
        if (res.status === 'rejected') {
          // Ended between the listing and the read: it simply has no sample this time.
          errors++;
          return;
        }
        seen.add(ref.sandboxId);
        containers.push(this.derive(ref, res.value));
      });
    }
    for (const id of this.previous.keys()) if (!seen.has(id)) this.previous.delete(id);
    let node: NodeReading | undefined;
    let nodeCpuCores: number | undefined;
    try {
      node = (this.opts.node ?? readNode)();
      const prev = this.previousNode;
      if (prev) {
        const dt = (node.timestamp.getTime() - prev.timestamp.getTime()) / 1000;
        if (dt > 0) nodeCpuCores = Math.max(0, (node.cpuBusySeconds - prev.cpuBusySeconds) / dt);
      }
      this.previousNode = node;
    } catch (err) {
      errors++;
      this.opts.log?.warn({ err: (err as Error).message }, 'reading the node figures failed');
    }
    const cpu = process.cpuUsage(cpu0);
    const pass: CollectionPass = {
      at: new Date(),
      durationSeconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      containers,
      node,
      nodeCpuCores,
      errors,
    };
    this.totals.passes++;
    this.totals.errors += errors;
    this.totals.cpuSeconds += pass.cpuSeconds;
    this.totals.durationSeconds += pass.durationSeconds;
    this.latest = pass;
    return pass;
  }

  private derive(ref: SandboxRef, reading: StatsReading): ContainerSample {
    const prev = this.previous.get(ref.sandboxId);
    const startedAt = ref.startedAt ?? prev?.startedAt ?? reading.timestamp.getTime() / 1000;
    this.previous.set(ref.sandboxId, { reading, startedAt });
    const { stats: _read, ...identity } = ref;
    const sample: ContainerSample = { ref: identity, reading, startedAt };
    if (prev) {
      const dt = (reading.timestamp.getTime() - prev.reading.timestamp.getTime()) / 1000;
      if (dt > 0) {
        sample.cpuCores = Math.max(0, (reading.cpuNanos - prev.reading.cpuNanos) / 1e9 / dt);
        sample.windowSeconds = dt;
      }
    }
    return sample;
  }
}
