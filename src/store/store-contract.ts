// The Store contract as tests, run against every backend (sqlite.test.ts, etcd.test.ts). Revisions are
// asserted relative to the store's revision when the test starts (`b`): a fresh sqlite file starts at 0,
// an etcd cluster shared by several tests at wherever the previous test left it. Everything else — key
// order, CAS, errors, watch order, prevKv, compaction, close — is asserted exactly, the same for both.
import { describe, expect, it, vi } from 'vitest';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  RevisionCompactedError,
  type Store,
  type WatchEvent,
  type WatchOptions,
} from './store.ts';

export interface StoreContractEnv {
  /** A fresh, empty keyspace (a new file; a new key root on a shared etcd). Closed by the env's own cleanup. */
  open(): Promise<Store>;
}

type AnyEvent = WatchEvent<any>;

/** Records every event of a watch; `until(n)` waits for the n-th. */
export async function record(store: Store, prefix: string, opts?: WatchOptions) {
  const events: AnyEvent[] = [];
  const closes: Array<Error | undefined> = [];
  const watch = await store.watch<unknown>(prefix, (ev) => events.push(ev), {
    ...opts,
    onClose: (err) => closes.push(err),
  });
  const until = (n: number) =>
    vi.waitFor(() => expect(events.length).toBeGreaterThanOrEqual(n), { timeout: 20_000, interval: 5 });
  return { events, closes, watch, until };
}

/** Long enough for a stray event to arrive if one were coming (the assertions after it must still hold). */
const settle = () => new Promise((r) => setTimeout(r, 150));

