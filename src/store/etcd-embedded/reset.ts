// The etcd side of `strata server --cluster-reset [--cluster-reset-restore-path FILE]` (K3s' flags): read a
// snapshot's revision, turn a snapshot into a new member's data directory, keep the old data directory
// aside, and carry the revision past every one clients may hold. Which of these a reset runs, and with
// which certificates and names, is src/node/embedded-etcd.ts's choice.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ETCDCTL_BIN } from '../etcd-process.ts';
import type { Store } from '../store.ts';

/**
 * Revisions added on top of the old member's last known one before clients are let in. The old member's
 * `member/snap/db` can lag its write-ahead log by one backend batch (etcd commits every 100 ms) when the
 * member was killed rather than stopped; Strata writes far fewer than this many revisions in 100 ms.
 */
export const REVISION_MARGIN = 1_000;

/** The scratch key that carries the revision forward (deleted afterwards). */
export const RESET_BUMP_KEY = '/.strata/cluster-reset/revision-bump';

function etcdctl(args: string[]): string {
  if (!existsSync(ETCDCTL_BIN))
    throw new Error(
      `${ETCDCTL_BIN} not found: --cluster-reset needs etcd-client (apt-get install etcd-client)`,
    );
  const r = spawnSync(ETCDCTL_BIN, args, { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `etcdctl ${args[0]} ${args[1]} failed: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`,
    );
  return r.stdout;
}

/** The revision an etcd snapshot (or a stopped member's member/snap/db) holds, read by `etcdctl snapshot status`. */
export function snapshotRevision(file: string): number {
  const out = JSON.parse(etcdctl(['snapshot', 'status', file, '--write-out=json'])) as { revision?: number };
  if (typeof out.revision !== 'number')
    throw new Error(`etcdctl snapshot status ${file}: no revision in its answer`);
  return out.revision;
}

/** The last revision a stopped member's data directory holds, or undefined when it holds none (or is unreadable). */
export function memberRevision(memberDataDir: string): number | undefined {
  const db = join(memberDataDir, 'member', 'snap', 'db');
  if (!existsSync(db)) return undefined;
  try {
    return snapshotRevision(db);
  } catch {
    return undefined;
  }
}

export interface RestoreSnapshotOptions {
  snapshot: string;
  /** The new member's data directory (must not exist). */
  dataDir: string;
  name: string;
  peerUrl: string;
  /** A token no earlier cluster used: the restored cluster gets new cluster and member IDs. */
  clusterToken: string;
}

/**
 * `etcdctl snapshot restore`: a one-member cluster's data directory holding the snapshot's keys, leases and
 * revision (etcd keeps each key's create/mod revision and the store's revision, so resourceVersions read
 * from the restored cluster are the ones the backup had, and new writes get higher ones).
 */
export function restoreSnapshot(o: RestoreSnapshotOptions): void {
  if (existsSync(o.dataDir))
    throw new Error(`${o.dataDir} exists: a snapshot is restored into a new directory`);
  etcdctl([
    'snapshot',
    'restore',
    o.snapshot,
    `--data-dir=${o.dataDir}`,
    `--name=${o.name}`,
    `--initial-cluster=${o.name}=${o.peerUrl}`,
    `--initial-advertise-peer-urls=${o.peerUrl}`,
    `--initial-cluster-token=${o.clusterToken}`,
  ]);
}

/** Renames `dir` to `dir-old-<time>` (K3s keeps it as etcd-old) and returns the new name. */
export function keepAside(dir: string, now = new Date()): string {
  const kept = `${dir}-old-${now.toISOString().replace(/[:.]/g, '-')}`;
  renameSync(dir, kept);
  return kept;
}

/**
 * Writes a scratch key until the store's revision passes `floor`, deletes it, then compacts at the revision
 * reached. A client that holds a resourceVersion from the cluster before the reset (up to `floor`) then gets
 * a clean "too old, relist" when it watches from it, instead of a watch that waits for a revision the
 * restored cluster reaches only later with other objects' changes; an update carrying such a
 * resourceVersion conflicts. Returns the revision after compaction.
 */
export async function carryRevisionPast(
  store: Store,
  floor: number,
  log: (l: string) => void = () => {},
): Promise<number> {
  let rev = await store.revision();
  if (rev <= floor) {
    log(`revision ${rev} → past ${floor}`);
    if (!(await store.get(RESET_BUMP_KEY)))
      rev = (await store.create(RESET_BUMP_KEY, { purpose: 'cluster-reset' })).modRevision;
    const workers = Array.from({ length: 32 }, async () => {
      while (rev <= floor) {
        const kv = await store.update(RESET_BUMP_KEY, { purpose: 'cluster-reset' });
        rev = Math.max(rev, kv.modRevision);
      }
    });
    await Promise.all(workers);
  }
  if (await store.get(RESET_BUMP_KEY)) await store.delete(RESET_BUMP_KEY);
  const end = await store.revision();
  await store.compact(end);
  return end;
}
