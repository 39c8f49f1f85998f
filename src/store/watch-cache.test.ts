// The watch cache on a real etcd (Debian's etcd-server, started here on loopback ports): the Store contract
// unchanged with every list served through the cache, then what only the cache can get wrong — a list
// right after a write, namespace prefixes, edits of listed values, compaction, a restarted etcd, a feed
// that ends (resync), and the fallback to the store when the cache cannot catch up.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openEtcdStore, type EtcdStore } from './etcd.ts';
import { storeContract } from './store-contract.ts';
import {
  RevisionCompactedError,
  type Store,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from './store.ts';
import { etcdUnavailable, startEtcdCluster, type EtcdCluster } from './testing/etcd.ts';
import { parseDatastore, withWatchCache } from './datastore.ts';
import { WatchCache, compareCodePoints, copyJson, resourceRoot } from './watch-cache.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping watch cache tests: ${missing}`);

describe('watch cache helpers', () => {
  it('orders by code point like etcd, not by UTF-16 unit', () => {
    const keys = ['/x/\u{1f600}', '/x/\uffff', '/x/a', '/x/', '/x/\u{10ffff}z', '/x/\ue000'];
    expect([...keys].sort(compareCodePoints)).toEqual([
      '/x/',
      '/x/a',
      '/x/\ue000',
      '/x/\uffff',
      '/x/\u{1f600}',
      '/x/\u{10ffff}z',
    ]);
  });

  it("maps the ObjectStore's prefixes to their resource", () => {
    expect(resourceRoot('/registry/core/pods/')).toBe('/registry/core/pods/');
    expect(resourceRoot('/registry/core/pods/ns1/')).toBe('/registry/core/pods/');
    expect(resourceRoot('/registry/apps/deployments/')).toBe('/registry/apps/deployments/');
    expect(resourceRoot('/registry/')).toBeUndefined();
    expect(resourceRoot('/registry/core/')).toBeUndefined();
    expect(resourceRoot('')).toBeUndefined();
    expect(resourceRoot('/strata/allocations/serviceips/')).toBe('/strata/allocations/serviceips/');
  });

  it('is on for etcd datastores unless turned off, never for sqlite', () => {
    // Nothing is read before the first list: any Store stands in for the identity checks.
    const store = { close: async () => {} } as unknown as Store;
    const etcdSpec = parseDatastore('etcd://127.0.0.1:2379');
    expect(withWatchCache(etcdSpec, store)).toBeInstanceOf(WatchCache);
    expect(withWatchCache(etcdSpec, store, false)).toBe(store);
    expect(withWatchCache(parseDatastore('sqlite:///tmp/x.db'), store)).toBe(store);
  });

  it('copies JSON values deeply', () => {
    const v = { a: [1, { b: 'c' }], d: null, e: { f: true } };
    const c = copyJson(v);
    expect(c).toEqual(v);
    (c.a[1] as { b: string }).b = 'x';
    c.e.f = false;
    expect(v).toEqual({ a: [1, { b: 'c' }], d: null, e: { f: true } });
  });
});

describe.skipIf(missing)('watch cache on etcd', () => {
  let etcd: EtcdCluster;
  let n = 0;
  const opened: Store[] = [];

  beforeAll(async () => {
    etcd = await startEtcdCluster();
  }, 60_000);
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  const raw = (root = `/wc${++n}`): EtcdStore => {
    const s = openEtcdStore({ endpoints: etcd.endpoints, root, compactionIntervalMs: 0 });
    opened.push(s);
    return s;
  };
  const cached = (inner: Store = raw(), opts: ConstructorParameters<typeof WatchCache>[1] = {}) => {
    const c = new WatchCache(inner, opts);
    opened.push(c);
    return c;
  };

  // Every prefix the contract lists is cached as its own root (or served by a broader one already cached).
  storeContract('etcd + watch cache', { open: async () => cached(raw(), { cacheRootOf: (p) => p }) });

  it('a write is in the very next list, from the cache', async () => {
    const s = cached();
    const ns = '/registry/core/configmaps/default/';
    expect((await s.list(ns)).items).toEqual([]);
    for (let i = 0; i < 30; i++) {
      const kv = await s.create(`${ns}c${String(i).padStart(2, '0')}`, { i });
      const list = await s.list<{ i: number }>(ns);
      expect(list.revision).toBeGreaterThanOrEqual(kv.modRevision);
      expect(list.items.at(-1)).toEqual(kv);
      expect(list.items).toHaveLength(i + 1);
    }
    const up = await s.update(`${ns}c03`, { i: 99 });
    expect((await s.list(ns)).items[3]).toEqual(up);
    await s.delete(`${ns}c04`);
    const after = await s.list<{ i: number }>(ns);
    expect(after.items.map((kv) => kv.key)).not.toContain(`${ns}c04`);
    expect(after.items).toHaveLength(29);
    expect(after.revision).toBe(await s.revision());
    const st = s.stats();
    expect(st).toMatchObject({ loads: 1, fallbacks: 0, resyncs: 0, keys: 29 });
    expect(st.cached).toBe(32);
  });

  it('a namespace list holds only that namespace, from one cache of the resource', async () => {
    const s = cached();
    const pods = '/registry/core/pods/';
    for (const k of ['ns1/a', 'ns1/b', 'ns10/a', 'ns2/a', 'ns1x']) await s.create(pods + k, k);
    await s.create('/registry/core/podsx/ns1/a', 'not a pod');
    expect((await s.list(`${pods}ns1/`)).items.map((kv) => kv.key)).toEqual([`${pods}ns1/a`, `${pods}ns1/b`]);
    await s.create(`${pods}ns1/c`, 'c');
    await s.create(`${pods}ns0/z`, 'z');
    expect((await s.list(`${pods}ns1/`)).items.map((kv) => kv.value)).toEqual(['ns1/a', 'ns1/b', 'c']);
    expect((await s.list(`${pods}ns10/`)).items.map((kv) => kv.value)).toEqual(['ns10/a']);
    expect((await s.list(`${pods}nsnone/`)).items).toEqual([]);
    expect((await s.list(pods)).items).toHaveLength(7);
    expect(s.stats()).toMatchObject({ loads: 1, fallbacks: 0, keys: 7 });
  });

  it('answers every prefix as etcd does through random writes over namespaced and flat keys', async () => {
    const s = cached(raw(), { cacheRootOf: (p) => (p.startsWith('/m/') ? '/m/' : undefined) });
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 0) % n;
    const parts = ['a', 'a-b', 'a0', 'b', '\uffff', '\u{1f600}', 'ns1', 'ns10'];
    const keyOf = () =>
      rand(3) === 0 ? `/m/${parts[rand(8)]}` : `/m/${parts[rand(8)]}/${parts[rand(8)]}${rand(2) ? '/x' : ''}`;
    const prefixes = ['/m/', '/m/a', '/m/a/', '/m/ns1', '/m/ns1/', '/m/ns10/a', '/m/\u{1f600}/', '/m/zz/'];
    await s.list('/m/'); // loads the root
    for (let i = 0; i < 150; i++) {
      const key = keyOf();
      const cur = await s.get(key);
      if (!cur) await s.create(key, i);
      else if (rand(3) === 0) await s.delete(key);
      else await s.update(key, i);
      if (i % 10 === 9) for (const p of prefixes) expect(await s.list(p), p).toEqual(await s.inner.list(p));
    }
    expect(s.stats()).toMatchObject({ loads: 1, fallbacks: 0 });
  });

  it('a caller editing a listed value changes neither the cache nor the store', async () => {
    const s = cached();
    const p = '/registry/core/pods/ns/';
    await s.create(`${p}a`, { spec: { containers: [{ name: 'c' }] } });
    await s.list(p); // loads the root
    const first = await s.list<{ spec: { containers: { name: string }[] } }>(p);
    first.items[0].value.spec.containers[0].name = 'edited';
    first.items[0].value.spec.containers.push({ name: 'more' });
    expect((await s.list(p)).items[0].value).toEqual({ spec: { containers: [{ name: 'c' }] } });
  });

  it('stays right across compactions', async () => {
    const s = cached();
    const p = '/registry/core/secrets/ns/';
    for (let i = 0; i < 10; i++) await s.create(`${p}s${i}`, i);
    await s.list(p);
    for (let i = 0; i < 10; i += 2) await s.update(`${p}s${i}`, i * 10);
    await s.delete(`${p}s9`);
    await s.compact(await s.revision());
    await s.create(`${p}s10`, 10);
    await s.compact(await s.revision());
    const inner = await s.inner.list(p);
    expect(await s.list(p)).toEqual(inner);
    expect(s.stats()).toMatchObject({ fallbacks: 0, resyncs: 0 });
  });

  it('stays right when the feed ends (compacted while away): it resyncs from a fresh list', async () => {
    const inner = new Breakable(raw());
    const s = cached(inner);
    const p = '/registry/core/nodes/';
    for (let i = 0; i < 5; i++) await s.create(`${p}n${i}`, i);
    expect((await s.list(p)).items).toHaveLength(5);
    // The feed misses these writes, then learns its history is gone (as after a long disconnection).
    inner.pause();
    await s.create(`${p}n5`, 5);
    await s.delete(`${p}n0`);
    await s.compact(await s.revision());
    inner.endWithCompaction();
    const list = await s.list(p);
    expect(list.items.map((kv) => kv.value)).toEqual([1, 2, 3, 4, 5]);
    expect(list).toEqual(await s.inner.list(p));
    await s.update(`${p}n1`, 11);
    expect((await s.list(p)).items.map((kv) => kv.value)).toEqual([11, 2, 3, 4, 5]);
    expect(s.stats()).toMatchObject({ resyncs: 1, loads: 2 });
  });

  it('falls back to the store when the cache cannot catch up, and says so', async () => {
    // Another root on the same etcd moves etcd's revision without an event in this cache's keyspace: the
    // cache cannot know it is current, waits its bound, then reads etcd.
    const s = cached(raw(), { freshnessTimeoutMs: 200 });
    const other = raw();
    const p = '/registry/core/services/ns/';
    await s.create(`${p}a`, 'a');
    expect((await s.list(p)).items).toHaveLength(1);
    await other.create('/elsewhere', 1);
    await s.create(`${p}b`, 'b');
    expect((await s.list(p)).items).toHaveLength(2); // the feed saw b, the newest revision: cached
    await other.create('/elsewhere2', 2);
    const list = await s.list(p);
    expect(list.items.map((kv) => kv.value)).toEqual(['a', 'b']);
    expect(list.revision).toBe(await s.revision());
    expect(s.stats()).toMatchObject({ cached: 1, fallbacks: 1 });
  });

  it('stays right across an etcd restart, writes and a compaction right after it', async () => {
    const s = cached();
    const p = '/registry/core/events/ns/';
    for (let i = 0; i < 5; i++) await s.create(`${p}e${i}`, i);
    await s.list(p);
    await etcd.kill(0);
    await etcd.restart(0);
    // Written (and compacted) by another client, possibly before the cache's feed has reconnected.
    const other = raw((s.inner as EtcdStore).root);
    await vi.waitFor(() => other.create(`${p}e5`, 5), { timeout: 30_000, interval: 200 });
    await other.delete(`${p}e0`);
    await other.compact(await other.revision());
    const list = await s.list(p);
    expect(list.items.map((kv) => kv.value)).toEqual([1, 2, 3, 4, 5]);
    // Later lists come from the cache again (its feed resumed, or resynced after the compaction).
    const before = s.stats().cached;
    await other.create(`${p}e6`, 6);
    await vi.waitFor(
      async () => {
        expect((await s.list(p)).items.map((kv) => kv.value)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(s.stats().cached).toBeGreaterThan(before);
      },
      { timeout: 30_000, interval: 200 },
    );
  }, 90_000);
});

/**
 * A real store whose watches can be paused (events dropped, as over a broken connection) and then ended
 * with the compacted-history error, as etcd ends a watch resumed from compacted history.
 */
class Breakable implements Store {
  readonly inner: Store;
  #paused = false;
  #watches: Array<{ w: Watch; onClose?: (err?: Error) => void }> = [];
  constructor(inner: Store) {
    this.inner = inner;
  }
  pause(): void {
    this.#paused = true;
  }
  endWithCompaction(): void {
    for (const { w, onClose } of this.#watches.splice(0)) {
      w.cancel();
      onClose?.(new RevisionCompactedError(1, 1));
    }
    this.#paused = false;
  }
  revision = () => this.inner.revision();
  get = <T>(k: string) => this.inner.get<T>(k);
  list = <T>(p: string) => this.inner.list<T>(p);
  create = <T>(k: string, v: T) => this.inner.create(k, v);
  update = <T>(k: string, v: T, r?: number) => this.inner.update(k, v, r);
  delete = <T>(k: string, r?: number) => this.inner.delete<T>(k, r);
  compact = (r: number) => this.inner.compact(r);
  close = () => this.inner.close();
  async watch<T>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts: WatchOptions = {},
  ): Promise<Watch> {
    const w = await this.inner.watch<T>(prefix, (ev) => this.#paused || onEvent(ev), opts);
    this.#watches.push({ w, onClose: opts.onClose });
    return w;
  }
}