export function storeContract(name: string, env: StoreContractEnv): void {
  describe(`${name} store contract: key/value`, () => {
    it('creates, gets and lists in key order with the revision', async () => {
      const s = await env.open();
      const b = await s.revision();
      const a = await s.create('/pods/b', { n: 1 });
      expect(a).toEqual({ key: '/pods/b', value: { n: 1 }, createRevision: b + 1, modRevision: b + 1 });
      await s.create('/pods/a', { n: 2 });
      await s.create('/podsx', { n: 3 });
      await s.create('/nodes/a', { n: 4 });
      expect(await s.get('/pods/a')).toEqual({
        key: '/pods/a',
        value: { n: 2 },
        createRevision: b + 2,
        modRevision: b + 2,
      });
      expect(await s.get('/pods/zz')).toBeUndefined();
      const pods = await s.list('/pods/');
      expect(pods.revision).toBe(b + 4);
      expect(pods.items.map((kv) => kv.key)).toEqual(['/pods/a', '/pods/b']);
      expect((await s.list('/pods')).items.map((kv) => kv.key)).toEqual(['/pods/a', '/pods/b', '/podsx']);
      expect((await s.list('')).items.map((kv) => kv.key)).toEqual([
        '/nodes/a',
        '/pods/a',
        '/pods/b',
        '/podsx',
      ]);
      expect((await s.list('/none/')).items).toEqual([]);
      expect(await s.revision()).toBe(b + 4);
    });

    it('lists more keys than one page, consistently', async () => {
      const s = await env.open();
      await Promise.all(
        Array.from({ length: 2_500 }, (_, i) => s.create(`/many/${String(i).padStart(5, '0')}`, { i })),
      );
      const r = await s.revision();
      const list = await s.list<{ i: number }>('/many/');
      expect(list.revision).toBe(r);
      expect(list.items.map((kv) => kv.value.i)).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
    });

    it('updates with and without CAS; a stale revision is a ConflictError that changes nothing', async () => {
      const s = await env.open();
      const b = await s.revision();
      const c = await s.create('/k', { v: 1 });
      const u1 = await s.update('/k', { v: 2 }, c.modRevision);
      expect(u1).toEqual({ key: '/k', value: { v: 2 }, createRevision: b + 1, modRevision: b + 2 });
      const err = await s.update('/k', { v: 3 }, c.modRevision).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ key: '/k', actualRevision: b + 2 });
      expect((await s.get('/k'))?.value).toEqual({ v: 2 });
      expect(await s.revision()).toBe(b + 2);
      const u2 = await s.update('/k', { v: 4 });
      expect(u2.modRevision).toBe(b + 3);
      expect((await s.get('/k'))?.value).toEqual({ v: 4 });
    });

    it('rejects create of an existing key and update/delete of a missing one', async () => {
      const s = await env.open();
      const b = await s.revision();
      await s.create('/k', 1);
      await expect(s.create('/k', 2)).rejects.toBeInstanceOf(AlreadyExistsError);
      await expect(s.update('/missing', 1)).rejects.toBeInstanceOf(NotFoundError);
      await expect(s.update('/missing', 1, 1)).rejects.toBeInstanceOf(NotFoundError);
      await expect(s.delete('/missing')).rejects.toBeInstanceOf(NotFoundError);
      expect(await s.revision()).toBe(b + 1);
      expect((await s.get('/k'))?.value).toBe(1);
    });

    it('deletes with CAS and returns the deleted value stamped with the delete revision', async () => {
      const s = await env.open();
      const b = await s.revision();
      await s.create('/k', { v: 1 });
      const u = await s.update('/k', { v: 2 });
      await expect(s.delete('/k', b + 1)).rejects.toMatchObject({
        name: 'ConflictError',
        actualRevision: b + 2,
      });
      expect(await s.get('/k')).toBeDefined();
      const d = await s.delete('/k', u.modRevision);
      expect(d).toEqual({ key: '/k', value: { v: 2 }, createRevision: b + 1, modRevision: b + 3 });
      expect(await s.get('/k')).toBeUndefined();
      await s.create('/k', { v: 5 });
      expect(await s.get('/k')).toMatchObject({ createRevision: b + 4, modRevision: b + 4 });
      await s.delete('/k');
      expect(await s.revision()).toBe(b + 5);
    });

    it('rejects bad input without writing anything', async () => {
      const s = await env.open();
      const b = await s.revision();
      await expect(s.create('', 1)).rejects.toBeInstanceOf(TypeError);
      await expect(s.create('/bad\ud800', 1)).rejects.toBeInstanceOf(TypeError);
      await expect(s.create('/u', undefined)).rejects.toBeInstanceOf(TypeError);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(s.create('/c', cyclic)).rejects.toBeInstanceOf(TypeError);
      await expect(s.update('/c', 1, -1)).rejects.toBeInstanceOf(RangeError);
      await expect(s.update('/c', 1, 1.5)).rejects.toBeInstanceOf(RangeError);
      expect(await s.revision()).toBe(b);
      expect((await s.list('')).items).toEqual([]);
    });

    it('concurrent writes each get their own revision; failures stay local', async () => {
      const s = await env.open();
      const b = await s.revision();
      await s.create('/dup', 0);
      const results = await Promise.allSettled([
        ...Array.from({ length: 50 }, (_, i) => s.create(`/c/${i}`, { i })),
        s.create('/dup', 1),
        s.update('/dup', 2, 999_999_999),
        s.update('/dup', 3, b + 1),
      ]);
      // Concurrent writes are not ordered among themselves (etcd: separate requests): update what exists.
      const updates = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => s.update(`/c/${i}`, { i, again: true })),
      );
      const out = [...results, ...updates].map((r) =>
        r.status === 'fulfilled' ? r.value.modRevision : (r.reason as Error).name,
      );
      expect(out.slice(50, 52)).toEqual(['AlreadyExistsError', 'ConflictError']);
      const revs = [...out.slice(0, 50), ...out.slice(52)] as number[];
      expect(new Set(revs).size).toBe(101);
      expect(Math.min(...revs)).toBe(b + 2);
      expect(Math.max(...revs)).toBe(b + 102);
      expect(await s.revision()).toBe(b + 102);
      expect((await s.get('/dup'))?.value).toBe(3);
      expect((await s.list('/c/')).items.every((kv) => (kv.value as { again?: boolean }).again)).toBe(true);
    });

    it('orders keys by code point and bounds prefixes exactly, beyond the BMP too', async () => {
      const s = await env.open();
      for (const k of [
        '/x/\uffff',
        '/x/\u{1f600}',
        '/x/a',
        '/x\u{10ffff}',
        '/x/\u{10ffff}\u{10ffff}z',
        '/y',
      ]) {
        await s.create(k, k);
      }
      expect((await s.list('/x/')).items.map((kv) => kv.key)).toEqual([
        '/x/a',
        '/x/\uffff',
        '/x/\u{1f600}',
        '/x/\u{10ffff}\u{10ffff}z',
      ]);
      expect((await s.list('/x/\u{10ffff}')).items.map((kv) => kv.key)).toEqual(['/x/\u{10ffff}\u{10ffff}z']);
      expect((await s.list('/x\u{10ffff}')).items.map((kv) => kv.key)).toEqual(['/x\u{10ffff}']);
    });

    it('matches a model through random writes and compactions; compaction keeps current values', async () => {
      const s = await env.open();
      const b = await s.revision();
      let seed = 42;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 0) % n;
      const model = new Map<string, { value: unknown; createRevision: number; modRevision: number }>();
      const log: Array<[string, string, number]> = []; // [type, key, rev]
      let rev = b;
      let compacted = 0;
      for (let i = 0; i < 400; i++) {
        const key = `/m/${rand(15)}`;
        const cur = model.get(key);
        const op = rand(3);
        if (op === 0 && !cur) {
          await s.create(key, { i });
          model.set(key, { value: { i }, createRevision: ++rev, modRevision: rev });
          log.push(['PUT', key, rev]);
        } else if (op === 1 && cur) {
          await s.update(key, { i }, cur.modRevision);
          model.set(key, { value: { i }, createRevision: cur.createRevision, modRevision: ++rev });
          log.push(['PUT', key, rev]);
        } else if (op === 2 && cur) {
          await s.delete(key, rand(2) ? cur.modRevision : undefined);
          model.delete(key);
          log.push(['DELETE', key, ++rev]);
        }
        if (i % 97 === 0 && rev > b) {
          const target = rev - rand(Math.min(rev - b, 5));
          await s.compact(target);
          compacted = Math.max(compacted, target);
        }
      }
      expect(await s.revision()).toBe(rev);
      const expected = [...model.entries()]
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([key, v]) => ({ key, ...v }));
      expect((await s.list('/m/')).items).toEqual(expected);
      for (const kv of expected) expect(await s.get(kv.key)).toEqual(kv);
      const from = compacted + 1;
      const w = await record(s, '/m/', { fromRevision: from });
      const want = log.filter(([, , r]) => r >= from);
      await w.until(want.length);
      expect(w.events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual(want);
      w.watch.cancel();
      await s.compact(rev); // everything but the current values goes
      expect((await s.list('/m/')).items).toEqual(expected);
    });
  });

  describe(`${name} store contract: watch`, () => {
    it('replays history from a revision, then live events, in order', async () => {
      const s = await env.open();
      const b = await s.revision();
      await s.create('/p/a', { v: 1 }); // b+1
      await s.create('/p/b', { v: 1 }); // b+2
      await s.update('/p/a', { v: 2 }); // b+3
      await s.delete('/p/b'); // b+4
      const w = await record(s, '/p/', { fromRevision: b + 2 });
      await w.until(3);
      await s.create('/p/c', { v: 1 }); // b+5
      await s.update('/p/c', { v: 2 }, b + 5); // b+6
      await w.until(5);
      expect(w.events.map((e) => [e.type, e.kv.key, e.kv.modRevision - b, e.created])).toEqual([
        ['PUT', '/p/b', 2, true],
        ['PUT', '/p/a', 3, false],
        ['DELETE', '/p/b', 4, false],
        ['PUT', '/p/c', 5, true],
        ['PUT', '/p/c', 6, false],
      ]);
      const upd = w.events[1];
      expect(upd.kv).toEqual({ key: '/p/a', value: { v: 2 }, createRevision: b + 1, modRevision: b + 3 });
      expect(upd.prevKv).toEqual({ key: '/p/a', value: { v: 1 }, createRevision: b + 1, modRevision: b + 1 });
      expect(JSON.parse(JSON.stringify(upd.prevKv))).toEqual(upd.prevKv);
      expect(w.events[2].kv).toEqual({
        key: '/p/b',
        value: { v: 1 },
        createRevision: b + 2,
        modRevision: b + 4,
      });
      expect(w.events[2].prevKv).toBeUndefined();
      expect(w.events[4].prevKv).toMatchObject({ value: { v: 1 }, modRevision: b + 5 });
      expect(w.closes).toEqual([]);
    });

    it('replays a PUT whose previous version was compacted without a wrong prevKv', async () => {
      const s = await env.open();
      const b = await s.revision();
      await s.create('/a', { v: 1 }); // b+1
      await s.create('/b', { v: 1 }); // b+2
      await s.update('/a', { v: 2 }); // b+3: previous version is b+1
      await s.update('/b', { v: 2 }); // b+4: previous version is b+2
      await s.compact(b + 1);
      const w = await record(s, '/', { fromRevision: b + 2 });
      await w.until(3);
      expect(w.events.map((e) => [e.kv.modRevision - b, e.created])).toEqual([
        [2, true],
        [3, false],
        [4, false],
      ]);
      // sqlite drops the compacted version (no prevKv); etcd still reads it as of the compaction point.
      // Either way a prevKv that is there is the right one.
      const p3 = w.events[1].prevKv;
      if (p3 !== undefined)
        expect(p3).toEqual({ key: '/a', value: { v: 1 }, createRevision: b + 1, modRevision: b + 1 });
      expect(w.events[2].prevKv?.modRevision).toBe(b + 2);
      expect(w.events[2].prevKv?.value).toEqual({ v: 1 });
    });

    it('loses and repeats nothing when writes land during a long replay', async () => {
      const s = await env.open();
      const b = await s.revision();
      const pre = 3_000; // several replay chunks / responses
      await Promise.all(Array.from({ length: pre }, (_, i) => s.create(`/r/${i}`, { i })));
      const other = await s.create('/other/x', 1);
      const events: number[] = [];
      let wrote = 0;
      const writes: Promise<unknown>[] = [];
      await s.watch(
        '/r/',
        (ev) => {
          events.push(ev.kv.modRevision);
          // Keep writing while history is still being replayed.
          if (wrote < 200 && events.length % 10 === 0) writes.push(s.update(`/r/${wrote++}`, { i: -1 }));
        },
        { fromRevision: b + 1 },
      );
      for (let i = 0; i < 100; i++) writes.push(s.create(`/r/late/${i}`, i));
      await vi.waitFor(() => expect(events.length).toBe(pre + 100 + wrote), { timeout: 30_000 });
      await Promise.all(writes);
      await vi.waitFor(() => expect(events.length).toBe(pre + 100 + wrote), { timeout: 30_000 });
      await settle();
      expect(events.length).toBe(pre + 100 + wrote);
      const sorted = [...events].sort((x, y) => x - y);
      expect(events).toEqual(sorted);
      expect(new Set(events).size).toBe(events.length);
      expect(events).not.toContain(other.modRevision);
    });

    it('filters by prefix and, without fromRevision, sends only future events', async () => {
      const s = await env.open();
      await s.create('/a/old', 1);
      const w = await record(s, '/a/');
      await s.create('/b/1', 1);
      await s.create('/a/1', 1);
      await s.create('/ab', 1);
      await s.update('/a/old', 2);
      await w.until(2);
      await settle();
      expect(w.events.map((e) => e.kv.key)).toEqual(['/a/1', '/a/old']);
    });

    it('watches from a future revision', async () => {
      const s = await env.open();
      const b = await s.revision();
      const w = await record(s, '', { fromRevision: b + 3 });
      for (let i = 1; i <= 4; i++) await s.create(`/k${i}`, i);
      await w.until(2);
      await settle();
      expect(w.events.map((e) => e.kv.modRevision - b)).toEqual([3, 4]);
    });

    it('stops delivering after cancel, without calling onClose', async () => {
      const s = await env.open();
      const w = await record(s, '/');
      await s.create('/1', 1);
      await w.until(1);
      w.watch.cancel();
      w.watch.cancel();
      await s.create('/2', 1);
      await settle();
      expect(w.events).toHaveLength(1);
      expect(w.closes).toEqual([]);
    });

    it('cancel during replay stops it', async () => {
      const s = await env.open();
      const b = await s.revision();
      await Promise.all(Array.from({ length: 2_500 }, (_, i) => s.create(`/k/${i}`, i)));
      let n = 0;
      const watch = await s.watch(
        '/k/',
        () => {
          if (++n === 5) watch.cancel();
        },
        { fromRevision: b + 1 },
      );
      await vi.waitFor(() => expect(n).toBeGreaterThanOrEqual(5), { timeout: 10_000 });
      await settle();
      expect(n).toBe(5);
    });

    it('rejects a watch from compacted history with RevisionCompactedError', async () => {
      const s = await env.open();
      const b = await s.revision();
      for (let i = 1; i <= 5; i++) await s.create(`/k${i}`, i);
      await s.compact(b + 3);
      const err = await s.watch('/', () => {}, { fromRevision: b + 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RevisionCompactedError);
      expect(err).toMatchObject({ requested: b + 3, compacted: b + 3 });
      await expect(s.watch('/', () => {}, { fromRevision: 0 })).rejects.toBeInstanceOf(
        RevisionCompactedError,
      );
      const w = await record(s, '/', { fromRevision: b + 4 });
      await w.until(2);
      expect(w.events.map((e) => e.kv.modRevision - b)).toEqual([4, 5]);
      await s.compact(b + 2); // already compacted further: no-op
      await expect(s.compact(b + 6)).rejects.toBeInstanceOf(RangeError);
    });

    it('close() ends every watch through onClose', async () => {
      const s = await env.open();
      const b = await s.revision();
      const w1 = await record(s, '/a/');
      const w2 = await record(s, '/', { fromRevision: b + 1 });
      await s.close();
      expect(w1.closes).toEqual([undefined]);
      expect(w2.closes).toEqual([undefined]);
    });

    it('a throwing callback ends only its own watch, with the error', async () => {
      const s = await env.open();
      const bad = await record(s, '/');
      const boom = new Error('boom');
      const badWatch = await s.watch(
        '/',
        () => {
          throw boom;
        },
        { onClose: (err) => bad.closes.push(err) },
      );
      const good = await record(s, '/');
      await s.create('/1', 1);
      await s.create('/2', 1);
      await good.until(2);
      await vi.waitFor(() => expect(bad.closes).toEqual([boom]));
      badWatch.cancel();
    });
  });
}
