// The etcd side of --cluster-reset against a real etcd 3.4 (plain HTTP on loopback): a snapshot's revision,
// a restored member that keeps every key's revision, keeping a directory aside, and carrying the revision
// past an old one with history compacted there. The whole reset through `strata server`:
// src/node/cluster-reset.test.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/free-port.ts';
import { backupDatastore } from '../backup.ts';
import { openEtcdStore } from '../etcd.ts';
import { ETCD_BIN, ETCDCTL_BIN } from '../etcd-process.ts';
import { RevisionCompactedError } from '../store.ts';
import { etcdUnavailable, startEtcdCluster } from '../testing/etcd.ts';
import { carryRevisionPast, keepAside, RESET_BUMP_KEY, restoreSnapshot, snapshotRevision } from './reset.ts';

const missing =
  etcdUnavailable() ?? (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found (etcd-client)`);
if (missing) console.warn(`skipping cluster-reset (etcd side) tests: ${missing}`);

describe.skipIf(missing)('cluster reset, etcd side', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-reset-etcd-'));
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(root, { recursive: true, force: true });
  });

  it('restores a snapshot keeping its revisions, then carries the revision past an old one and compacts', async () => {
    const cluster = await startEtcdCluster();
    cleanups.push(() => cluster.stop());
    const source = openEtcdStore({ endpoints: cluster.endpoints, compactionIntervalMs: 0 });
    cleanups.push(() => source.close());
    for (let i = 0; i < 20; i++) await source.create(`/registry/core/configmaps/ns${i % 3}/cm${i}`, { i });
    const snapshot = join(root, 'snap.db');
    const backup = await backupDatastore(source, snapshot);
    expect(backup.kind).toBe('etcd');
    const atBackup = await source.list('');
    expect(snapshotRevision(snapshot)).toBe(atBackup.revision);
    // The old cluster goes on past the backup.
    for (let i = 0; i < 30; i++) await source.update('/registry/core/configmaps/ns0/cm0', { i: -i });
    const oldRevision = await source.revision();

    const dataDir = join(root, 'restored');
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    const clientUrl = `http://127.0.0.1:${await freePort()}`;
    restoreSnapshot({ snapshot, dataDir, name: 'r1', peerUrl, clusterToken: 'strata-test-reset' });
    expect(() =>
      restoreSnapshot({ snapshot, dataDir, name: 'r1', peerUrl, clusterToken: 'strata-test-reset' }),
    ).toThrow(/exists/);
    const etcd = spawn(
      ETCD_BIN,
      [
        '--name=r1',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=r1=${peerUrl}`,
      ],
      { stdio: 'ignore' },
    );
    cleanups.push(
      () =>
        new Promise<void>((done) => {
          if (etcd.exitCode !== null) return done();
          etcd.once('exit', () => done());
          etcd.kill('SIGTERM');
        }),
    );
    const restored = openEtcdStore({ endpoints: [clientUrl], compactionIntervalMs: 0 });
    cleanups.push(() => restored.close());
    for (let i = 0; ; i++) {
      try {
        await restored.revision();
        break;
      } catch (err) {
        if (i > 150) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // Every key as the backup had it, with its revision.
    const got = await restored.list('');
    expect(got.revision).toBe(atBackup.revision);
    expect(got.items.map((kv) => [kv.key, kv.modRevision, kv.value])).toEqual(
      atBackup.items.map((kv) => [kv.key, kv.modRevision, kv.value]),
    );

    const end = await carryRevisionPast(restored, oldRevision);
    expect(end).toBeGreaterThan(oldRevision);
    expect(await restored.get(RESET_BUMP_KEY)).toBeUndefined();
    expect((await restored.list('')).items).toHaveLength(atBackup.items.length);
    const next = await restored.create('/registry/core/configmaps/ns0/new', {});
    expect(next.modRevision).toBeGreaterThan(oldRevision);
    // A watch from a revision the old cluster handed out after the backup: too old, relist.
    await expect(
      (async () => {
        const w = await restored.watch('/registry/', () => {}, { fromRevision: oldRevision - 5 });
        w.cancel();
      })(),
    ).rejects.toBeInstanceOf(RevisionCompactedError);
    // Already past: no writes, only the compaction.
    const rev = await restored.revision();
    expect(await carryRevisionPast(restored, 1)).toBe(rev);
  }, 120_000);

  it('keeps a directory aside under a new name, with its contents', () => {
    const dir = join(root, 'data');
    mkdirSync(join(dir, 'member'), { recursive: true });
    writeFileSync(join(dir, 'member', 'x'), 'y');
    const kept = keepAside(dir, new Date('2026-01-02T03:04:05.678Z'));
    expect(kept).toBe(`${dir}-old-2026-01-02T03-04-05-678Z`);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(kept, 'member'))).toEqual(['x']);
  });

  it('says clearly when a file is no snapshot', () => {
    const f = join(root, 'not-a-snapshot.db');
    writeFileSync(f, 'hello');
    expect(() => snapshotRevision(f)).toThrow(/etcdctl snapshot status failed/);
  });
});
