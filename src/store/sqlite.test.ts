import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore, prefixRangeEnd, StoreClosedError, type SqliteStore } from './sqlite.ts';
import { storeContract } from './store-contract.ts';
import { RevisionCompactedError, type WatchEvent, type WatchOptions } from './store.ts';

let dir: string;
let dbPath: string;
const opened: SqliteStore[] = [];

function open(opts?: Parameters<typeof openSqliteStore>[1]): SqliteStore {
  const s = openSqliteStore(dbPath, opts);
  opened.push(s);
  return s;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-store-'));
  dbPath = join(dir, 'strata.db');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Records every event of a watch; `until(n)` waits for the n-th. */
async function record(store: SqliteStore, prefix: string, opts?: WatchOptions) {
  const events: WatchEvent<any>[] = [];
  const closes: Array<Error | undefined> = [];
  const watch = await store.watch<any>(prefix, (ev) => events.push(ev), {
    ...opts,
    onClose: (err) => closes.push(err),
  });
  const until = (n: number) =>
    vi.waitFor(() => expect(events.length).toBeGreaterThanOrEqual(n), { timeout: 10_000, interval: 5 });
  return { events, closes, watch, until };
}

// The contract every Store backend passes (the etcd one too); below it, what is sqlite's own.
storeContract('sqlite', { open: async () => open() });

describe('sqlite store: key/value', () => {
  it('group-commits concurrent writes: call order, one revision each, failures stay local', async () => {
    const s = open();
    await s.create('/dup', 0);
    const results = await Promise.allSettled([
      ...Array.from({ length: 50 }, (_, i) => s.create(`/c/${i}`, { i })),
      s.create('/dup', 1),
      s.update('/dup', 2, 999),
      s.update('/dup', 3, 1),
      ...Array.from({ length: 50 }, (_, i) => s.update(`/c/${i}`, { i, again: true })),
    ]);
    const revs = results.map((r) => (r.status === 'fulfilled' ? r.value.modRevision : r.reason.name));
    expect(revs.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(revs.slice(50, 53)).toEqual(['AlreadyExistsError', 'ConflictError', 52]);
    expect(revs.slice(53)).toEqual(Array.from({ length: 50 }, (_, i) => i + 53));
    expect(await s.revision()).toBe(102);
    expect((await s.get('/dup'))?.value).toBe(3);
    expect((await s.list('/c/')).items.every((kv) => (kv.value as any).again)).toBe(true);
  });

  it('commits a huge unawaited burst in order without starving the event loop', async () => {
    const s = open();
    const n = 10_000;
    let resolved = 0;
    const all = Array.from({ length: n }, (_, i) => s.create(`/b/${i}`, i).finally(() => resolved++));
    let resolvedWhenImmediateRan = -1;
    setImmediate(() => (resolvedWhenImmediateRan = resolved));
    const kvs = await Promise.all(all);
    expect(kvs.map((kv) => kv.modRevision)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(resolvedWhenImmediateRan).toBeGreaterThan(0);
    expect(resolvedWhenImmediateRan).toBeLessThan(n);
  });

  it('bounds prefixes by code point, beyond the BMP too', () => {
    expect(prefixRangeEnd('/a/')).toBe('/a0');
    expect(prefixRangeEnd('')).toBeNull();
    expect(prefixRangeEnd('a\u{10ffff}')).toBe('b');
    expect(prefixRangeEnd('\u{10ffff}')).toBeNull();
    expect(prefixRangeEnd('a\ud7ff')).toBe('a\ue000');
  });

  it('keeps data, revision and compaction across reopen', async () => {
    const s = open();
    await s.create('/a', { a: 1 });
    await s.create('/b', { b: 1 });
    await s.update('/a', { a: 2 });
    await s.delete('/b');
    await s.compact(2);
    await s.close();

    const s2 = open();
    expect(await s2.revision()).toBe(4);
    expect(s2.compactedRevision()).toBe(2);
    expect(await s2.get('/a')).toEqual({ key: '/a', value: { a: 2 }, createRevision: 1, modRevision: 3 });
    expect(await s2.get('/b')).toBeUndefined();
    const w = await record(s2, '/', { fromRevision: 3 });
    await w.until(2);
    expect(w.events.map((e) => [e.type, e.kv.modRevision])).toEqual([
      ['PUT', 3],
      ['DELETE', 4],
    ]);
    expect((await s2.create('/c', 1)).modRevision).toBe(5);
  });

  it('matches a model through random writes, compactions and a reopen; compaction keeps current values', async () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 0) % n;
    const model = new Map<string, { value: unknown; createRevision: number; modRevision: number }>();
    const log: Array<[string, string, number]> = []; // [type, key, rev]
    let rev = 0;
    let s = open({ historyLimit: 50 });
    for (let i = 0; i < 600; i++) {
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
      if (i % 97 === 0 && rev > 0) await s.compact(rev - rand(Math.min(rev, 5)));
      if (i === 300) {
        await s.close();
        s = open({ historyLimit: 50 });
      }
    }
    const check = async () => {
      expect(await s.revision()).toBe(rev);
      const expected = [...model.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, v]) => ({ key, ...v }));
      expect((await s.list('/m/')).items).toEqual(expected);
      for (const kv of expected) expect(await s.get(kv.key)).toEqual(kv);
      const from = s.compactedRevision() + 1;
      const w = await record(s, '/m/', { fromRevision: from });
      const want = log.filter(([, , r]) => r >= from);
      await w.until(want.length);
      expect(w.events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual(want);
      w.watch.cancel();
    };
    await check();
    await s.compact(rev); // everything but the current values goes
    await s.close();
    // Nothing stranded: versions kept past a compaction because they were current go when superseded.
    const raw = new DatabaseSync(dbPath, { readOnly: true });
    expect(raw.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: model.size });
    raw.close();
    s = open({ historyLimit: 50 });
    await check();
  });

  it('keeps the revision when compaction removed the newest event (a delete)', async () => {
    const s = open();
    await s.create('/a', 1);
    await s.delete('/a');
    await s.compact(2);
    await s.close();
    const s2 = open();
    expect(await s2.revision()).toBe(2);
    expect((await s2.create('/a', 2)).createRevision).toBe(3);
  });

  it('refuses a second owner of the same file', async () => {
    open();
    expect(() => openSqliteStore(dbPath, { busyTimeoutMs: 50 })).toThrow(/locked/);
  });

  it('close() commits queued writes, then rejects further calls', async () => {
    const s = open();
    const pending = s.create('/late', 1);
    await s.close();
    expect((await pending).modRevision).toBe(1);
    await expect(s.get('/late')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(s.create('/x', 1)).rejects.toBeInstanceOf(StoreClosedError);
    const s2 = open();
    expect((await s2.get('/late'))?.value).toBe(1);
  });
});

