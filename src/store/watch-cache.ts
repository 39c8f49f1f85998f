// A watch cache in front of the etcd Store, like kube-apiserver's cacher: LISTs are answered from memory
// instead of a full range read and decode from etcd (150,000 pods: a minute on etcd, under a second here).
//
// Feed. ONE watch on the whole keyspace of the store ('' — every key under the store's root), started on
// the first list. kube-apiserver runs one watch per resource and needs etcd's progress notifications to
// learn that a quiet resource is still current (etcd 3.4.31+/3.5.13+ for RequestProgress; Debian ships
// 3.4.23). Watching everything, every revision etcd hands out arrives here as an event, so "the cache has
// seen revision R" is simply "an event at >= R has been applied" — no progress requests needed.
//
// Roots. A list of `/registry/<group>/<resource>/…` (a whole resource or one namespace of it) is served by
// the cache of its resource, `/registry/<group>/<resource>/`, loaded lazily on the first list of that
// resource (one consistent list from the store, then the feed's later events): a resource no one lists
// costs no memory, and a namespace list never starts a second copy of its resource. Any other prefix is
// its own root (or is served by an existing root that covers it).
//
// Consistent lists ("consistent reads from cache", KEP-2340, kube 1.31+): fetch the store's current
// revision (a one-key read of etcd), wait until the cache has applied it, answer from memory with the
// cache's revision at that moment (>= the one asked: a list never predates a write acknowledged before it
// began). Waiting is bounded (kube's 3 s); on timeout the list is read from the store and counted.
//
// Break. If the feed ends on its own (history compacted while etcd was unreachable, the store closed),
// every root is dropped and the next list starts over with a fresh list: the cache is never served from
// a feed with a gap. A stream broken and resumed (etcd restarted, a member lost) is not a gap: the
// store's watch resumes from the next revision.
//
// Values are kept as the inner store gives them (decrypted: wrap this outside the encryption wrapper) and
// copied on the way out. Freezing them once instead would make a list free, but every caller that edits
// a listed object in place (sqlite lists are freshly parsed, so some may) would then throw; a plain
// recursive copy of 150,000 small pods takes ~0.4–1.2 s here against ~1.5 s for deep-freezing them once.
//
// get, create, update, delete, watch, compact and revision pass through unchanged.
import {
  type KeyValue,
  type ListResult,
  type Store,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from './store.ts';

export interface WatchCacheOptions {
  /** How long a list waits for the cache to catch up with the store before reading the store (default 3 s, kube's). */
  freshnessTimeoutMs?: number;
  /** The cached prefix that serves a list of `prefix`, or undefined to read the store (default `resourceRoot`). */
  cacheRootOf?: (prefix: string) => string | undefined;
}

/** Counters of what the cache did, for tests, benchmarks and metrics. */
export interface WatchCacheStats {
  /** Lists answered from memory. */
  cached: number;
  /** Lists read from the store because the cache did not catch up in time (or was resyncing). */
  fallbacks: number;
  /** Lists of prefixes the cache does not serve. */
  passedThrough: number;
  /** Roots loaded from the store (first list of a resource, and again after a resync). */
  loads: number;
  /** Times the feed ended on its own and every root was dropped. */
  resyncs: number;
  /** Keys held in memory now. */
  keys: number;
}

const DEFAULT_FRESHNESS_TIMEOUT_MS = 3_000;
const RESOURCE_ROOT = /^\/registry\/[^/]+\/[^/]+\//;

/**
 * The ObjectStore's layout: `/registry/<group>/<resource>/[<namespace>/]<name>`. A list under a resource is
 * served by the resource's cache; a broader `/registry/…` prefix is read from the store (caching it
 * would hold a second copy of every resource); any other prefix is cached as it is.
 */
export function resourceRoot(prefix: string): string | undefined {
  const m = RESOURCE_ROOT.exec(prefix);
  if (m) return m[0];
  return '/registry/'.startsWith(prefix) || prefix.startsWith('/registry/') ? undefined : prefix;
}

/** Orders strings by code point (as etcd orders keys: by UTF-8 bytes), not by UTF-16 code unit. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF, halves of code points above U+FFFF) sort after U+E000–FFFF.
    if (x >= 0xd800 && y >= 0xd800) return fixup(x) - fixup(y);
    return x - y;
  }
  return a.length - b.length;
}

function fixup(c: number): number {
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** A copy of a JSON value (what the store holds): what a caller may then edit freely. */
export function copyJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyJson) as T;
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = copyJson((v as Record<string, unknown>)[k]);
  return out as T;
}

