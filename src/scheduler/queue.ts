// The scheduling queue, after kube-scheduler's: an active queue of pods to try — highest spec.priority
// first, FIFO among equals — a set of pods that did not fit (parked until the cluster changes), and a
// backoff set (pods waiting out a delay before retrying). Every pod is in at most one of them; pods
// being bound are in none (the scheduler tracks them).

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

/** spec.priority of a pod (0 when unset). */
export function priorityOf(pod: any): number {
  const p = pod?.spec?.priority;
  return typeof p === 'number' ? p : 0;
}

interface Slot {
  entry: QueuedPod;
  seq: number;
  priority: number;
}

/** Before `b` in line: higher priority, then earlier. */
function ahead(a: Slot, b: Slot): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

/** A binary heap of slots; stale slots (removed or re-queued entries) are skipped on pop. */
class SlotHeap {
  items: Slot[] = [];

  get size(): number {
    return this.items.length;
  }

  push(s: Slot): void {
    const a = this.items;
    a.push(s);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!ahead(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): Slot | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && ahead(a[l], a[m])) m = l;
        if (r < a.length && ahead(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export interface QueueOptions {
  /** Delay before retrying a pod after its first failed attempt; doubles per attempt. Default 1 s. */
  initialBackoffMs?: number;
  /** Default 10 s. */
  maxBackoffMs?: number;
  now?: () => number;
}

export class SchedulingQueue {
  /** Active pods by key; their order lives in `heap` (which may hold stale slots, skipped on pop). */
  private readonly active = new Map<string, QueuedPod>();
  private heap = new SlotHeap();
  private seq = 0;
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
      const moved = this.active.get(key) === existing && priorityOf(existing.pod) !== priorityOf(pod);
      existing.pod = pod;
      // Priority is fixed at creation in practice; if it does change, take the place it now deserves.
      if (moved) this.heap.push({ entry: existing, seq: existing.seq!, priority: priorityOf(pod) });
      return;
    }
    this.pushActive({ key, pod, attempts: 0, lastAttemptAt: 0 });
  }

  private pushActive(entry: QueuedPod): void {
    entry.seq = ++this.seq;
    this.active.set(entry.key, entry);
    this.heap.push({ entry, seq: entry.seq, priority: priorityOf(entry.pod) });
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

  /** Take the active pod of highest priority, the oldest among equals. */
  pop(): QueuedPod | undefined {
    for (let slot = this.heap.pop(); slot; slot = this.heap.pop()) {
      const { entry, seq, priority } = slot;
      // Skip slots of entries removed, re-queued further back or re-prioritised since the slot was taken.
      if (this.active.get(entry.key) !== entry || entry.seq !== seq || priority !== priorityOf(entry.pod))
        continue;
      this.active.delete(entry.key);
      this.compact();
      return entry;
    }
    return undefined;
  }

  /** Drop stale slots once they outnumber the live ones. */
  private compact(): void {
    if (this.heap.size <= 1024 || this.heap.size <= 2 * this.active.size) return;
    const heap = new SlotHeap();
    for (const entry of this.active.values())
      heap.push({ entry, seq: entry.seq!, priority: priorityOf(entry.pod) });
    this.heap = heap;
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