describe('sqlite store: watch', () => {
  it('replays a PUT whose previous version was compacted without prevKv', async () => {
    const s = open();
    await s.create('/a', { v: 1 }); // 1
    await s.create('/b', { v: 1 }); // 2
    await s.update('/a', { v: 2 }); // 3: previous version is rev 1
    await s.update('/b', { v: 2 }); // 4: previous version is rev 2
    await s.compact(1);
    const w = await record(s, '/', { fromRevision: 2 });
    await w.until(3);
    expect(w.events.map((e) => [e.kv.modRevision, e.created, e.prevKv?.modRevision])).toEqual([
      [2, true, undefined],
      [3, false, undefined],
      [4, false, 2],
    ]);
    expect(w.events[2].prevKv?.value).toEqual({ v: 1 });
  });

  it('delivers a live event before the writer resumes', async () => {
    const s = open();
    const w = await record(s, '/');
    await s.create('/x', 1);
    expect(w.events).toHaveLength(1);
  });

  it('compacts automatically to historyLimit', async () => {
    const s = open({ historyLimit: 10 });
    for (let i = 1; i <= 30; i++) await s.create(`/k${i}`, i);
    expect(s.compactedRevision()).toBe(20);
    await expect(s.watch('/', () => {}, { fromRevision: 20 })).rejects.toBeInstanceOf(RevisionCompactedError);
    const w = await record(s, '/', { fromRevision: 21 });
    await w.until(10);
    expect(w.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect((await s.list('/')).items).toHaveLength(30);
  });

  it('ends a replay overtaken by compaction with RevisionCompactedError', async () => {
    const s = open();
    await Promise.all(Array.from({ length: 3_000 }, (_, i) => s.create(`/k/${i}`, i)));
    let n = 0;
    const closed = new Promise<Error | undefined>((resolve) => {
      void s.watch('/k/', () => void n++, { fromRevision: 1, onClose: resolve });
    });
    await new Promise((r) => setImmediate(r)); // first chunk delivered
    await s.compact(2_500);
    const err = await closed;
    expect(err).toBeInstanceOf(RevisionCompactedError);
    expect(n).toBeLessThan(3_000);
  });
});

describe('sqlite store: durability', () => {
  it('keeps every acknowledged write when the writer is killed with SIGKILL', async () => {
    const script = fileURLToPath(new URL('./testdata/durable-writer.ts', import.meta.url));
    const child = spawn(process.execPath, [script, dbPath, '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let stderr = '';
    let buf = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) acked.push(Number(l));
      if (acked.length >= 600 && !child.killed) child.kill('SIGKILL');
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('close', (c, sig) => resolve([c, sig])),
    );
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(code).toBeNull();
    expect(acked.length).toBeGreaterThanOrEqual(600);

    const s = open();
    const present = new Map(
      (await s.list<{ i: number }>('/durable/')).items.map((kv) => [kv.key, kv.value.i]),
    );
    const missing = acked.filter((i) => present.get(`/durable/${String(i).padStart(8, '0')}`) !== i);
    expect(missing).toEqual([]);
    expect(await s.revision()).toBe(present.size);
  });
});
