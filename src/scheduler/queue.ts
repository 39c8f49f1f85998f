// The scheduling queue, after kube-scheduler's: an active FIFO of pods to try, a set of pods that did not
// fit (parked until the cluster changes), and a backoff set (pods waiting out a delay before retrying).
// Every pod is in at most one of them; pods being bound are in none (the scheduler tracks them).

export interface QueuedPod {
  key: string;
  /** Latest version of the pod seen. */
  pod: any;
  /** Scheduling attempts that did not end in a binding. */
  attempts: number;
  /** When the last attempt ended (ms since epoch). */
  lastAttemptAt: number;
  /** The PodScheduled=False message last written for this pod, to write only changes. */
  lastMessage?: string;
  /** Place in the active line (internal). */
  seq?: number;
}

export interface QueueOptions {
  /** Delay before retrying a pod after its first failed attempt; doubles per attempt. Default 1 s. */
  initialBackoffMs?: number;
  /** Default 10 s. */
  maxBackoffMs?: number;
  now?: () => number;
}

export class SchedulingQueue {
  /** Active pods by key; their order lives in `order` (a Map's head would fill with tombstones). */
  private readonly active = new Map<string, QueuedPod>();
  private order: { entry: QueuedPod; seq: number }[] = [];
  private seq = 0;
  private head = 0;
  private readonly unschedulable = new Map<string, QueuedPod>();
  private readonly backoff = new Map<string, QueuedPod>();
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly now: () => number;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  get activeCount(): number {
    return this.active.size;
  }

  get unschedulableCount(): number {
    return this.unschedulable.size;
  }

  get backoffCount(): number {
    return this.backoff.size;
  }

  has(key: string): boolean {
    return this.active.has(key) || this.unschedulable.has(key) || this.backoff.has(key);
  }

  find(key: string): QueuedPod | undefined {
    return this.active.get(key) ?? this.unschedulable.get(key) ?? this.backoff.get(key);
  }

  /** A pending pod appeared or changed: queue it if new, else just refresh the copy wherever it waits. */
  addOrUpdate(key: string, pod: any): void {
    const existing = this.find(key);
    if (existing) {
      existing.pod = pod;
      return;
    }
    this.pushActive({ key, pod, attempts: 0, lastAttemptAt: 0 });
  }

  private pushActive(entry: QueuedPod): void {
    entry.seq = ++this.seq;
    this.active.set(entry.key, entry);
    this.order.push({ entry, seq: entry.seq });
  }

  /** Put back a pod that was taken out (e.g. for binding), keeping its history. */
  requeue(entry: QueuedPod, where: 'active' | 'unschedulable' | 'backoff'): void {
    this.remove(entry.key);
    if (where === 'active') this.pushActive(entry);
    else (where === 'unschedulable' ? this.unschedulable : this.backoff).set(entry.key, entry);
  }

  remove(key: string): QueuedPod | undefined {
    const e = this.find(key);
    this.active.delete(key);
    this.unschedulable.delete(key);
    this.backoff.delete(key);
    return e;
  }

  /** Take the oldest active pod. */
  pop(): QueuedPod | undefined {
    while (this.head < this.order.length) {
      const { entry, seq } = this.order[this.head++];
      // Skip entries removed (or re-queued further back) since this place in line was taken.
      if (this.active.get(entry.key) !== entry || entry.seq !== seq) continue;
      this.active.delete(entry.key);
      this.compact();
      return entry;
    }
    this.order = [];
    this.head = 0;
    return undefined;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  backoffDelay(entry: QueuedPod): number {
    if (entry.attempts <= 0) return 0;
    return Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(entry.attempts - 1, 30));
  }

  private readyAt(entry: QueuedPod): number {
    return entry.lastAttemptAt + this.backoffDelay(entry);
  }

  /**
   * The cluster changed in a way that may let parked pods fit: move them on, to active if their backoff
   * has run out, else to the backoff set. Returns how many were moved.
   */
  moveAllUnschedulable(): number {
    const now = this.now();
    let moved = 0;
    for (const [key, entry] of this.unschedulable) {
      this.unschedulable.delete(key);
      if (this.readyAt(entry) <= now) this.pushActive(entry);
      else this.backoff.set(key, entry);
      moved++;
    }
    return moved;
  }

  /** Move pods whose backoff has run out to active. Returns ms until the next one is due, or undefined. */
  flushBackoff(): number | undefined {
    const now = this.now();
    let next: number | undefined;
    for (const [key, entry] of this.backoff) {
      const at = this.readyAt(entry);
      if (at <= now) {
        this.backoff.delete(key);
        this.pushActive(entry);
      } else if (next === undefined || at - now < next) next = at - now;
    }
    return next;
  }
}
