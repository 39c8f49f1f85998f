// Datastore strings, sqlite → etcd migration and backup/restore, on a populated sqlite store (a few hundred
// objects of several kinds written through the ObjectStore) and a real etcd on loopback.
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { backupDatastore, restoreBackup, verifyBackup } from './backup.ts';
import { openDatastore, parseDatastore } from './datastore.ts';
import { countByResource, migrateStore, resourceOfKey } from './datastore-migrate.ts';
import { ETCDCTL_BIN } from './etcd-process.ts';
import { openEtcdStore } from './etcd.ts';
import { ObjectStore } from './objects.ts';
import { openSqliteStore, type SqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';
import { etcdUnavailable, startEtcdCluster, type EtcdCluster } from './testing/etcd.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping etcd datastore tests: ${missing}`);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-datastore-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A sqlite store with namespaces, config maps, secrets, pods and deployments: 5 + 5×(40+20+30+10). */
async function populate(store: Store): Promise<void> {
  const objects = new ObjectStore(store);
  for (let n = 0; n < 5; n++) {
    const ns = `team-${n}`;
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++)
      writes.push(
        objects.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${i}`, namespace: ns },
          data: { i: String(i) },
        }),
      );
    for (let i = 0; i < 20; i++)
      writes.push(
        objects.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `s-${i}`, namespace: ns },
          stringData: { k: `v${i}` },
        }),
      );
    for (let i = 0; i < 30; i++)
      writes.push(
        objects.create({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `p-${i}`, namespace: ns, labels: { app: 'a' } },
          spec: { containers: [{ name: 'c', image: '/opt/app.wasm' }] },
        }),
      );
    for (let i = 0; i < 10; i++)
      writes.push(
        objects.create({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `d-${i}`, namespace: ns },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: `d${i}` } },
            template: {
              metadata: { labels: { app: `d${i}` } },
              spec: { containers: [{ name: 'c', image: '/opt/app.wasm' }] },
            },
          },
        }),
      );
    await Promise.all(writes);
  }
  // Some history: updates and deletes, so revisions run well past the object count.
  for (let i = 0; i < 30; i++) {
    const cm = await objects.get(kindFor('v1', 'ConfigMap')!, 'team-0', `cm-${i}`);
    await objects.update({ ...cm, data: { i: `updated-${i}` } });
  }
  for (let i = 30; i < 40; i++) await objects.delete(kindFor('v1', 'ConfigMap')!, 'team-1', `cm-${i}`);
}

describe('datastore strings', () => {
  it('parses sqlite and etcd datastores, TLS making etcd https', () => {
    expect(parseDatastore('sqlite:///var/lib/strata/state.db')).toEqual({
      kind: 'sqlite',
      path: '/var/lib/strata/state.db',
    });
    expect(parseDatastore('etcd://127.0.0.1:2379,10.0.0.2:2379')).toEqual({
      kind: 'etcd',
      endpoints: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'],
    });
    expect(
      parseDatastore('etcd://e1:2379', { caFile: '/ca.crt', certFile: '/c.crt', keyFile: '/c.key' }),
    ).toMatchObject({
      endpoints: ['https://e1:2379'],
      tls: { caFile: '/ca.crt' },
    });
  });

  it('refuses bad strings naming the flag and the part', () => {
    expect(() => parseDatastore('mysql://x')).toThrow(/--datastore mysql:\/\/x: unknown scheme mysql/);
    expect(() => parseDatastore('etcd://host')).toThrow(/"host" is not HOST:PORT/);
    expect(() => parseDatastore('etcd://h:99999')).toThrow(/"h:99999" is not HOST:PORT/);
    expect(() => parseDatastore('/tmp/x.db')).toThrow(/expected sqlite:\/\/PATH/);
    expect(() => parseDatastore('etcd://h:1', { certFile: '/c' })).toThrow(
      /--etcd-certfile and --etcd-keyfile go together/,
    );
    expect(() => parseDatastore('sqlite:///x', { caFile: '/c' })).toThrow(/apply to etcd/);
  });

  it('names resources from keys', () => {
    expect(resourceOfKey('/registry/core/pods/ns/p')).toBe('pods');
    expect(resourceOfKey('/registry/apps/deployments/ns/d')).toBe('deployments.apps');
    expect(resourceOfKey('/x')).toBe('other');
  });
});

describe('sqlite backup and restore', () => {
  it('backs up a live store, verifies the checksum and restores it as it was (revisions included)', async () => {
    const path = join(dir, 'state.db');
    const live = openSqliteStore(path);
    await populate(live);
    const before = await live.list('');
    const out = join(dir, 'backup.db');
    const result = await backupDatastore(live, out);
    expect(result.kind).toBe('sqlite');
    expect(readFileSync(`${out}.sha256`, 'utf8')).toBe(`${result.sha256}  backup.db\n`);
    expect(result.counts).toEqual(countByResource(before.items.map((kv) => kv.key)));
    expect(result.counts).toMatchObject({ configmaps: 190, secrets: 100, pods: 150, 'deployments.apps': 50 });

    // The server is still running: restoring over it is refused, and changes nothing.
    await expect(restoreBackup(out, { kind: 'sqlite', path })).rejects.toThrow(/in use.*stop the server/);
    await live.create('/after-backup', 1);
    await live.close();

    const restored = await restoreBackup(out, { kind: 'sqlite', path });
    expect(restored.counts).toEqual(result.counts);
    const s = openSqliteStore(path);
    try {
      const after = await s.list('');
      expect(after.items).toEqual(before.items);
      expect(after.revision).toBe(before.revision);
    } finally {
      await s.close();
    }
  });

  it('refuses a damaged backup', async () => {
    const live = openSqliteStore(join(dir, 'state.db'));
    await live.create('/registry/core/configmaps/default/x', { a: 1 });
    const out = join(dir, 'b.db');
    await backupDatastore(live, out);
    await live.close();
    const bytes = readFileSync(out);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(out, bytes);
    await expect(verifyBackup(out)).rejects.toThrow(/checksum mismatch/);
    await expect(restoreBackup(out, { kind: 'sqlite', path: join(dir, 'other.db') })).rejects.toThrow(
      /checksum mismatch/,
    );
    expect(existsSync(join(dir, 'other.db'))).toBe(false);
  });
});

describe.skipIf(missing)('with etcd', () => {
  let etcd: EtcdCluster;
  let root = 0;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
  });

  it('opens an etcd datastore and refuses one that does not answer', async () => {
    const s = await openDatastore(parseDatastore(etcd.datastoreUrl), {
      compactionIntervalMs: 0,
      root: '/open',
    });
    expect(await s.revision()).toBeGreaterThan(0);
    await s.close();
  });

  it('migrates a populated sqlite store: counts and values equal, resourceVersions past the source', async () => {
    const src: SqliteStore = openSqliteStore(join(dir, 'state.db'));
    await populate(src);
    const snap = await src.list('');
    const target = openEtcdStore({
      endpoints: etcd.endpoints,
      root: `/mig${++root}`,
      compactionIntervalMs: 0,
    });
    try {
      const report = await migrateStore(src, target);
      expect(report.total).toBe(snap.items.length);
      expect(report.counts).toEqual(countByResource(snap.items.map((kv) => kv.key)));
      expect(report.targetStartRevision).toBeGreaterThan(snap.revision);
      const copied = await target.list('');
      expect(copied.items.map((kv) => kv.key)).toEqual(snap.items.map((kv) => kv.key));
      // A sample of objects, through the ObjectStore on the new datastore.
      const objects = new ObjectStore(target);
      const cm = await objects.get(kindFor('v1', 'ConfigMap')!, 'team-0', 'cm-3');
      expect(cm.data).toEqual({ i: 'updated-3' });
      expect(Number(cm.metadata.resourceVersion)).toBeGreaterThan(snap.revision);
      const dep = await objects.get(kindFor('apps/v1', 'Deployment')!, 'team-4', 'd-9');
      expect(dep.spec.replicas).toBe(2);
      // A non-empty target is refused unless forced.
      await expect(migrateStore(src, target)).rejects.toThrow(/not empty \(\d+ keys\).*--force/);
      const again = await migrateStore(src, target, { force: true });
      expect(again.counts).toEqual(report.counts);
      expect(again.targetStartRevision).toBeGreaterThan(report.targetEndRevision);
    } finally {
      await target.close();
      await src.close();
    }
  }, 120_000);

  it.skipIf(!existsSync(ETCDCTL_BIN))(
    'backs up etcd through the snapshot API and restores it into an empty datastore with the same counts',
    async () => {
      const store = openEtcdStore({ endpoints: etcd.endpoints, root: '', compactionIntervalMs: 0 });
      const fresh = await startEtcdCluster();
      try {
        // This test owns the cluster's unprefixed keyspace: start from nothing.
        for (const kv of (await store.list('')).items) await store.delete(kv.key);
        await populate(store);
        const before = await store.list('');
        const out = join(dir, 'etcd.snapshot');
        const result = await backupDatastore(store, out);
        expect(result.kind).toBe('etcd');
        expect((await verifyBackup(out)).kind).toBe('etcd');
        // Into an etcd that holds keys (as with running servers): refused.
        await expect(restoreBackup(out, parseDatastore(etcd.datastoreUrl))).rejects.toThrow(
          /not empty.*Stop every server/,
        );
        // Into an empty one: the same keys and values, newer revisions.
        const restored = await restoreBackup(out, parseDatastore(fresh.datastoreUrl));
        expect(restored.counts).toEqual(result.counts);
        const check = openEtcdStore({ endpoints: fresh.endpoints, compactionIntervalMs: 0 });
        try {
          const after = await check.list('');
          expect(after.items.map((kv) => [kv.key, kv.value])).toEqual(
            before.items.map((kv) => [kv.key, kv.value]),
          );
        } finally {
          await check.close();
        }
        // And into sqlite: the other backend reads the same snapshot.
        const restoredSqlite = await restoreBackup(out, { kind: 'sqlite', path: join(dir, 'from-etcd.db') });
        expect(restoredSqlite.counts).toEqual(result.counts);
      } finally {
        await store.close();
        await fresh.stop();
      }
    },
    180_000,
  );
});