/**
 * The keys of one segment of a root (one namespace of a resource) in key order, kept sorted lazily:
 * additions are merged in on the next read, so a write costs O(1) and a read after writes O(n + k log k)
 * in the segment's size — a namespace's LIST never sorts or merges the other namespaces' keys.
 */
class Segment {
  readonly name: string;
  /** Every key in `sorted` or `pending`; a deleted key stays (kv undefined) until the next normalize. */
  readonly #entries = new Map<string, { kv: KeyValue | undefined }>();
  /** Keys in code-point order as of the last normalize (deleted ones included). */
  #sorted: string[] = [];
  /** Keys added since, unsorted. */
  #pending: string[] = [];
  #dead = 0;
  live = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** A key of the initial list (which comes in key order). */
  push(kv: KeyValue): void {
    this.#entries.set(kv.key, { kv });
    this.#sorted.push(kv.key);
    this.live++;
  }

  apply(ev: WatchEvent): void {
    const e = this.#entries.get(ev.kv.key);
    if (ev.type === 'DELETE') {
      if (e?.kv) {
        e.kv = undefined;
        this.live--;
        this.#dead++;
      }
      return;
    }
    if (!e) {
      this.#entries.set(ev.kv.key, { kv: ev.kv });
      this.#pending.push(ev.kv.key);
      this.live++;
      return;
    }
    if (!e.kv) {
      this.live++;
      this.#dead--;
    }
    e.kv = ev.kv;
  }

  /** Appends copies of the kvs under `prefix` to `out`, in key order. */
  read<T>(prefix: string, out: KeyValue<T>[]): void {
    this.#normalize();
    const keys = this.#sorted;
    // The first key >= prefix: the keys starting with it follow, contiguously.
    let i = 0;
    let hi = keys.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (compareCodePoints(keys[mid], prefix) < 0) i = mid + 1;
      else hi = mid;
    }
    for (; i < keys.length && keys[i].startsWith(prefix); i++) {
      const kv = this.#entries.get(keys[i])!.kv!;
      out.push({
        key: kv.key,
        value: copyJson(kv.value as T),
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
      });
    }
  }

  /** Merges the keys added since the last read into the sorted ones and drops deleted ones. */
  #normalize(): void {
    if (this.#pending.length === 0 && this.#dead === 0) return;
    const added = this.#pending.sort(compareCodePoints);
    const old = this.#sorted;
    const merged: string[] = [];
    let a = 0;
    let o = 0;
    while (a < added.length || o < old.length) {
      const key =
        o >= old.length || (a < added.length && compareCodePoints(added[a], old[o]) < 0)
          ? added[a++]
          : old[o++];
      if (this.#entries.get(key)!.kv) merged.push(key);
      else this.#entries.delete(key);
    }
    this.#sorted = merged;
    this.#pending = [];
    this.#dead = 0;
  }
}

/**
 * One cached prefix, in segments: a key's segment is what follows the prefix up to and including the next
 * '/' (a namespace, `ns/`), or '' when no '/' follows (cluster-scoped names). Every key of segment `x/`
 * sorts between the keys of the segments named below and above `x/` (neither name holds another '/'), so
 * segments read in name order give key order; keys of '' interleave with the others and are merged in.
 */
class Root {
  readonly prefix: string;
  /** Present while the initial list runs: the feed's events for this root, applied after it. */
  buffer: WatchEvent[] | undefined = [];
  readonly loaded: Promise<void>;
  readonly #segments = new Map<string, Segment>();
  /** Segment names in code-point order; undefined when a segment was added since. */
  #names: string[] | undefined = [];

  constructor(prefix: string, loaded: Promise<void>) {
    this.prefix = prefix;
    this.loaded = loaded;
  }

