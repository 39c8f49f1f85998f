// A list+watch cache in the manner of client-go's reflector + informer: list everything once, watch
// from the list's resourceVersion, keep a map of the latest object per key, tell handlers what changed.
// When the watch ends it resumes from the last resourceVersion seen; when the server says that version is
// too old (410 Gone), or anything else fails, it relists (with exponential backoff) and diffs the fresh
// list against the cache so handlers still see exactly one add/update/delete per real change.
//
// Deliberately transport-agnostic and free of Strata imports: the control plane feeds it from the
// ObjectStore, the node agent from the HTTP API client.

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface InformerWatchEvent<T> {
  type: InformerEventType;
  object: T;
}

export interface ListWatch<T> {
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  /**
   * Deliver every change after `resourceVersion`. `onClose` is called at most once when the watch ends
   * by itself (with an error for failures; a 410-style error means "relist"). Not called after cancel().
   */
  watch(
    resourceVersion: string,
    onEvent: (ev: InformerWatchEvent<T>) => void,
    onClose: (err?: Error) => void,
  ): Promise<{ cancel(): void }>;
}

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T> {
  /** Cache key of an object. Default: `namespace/name`, or `name` for cluster-scoped objects. */
  keyOf?: (obj: T) => string;
  /** The object's resourceVersion. Default: `metadata.resourceVersion`. */
  resourceVersionOf?: (obj: T) => string | undefined;
  /** First retry delay after a failed list or watch; doubles up to maxBackoffMs. Default 200 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** Where handler exceptions and list/watch failures go. Default: console.warn. */
  onError?: (err: unknown, context: string) => void;
}

