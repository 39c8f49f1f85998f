// A work queue of keys in the manner of client-go's: a key queued many times is processed once; a key
// is never processed by two workers at once (if it is queued again while being processed, it runs again
// afterwards); failed keys come back after a per-key exponential backoff; addAfter() re-checks later.
import { type Log, defaultLog, errorMessage } from '../lib/log.ts';

export interface WorkQueueOptions {
  /** Keys processed concurrently (distinct keys only). Default 4. */
  concurrency?: number;
  /** First retry delay after a failure; doubles per consecutive failure. Default 50 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  log?: Log;
  name?: string;
}

/**
 * Where queues report depth, adds and timings (client-go's workqueue MetricsProvider): one per process,
 * set by the composition root (src/node/control-plane.ts); undefined = nowhere.
 */
export interface WorkQueueMetrics {
  added(queue: string): void;
  depth(queue: string, depth: number): void;
  /** A key was processed: how long it waited in the queue and how long processing took, seconds. */
  processed(queue: string, waitedSeconds: number, workSeconds: number, failed: boolean): void;
}

let metricsProvider: WorkQueueMetrics | undefined;

export function setWorkQueueMetrics(provider: WorkQueueMetrics | undefined): void {
  metricsProvider = provider;
}

export class WorkQueue {
  private readonly process: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Log;
  private readonly name: string;
  /** Keys waiting to be processed, in order (a Set keeps insertion order and dedupes). */
  private readonly queue = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys queued again while being processed. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Read at each use: the provider may be set after the queue was made (the control plane's start). */
  private get metrics(): WorkQueueMetrics | undefined {
    return metricsProvider;
  }
  /** When each queued key was (first) added, for the time it waited. */
  private readonly addedAt = new Map<string, number>();

  constructor(process: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.process = process;
    this.concurrency = opts.concurrency ?? 4;
    this.initialBackoffMs = opts.initialBackoffMs ?? 50;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.log = opts.log ?? defaultLog;
    this.name = opts.name ?? 'workqueue';
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.metrics && !this.queue.has(key)) {
      this.addedAt.set(key, performance.now());
      this.metrics.added(this.name);
    }
    this.queue.add(key);
    this.metrics?.depth(this.name, this.queue.size);
    this.pump();
  }

  /** Queue the key after a delay (the earliest pending delay for a key wins). */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** Requeue with backoff after a failure. */
  addRateLimited(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.addAfter(key, Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(n - 1, 30)));
  }

  /** Reset the backoff of a key (after it succeeded). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.size;
  }

  /** Resolves when nothing is queued or processing (delayed keys do not count). */
  whenIdle(): Promise<void> {
    if (this.queue.size === 0 && this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop taking work and wait for keys being processed to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    this.addedAt.clear();
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }

  private pump(): void {
    while (!this.stopped && this.processing.size < this.concurrency && this.queue.size > 0) {
      const key = this.queue.values().next().value as string;
      this.queue.delete(key);
      this.processing.add(key);
      this.metrics?.depth(this.name, this.queue.size);
      const run = this.runOne(key);
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }
    if (this.queue.size === 0 && this.processing.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async runOne(key: string): Promise<void> {
    const start = performance.now();
    const queuedAt = this.addedAt.get(key) ?? start;
    this.addedAt.delete(key);
    let failed = false;
    try {
      await this.process(key);
      this.failures.delete(key);
    } catch (err) {
      failed = true;
      this.log.warn({ key, err: errorMessage(err) }, `${this.name}: reconcile failed; retrying`);
      if (!this.stopped) this.addRateLimited(key);
    } finally {
      this.metrics?.processed(
        this.name,
        (start - queuedAt) / 1000,
        (performance.now() - start) / 1000,
        failed,
      );
      this.processing.delete(key);
      if (this.dirty.delete(key) && !this.stopped) this.queue.add(key);
      this.pump();
    }
  }
}
