// `strata datastore migrate`: copies every key of one Store into another (sqlite → etcd is the case users
// ask for; any pair works), verifiably.
//
// 1. Snapshot: one list('') of the source — a single consistent revision on both backends (sqlite reads
//    it in one synchronous statement; etcd pages it at one revision). The source must not be in use: a
//    running server holds the sqlite file's lock, so opening it fails first.
// 2. Target: refused when it holds any key, unless `force` (then those keys are deleted first).
// 3. resourceVersions stay monotonic for clients: etcd assigns revisions itself, so before copying, the
//    target's revision is driven past the source's (writes to one scratch key, deleted at the end). Every
//    copied object then has a resourceVersion greater than any a client saw on the old datastore, so a
//    client's "watch from my last resourceVersion" gets a clean 410 Gone/relist instead of silently missing
//    events, and optimistic-concurrency updates carrying an old resourceVersion conflict instead of
//    overwriting. (Revisions are not carried over one for one: etcd cannot be told which to use.)
// 4. Copy with bounded concurrency, then verify: the target's keys per resource, and every value, equal
//    the snapshot's.
import { isDeepStrictEqual } from 'node:util';
import type { Store } from './store.ts';

export interface MigrateOptions {
  /** Replace a target that already holds keys (they are deleted first). */
  force?: boolean;
  /** Writes in flight (default 64). */
  concurrency?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface MigrateReport {
  /** The source revision the snapshot reflects. */
  sourceRevision: number;
  /** The target's revision when the copy began (past sourceRevision). */
  targetStartRevision: number;
  targetEndRevision: number;
  /** Keys per resource ("pods", "deployments.apps", …; "other" outside /registry/), equal on both sides. */
  counts: Record<string, number>;
  total: number;
}

/** The scratch key that carries the target's revision past the source's. */
export const REVISION_BUMP_KEY = '/.strata/migration/revision-bump';

/** "/registry/<group>/<plural>/…" → "plural" (core) or "plural.group". */
export function resourceOfKey(key: string): string {
  const parts = key.split('/');
  if (parts[1] !== 'registry' || parts.length < 4) return 'other';
  const [group, plural] = [parts[2], parts[3]];
  return group === 'core' ? plural : `${plural}.${group}`;
}

export function countByResource(keys: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of keys) {
    const r = resourceOfKey(k);
    counts[r] = (counts[r] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export async function migrateStore(
  from: Store,
  to: Store,
  opts: MigrateOptions = {},
): Promise<MigrateReport> {
  const log = opts.log ?? (() => {});
  const concurrency = opts.concurrency ?? 64;
  const snapshot = await from.list('');
  log(`source: ${snapshot.items.length} keys at revision ${snapshot.revision}`);

  const existing = await to.list('');
  if (existing.items.length > 0) {
    if (!opts.force) {
      throw new Error(
        `the target datastore is not empty (${existing.items.length} keys); migrate into an empty one, or pass --force to delete them first`,
      );
    }
    log(`target: deleting ${existing.items.length} existing keys (--force)`);
    await pool(existing.items, concurrency, (kv) => to.delete(kv.key).then(() => undefined));
  }

  // Drive the target's revision past the source's, so every copied resourceVersion is newer than any
  // a client holds (one write = one revision on both backends).
  let rev = await to.revision();
  if (rev <= snapshot.revision) {
    log(`target: revision ${rev} → past ${snapshot.revision}`);
    const bump = await to.get(REVISION_BUMP_KEY);
    if (!bump)
      rev = (await to.create(REVISION_BUMP_KEY, { purpose: 'strata datastore migrate' })).modRevision;
    const workers = Array.from({ length: concurrency }, async () => {
      while (rev <= snapshot.revision) {
        const kv = await to.update(REVISION_BUMP_KEY, { purpose: 'strata datastore migrate' });
        rev = Math.max(rev, kv.modRevision);
      }
    });
    await Promise.all(workers);
  }
  if (await to.get(REVISION_BUMP_KEY)) await to.delete(REVISION_BUMP_KEY);
  const targetStartRevision = await to.revision();

  log(`copying ${snapshot.items.length} keys`);
  await pool(snapshot.items, concurrency, async (kv) => {
    await to.create(kv.key, kv.value);
  });

  // Verify: the same keys per resource, the same values.
  const copied = await to.list('');
  const want = countByResource(snapshot.items.map((kv) => kv.key));
  const got = countByResource(copied.items.map((kv) => kv.key));
  if (!isDeepStrictEqual(want, got)) {
    throw new Error(
      `verification failed: counts differ\n  source ${JSON.stringify(want)}\n  target ${JSON.stringify(got)}`,
    );
  }
  const byKey = new Map(copied.items.map((kv) => [kv.key, kv] as const));
  for (const kv of snapshot.items) {
    const t = byKey.get(kv.key);
    if (!t || !isDeepStrictEqual(t.value, kv.value))
      throw new Error(`verification failed: ${kv.key} differs`);
    if (t.modRevision <= snapshot.revision) {
      throw new Error(`verification failed: ${kv.key} has revision ${t.modRevision} <= ${snapshot.revision}`);
    }
  }
  return {
    sourceRevision: snapshot.revision,
    targetStartRevision,
    targetEndRevision: copied.revision,
    counts: want,
    total: snapshot.items.length,
  };
}

/** Runs `fn` over `items` with at most `n` in flight; the first failure rejects (after in-flight ones settle). */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== undefined) throw failed;
}