interface ObjectWithMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones (client-go's MetaNamespaceKeyFunc). */
export function metaNamespaceKey(obj: unknown): string {
  const meta = (obj as ObjectWithMeta)?.metadata;
  const name = meta?.name ?? '';
  return meta?.namespace ? `${meta.namespace}/${name}` : name;
}

function defaultResourceVersion(obj: unknown): string | undefined {
  return (obj as ObjectWithMeta)?.metadata?.resourceVersion;
}

/** True for "your resourceVersion is too old" (HTTP 410 Gone / Kubernetes reason Expired). */
export function isTooOldError(err: unknown): boolean {
  const e = err as any;
  if (!e || typeof e !== 'object') return false;
  return e.code === 410 || e.statusCode === 410 || e.status?.code === 410 || e.status === 410;
}

export class Informer<T> {
  private readonly lw: ListWatch<T>;
  private readonly keyOf: (obj: T) => string;
  private readonly rvOf: (obj: T) => string | undefined;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly onError: (err: unknown, context: string) => void;
  private readonly items = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private lastResourceVersion = '';
  private synced = false;
  private started = false;
  private stopped = false;
  /** Bumped on every (re)list and on stop, so callbacks of an abandoned watch are ignored. */
  private epoch = 0;
  private currentWatch: { cancel(): void } | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private backoffMs: number;
  private syncWaiters: ((synced: boolean) => void)[] = [];

  constructor(lw: ListWatch<T>, opts: InformerOptions<T> = {}) {
    this.lw = lw;
    this.keyOf = opts.keyOf ?? metaNamespaceKey;
    this.rvOf = opts.resourceVersionOf ?? defaultResourceVersion;
    this.initialBackoffMs = opts.initialBackoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.onError = opts.onError ?? ((err, context) => console.warn(`informer: ${context}:`, err));
    this.backoffMs = this.initialBackoffMs;
  }

  /**
   * Register handlers. Like a shared informer, handlers added after the first sync are told about every
   * cached object through onAdd right away. Returns a function that removes them.
   */
  addHandler(handlers: InformerHandlers<T>): () => void {
    this.handlers.push(handlers);
    if (this.synced && handlers.onAdd) {
      for (const obj of this.items.values()) this.call(() => handlers.onAdd!(obj), 'onAdd');
    }
    return () => {
      const i = this.handlers.indexOf(handlers);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Start listing and watching. Idempotent. Returns at once; see waitForSync(). */
  start(): this {
    if (this.started || this.stopped) return this;
    this.started = true;
    void this.relist();
    return this;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.epoch++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.currentWatch?.cancel();
    this.currentWatch = undefined;
    for (const resolve of this.syncWaiters.splice(0)) resolve(false);
  }

  /** The first list has been applied to the cache. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if the informer is stopped first. */
  waitForSync(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Every cached object (the latest version seen of each). */
  list(): T[] {
    return [...this.items.values()];
  }

  /** Iterate the cache without copying it. */
  values(): IterableIterator<T> {
    return this.items.values();
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** The resourceVersion the cache reflects (of the last list, event or bookmark). */
  get resourceVersion(): string {
    return this.lastResourceVersion;
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    const epoch = ++this.epoch;
    this.currentWatch?.cancel();
    this.currentWatch = undefined;
    let listed: { items: T[]; resourceVersion: string };
    try {
      listed = await this.lw.list();
    } catch (err) {
      if (epoch !== this.epoch) return;
      this.onError(err, 'list failed');
      this.retryLater(() => this.relist());
      return;
    }
    if (epoch !== this.epoch) return;
    this.replace(listed.items);
    this.lastResourceVersion = listed.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve(true);
    }
    await this.watchFrom(epoch);
  }

  private async watchFrom(epoch: number): Promise<void> {
    let closed = false;
    let delivered = false;
    const onEvent = (ev: InformerWatchEvent<T>) => {
      if (epoch !== this.epoch || closed) return;
      delivered = true;
      this.apply(ev);
      this.backoffMs = this.initialBackoffMs;
    };
    const onClose = (err?: Error) => {
      if (epoch !== this.epoch || closed) return;
      closed = true;
      this.currentWatch = undefined;
      if (err) {
        if (!isTooOldError(err)) this.onError(err, 'watch closed');
        // Too old: relist at once; other failures: relist after a pause.
        if (isTooOldError(err)) void this.relist();
        else this.retryLater(() => this.relist());
      } else {
        // A clean end (server timeout, stream closed): resume from where we are; at once if the watch
        // was useful, after a pause if it ended without delivering anything (don't spin).
        this.retryLater(() => this.rewatch(), delivered ? 0 : undefined);
      }
    };
    try {
      const w = await this.lw.watch(this.lastResourceVersion, onEvent, onClose);
      if (epoch !== this.epoch || closed) {
        if (!closed) w.cancel();
        return;
      }
      this.currentWatch = w;
    } catch (err) {
      if (epoch !== this.epoch) return;
      if (isTooOldError(err)) {
        void this.relist();
      } else {
        this.onError(err, 'watch failed');
        this.retryLater(() => this.relist());
      }
    }
  }

  private rewatch(): void {
    if (this.stopped) return;
    void this.watchFrom(++this.epoch);
  }

  private retryLater(fn: () => void, delayMs = this.backoffMs): void {
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      fn();
    }, delayMs);
    this.retryTimer.unref?.();
    if (delayMs > 0) this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
  }

  /** Apply a fresh list: adds, updates (resourceVersion changed) and deletes against the cache. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = this.keyOf(obj);
      seen.add(key);
      const old = this.items.get(key);
      this.items.set(key, obj);
      if (old === undefined) this.emitAdd(obj);
      else if (this.rvOf(old) !== this.rvOf(obj) || this.rvOf(obj) === undefined) this.emitUpdate(old, obj);
    }
    for (const [key, old] of this.items) {
      if (seen.has(key)) continue;
      this.items.delete(key);
      this.emitDelete(old);
    }
  }

  private apply(ev: InformerWatchEvent<T>): void {
    const rv = this.rvOf(ev.object);
    if (rv !== undefined && rv !== '') this.lastResourceVersion = rv;
    if (ev.type === 'BOOKMARK') return;
    const key = this.keyOf(ev.object);
    const old = this.items.get(key);
    if (ev.type === 'DELETED') {
      if (old === undefined) return;
      this.items.delete(key);
      this.emitDelete(ev.object);
      return;
    }
    this.items.set(key, ev.object);
    if (old === undefined) this.emitAdd(ev.object);
    else this.emitUpdate(old, ev.object);
  }

  private emitAdd(obj: T): void {
    for (const h of this.handlers) if (h.onAdd) this.call(() => h.onAdd!(obj), 'onAdd');
  }

  private emitUpdate(old: T, obj: T): void {
    for (const h of this.handlers) if (h.onUpdate) this.call(() => h.onUpdate!(old, obj), 'onUpdate');
  }

  private emitDelete(obj: T): void {
    for (const h of this.handlers) if (h.onDelete) this.call(() => h.onDelete!(obj), 'onDelete');
  }

  private call(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.onError(err, `${what} handler threw`);
    }
  }
}
