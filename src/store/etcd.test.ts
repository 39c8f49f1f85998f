// The Store contract on a real etcd (Debian's etcd-server, started by the test on loopback ports), plus
// what only a cluster shows: a member killed, quorum holds, and writes and watches carry on.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openEtcdStore, type EtcdStore } from './etcd.ts';
import { prefixRangeEndBytes } from './etcd-keys.ts';
import { storeContract, record } from './store-contract.ts';
import { RevisionCompactedError } from './store.ts';
import { etcdUnavailable, startEtcdCluster, type EtcdCluster } from './testing/etcd.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping etcd store tests: ${missing}`);

describe.skipIf(missing)('etcd store', () => {
  let etcd: EtcdCluster;
  let n = 0;
  const opened: EtcdStore[] = [];

  beforeAll(async () => {
    etcd = await startEtcdCluster();
  }, 60_000);
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  const open = (root = `/t${++n}`) => {
    const s = openEtcdStore({ endpoints: etcd.endpoints, root, compactionIntervalMs: 0 });
    opened.push(s);
    return s;
  };

  storeContract('etcd', { open: async () => open() });

  it('byte-wise prefix range ends, as etcd computes them', () => {
    expect(prefixRangeEndBytes(Buffer.from('/a/'))).toEqual(Buffer.from('/a0'));
    expect(prefixRangeEndBytes(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from('b'));
    expect(prefixRangeEndBytes(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });

  it('keeps data and revisions for a second store on the same etcd (another server process)', async () => {
    const root = `/shared${++n}`;
    const a = open(root);
    const b = open(root);
    const w = await record(b, '/');
    const kv = await a.create('/x', { v: 1 });
    await w.until(1);
    expect(w.events[0].kv).toEqual(kv);
    expect(await b.get('/x')).toEqual(kv);
    await expect(b.update('/x', { v: 2 }, kv.modRevision - 1)).rejects.toMatchObject({
      name: 'ConflictError',
    });
  });

  it('learns a compaction made by another process when asked to watch from before it', async () => {
    const a = open();
    const b = open();
    const r0 = await a.revision();
    for (let i = 0; i < 5; i++) await a.create(`/k${i}`, i);
    await a.compact(r0 + 3);
    const err = await b.watch('/', () => {}, { fromRevision: r0 + 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RevisionCompactedError);
    expect(err).toMatchObject({ requested: r0 + 2, compacted: r0 + 3 });
  });

  it('compacts automatically, keeping historyLimit revisions', async () => {
    const s = openEtcdStore({
      endpoints: etcd.endpoints,
      root: `/auto${++n}`,
      compactionIntervalMs: 200,
      historyLimit: 5,
    });
    opened.push(s);
    for (let i = 0; i < 20; i++) await s.create(`/k${i}`, i);
    const r = await s.revision();
    // Two ticks: the first notes the revision, the second compacts to it (minus historyLimit).
    await vi.waitFor(() => expect(s.compactedRevision()).toBe(r - 5), { timeout: 10_000 });
    await expect(s.watch('/', () => {}, { fromRevision: r - 5 })).rejects.toBeInstanceOf(
      RevisionCompactedError,
    );
    expect((await s.list('/')).items).toHaveLength(20);
  });
});

describe.skipIf(missing)('etcd store on three members', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster({ size: 3 });
  }, 90_000);
  afterAll(async () => {
    await etcd?.stop();
  });

  it('keeps serving writes, reads and watches when one member is killed (quorum holds)', async () => {
    const s = openEtcdStore({ endpoints: etcd.endpoints, root: '/q', compactionIntervalMs: 0 });
    try {
      const w = await record(s, '/');
      for (let i = 0; i < 10; i++) await s.create(`/before/${i}`, i);
      await etcd.kill(0);
      // The client may have been talking to the killed member: its retry moves to another one.
      for (let i = 0; i < 10; i++) await s.create(`/after/${i}`, i);
      expect((await s.list('/')).items).toHaveLength(20);
      await w.until(20);
      const revs = w.events.map((e) => e.kv.modRevision);
      expect(revs).toEqual([...revs].sort((a, b) => a - b));
      expect(new Set(revs).size).toBe(20);
      // A second member down: no quorum, writes fail (and change nothing once the member is back).
      await etcd.kill(1);
      const lost = await Promise.race([
        s.create('/noquorum', 1).then(
          () => 'written',
          () => 'failed',
        ),
        new Promise((r) => setTimeout(() => r('timeout'), 8_000)),
      ]);
      expect(lost).not.toBe('written');
      await etcd.restart(1);
      await etcd.restart(0);
    } finally {
      await s.close();
    }
  }, 120_000);
});