  get size(): number {
    let n = 0;
    for (const s of this.#segments.values()) n += s.live;
    return n;
  }

  /** The initial list (already in key order). */
  fill(items: KeyValue[]): void {
    for (const kv of items) this.#segment(kv.key).push(kv);
  }

  apply(ev: WatchEvent): void {
    this.#segment(ev.kv.key).apply(ev);
  }

  /** Copies of the kvs under `prefix` (which starts with this root's prefix), in key order. */
  read<T>(prefix: string): KeyValue<T>[] {
    const out: KeyValue<T>[] = [];
    const rest = prefix.slice(this.prefix.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      // Within one namespace: that segment alone.
      this.#segments.get(rest.slice(0, slash + 1))?.read(prefix, out);
      return out;
    }
    this.#names ??= [...this.#segments.keys()].sort(compareCodePoints);
    const flat = this.#segments.get('');
    for (const name of this.#names)
      if (name !== '' && name.startsWith(rest)) this.#segments.get(name)!.read(prefix, out);
    if (flat && flat.live > 0) {
      if (out.length === 0) flat.read(prefix, out);
      else {
        flat.read(prefix, out);
        out.sort((x, y) => compareCodePoints(x.key, y.key));
      }
    }
    return out;
  }

  #segment(key: string): Segment {
    const slash = key.indexOf('/', this.prefix.length);
    const name = slash < 0 ? '' : key.slice(this.prefix.length, slash + 1);
    let s = this.#segments.get(name);
    if (!s) {
      s = new Segment(name);
      this.#segments.set(name, s);
      this.#names = undefined;
    }
    return s;
  }
}

export class WatchCache implements Store {
  readonly inner: Store;
  readonly #timeoutMs: number;
  readonly #rootOf: (prefix: string) => string | undefined;
  #roots = new Map<string, Root>();
  /** The feed's watch, once started; dropped when it ends. */
  #feed: Promise<Watch> | undefined;
  /** Bumped whenever the feed ends: loads and events of an older feed are discarded. */
  #generation = 0;
  /** The revision everything cached reflects: the feed's start, then its last event's. */
  #seen = 0;
  #waiters = new Set<{ revision: number; done: (fresh: boolean) => void }>();
  #closed = false;
  readonly #stats = { cached: 0, fallbacks: 0, passedThrough: 0, loads: 0, resyncs: 0 };

  constructor(inner: Store, opts: WatchCacheOptions = {}) {
    this.inner = inner;
    this.#timeoutMs = opts.freshnessTimeoutMs ?? DEFAULT_FRESHNESS_TIMEOUT_MS;
    this.#rootOf = opts.cacheRootOf ?? resourceRoot;
  }

  stats(): WatchCacheStats {
    let keys = 0;
    for (const r of this.#roots.values()) keys += r.size;
    return { ...this.#stats, keys };
  }

  async list<T = unknown>(prefix: string): Promise<ListResult<T>> {
    // Bad input and a closed store get the store's own errors.
    const rootPrefix =
      typeof prefix === 'string' && prefix.isWellFormed() && !this.#closed
        ? this.#servingRoot(prefix)
        : undefined;
    if (rootPrefix === undefined) {
      this.#stats.passedThrough++;
      return this.inner.list<T>(prefix);
    }
    const feed = this.#startFeed();
    const generation = this.#generation;
    const live = await feed.then(
      () => generation === this.#generation,
      () => false,
    );
    // A feed that failed to start, or ended meanwhile: nothing here may be trusted for this list.
    if (!live) {
      this.#stats.fallbacks++;
      return this.inner.list<T>(prefix);
    }
    const root = this.#roots.get(rootPrefix);
    if (!root) return this.#load<T>(rootPrefix, prefix);
    await root.loaded;
    const revision = await this.inner.revision();
    if (!(await this.#caughtUp(revision)) || this.#roots.get(rootPrefix) !== root) {
      this.#stats.fallbacks++;
      return this.inner.list<T>(prefix);
    }
    this.#stats.cached++;
    return { items: root.read<T>(prefix), revision: this.#seen };
  }

  revision(): Promise<number> {
    return this.inner.revision();
  }

  get<T = unknown>(key: string): Promise<KeyValue<T> | undefined> {
    return this.inner.get<T>(key);
  }

  create<T = unknown>(key: string, value: T): Promise<KeyValue<T>> {
    return this.inner.create(key, value);
  }

  update<T = unknown>(key: string, value: T, expectedRevision?: number): Promise<KeyValue<T>> {
    return this.inner.update(key, value, expectedRevision);
  }

  delete<T = unknown>(key: string, expectedRevision?: number): Promise<KeyValue<T>> {
    return this.inner.delete<T>(key, expectedRevision);
  }

  watch<T = unknown>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts?: WatchOptions,
  ): Promise<Watch> {
    return this.inner.watch(prefix, onEvent, opts);
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  /** Stops the feed, drops the cache and closes the inner store. */
  async close(): Promise<void> {
    this.#closed = true;
    const feed = this.#feed;
    this.#reset();
    await feed?.then((w) => w.cancel()).catch(() => {});
    await this.inner.close();
  }

  // ---- the feed ----

  /** The root that serves `prefix`: a cached one covering it, else the configured one. */
  #servingRoot(prefix: string): string | undefined {
    for (const p of this.#roots.keys()) if (prefix.startsWith(p)) return p;
    return this.#rootOf(prefix);
  }

  #startFeed(): Promise<Watch> {
    if (this.#feed) return this.#feed;
    const generation = this.#generation;
    const feed = (async () => {
      const start = await this.inner.revision();
      if (generation === this.#generation) this.#seen = start;
      return this.inner.watch('', (ev) => this.#onEvent(generation, ev), {
        fromRevision: start + 1,
        onClose: (err) => this.#onFeedEnd(generation, err),
      });
    })();
    this.#feed = feed;
    // A feed that fails to start is forgotten, so the next list tries again.
    feed.catch(() => {
      if (this.#feed === feed) this.#feed = undefined;
    });
    return feed;
  }

  #onEvent(generation: number, ev: WatchEvent): void {
    if (generation !== this.#generation) return;
    const key = ev.kv.key;
    for (const root of this.#roots.values()) {
      if (!key.startsWith(root.prefix)) continue;
      if (root.buffer) root.buffer.push(ev);
      else root.apply(ev);
    }
    // Every event of one revision arrives in one synchronous batch: waiters resume after all of it.
    if (ev.kv.modRevision > this.#seen) this.#seen = ev.kv.modRevision;
    for (const w of this.#waiters) if (w.revision <= this.#seen) w.done(true);
  }

  #onFeedEnd(generation: number, _err?: Error): void {
    if (generation !== this.#generation) return;
    this.#stats.resyncs++;
    this.#reset();
  }

  /** Forgets every root and the feed; waiting lists read the store. */
  #reset(): void {
    this.#generation++;
    this.#roots.clear();
    this.#feed = undefined;
    for (const w of this.#waiters) w.done(false);
  }

  /**
   * The first list of a root: one consistent list from the store. Registered before the list starts, so
   * every event after the list's revision reaches the root's buffer (the feed has delivered nothing newer
   * than what the list, issued later, already reflects).
   */
  async #load<T>(rootPrefix: string, prefix: string): Promise<ListResult<T>> {
    const generation = this.#generation;
    let loaded!: () => void;
    const root = new Root(rootPrefix, new Promise<void>((r) => (loaded = r)));
    this.#roots.set(rootPrefix, root);
    this.#stats.loads++;
    let res: ListResult;
    try {
      res = await this.inner.list(rootPrefix);
    } catch (err) {
      if (this.#roots.get(rootPrefix) === root) this.#roots.delete(rootPrefix);
      loaded();
      throw err;
    }
    if (generation === this.#generation && this.#roots.get(rootPrefix) === root) {
      root.fill(res.items);
      for (const ev of root.buffer!) if (ev.kv.modRevision > res.revision) root.apply(ev);
      root.buffer = undefined;
    }
    loaded();
    // This list's answer is the store's own, at its revision (copied: the cache holds these kvs).
    const items: KeyValue<T>[] = [];
    for (const kv of res.items)
      if (kv.key.startsWith(prefix)) items.push({ ...kv, value: copyJson(kv.value as T) });
    return { items, revision: res.revision };
  }

  /** Resolves true once the feed has applied `revision`, false on timeout or a reset. */
  #caughtUp(revision: number): Promise<boolean> {
    if (this.#seen >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        revision,
        done: (fresh: boolean) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          resolve(fresh);
        },
      };
      const timer = setTimeout(() => w.done(false), this.#timeoutMs);
      this.#waiters.add(w);
    });
  }
}
