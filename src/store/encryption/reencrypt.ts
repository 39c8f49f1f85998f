// Rewrites every object of the configured resources with the first provider (the current key), then
// removes what still holds the old form: compaction drops every superseded version from the history
// (as etcd's compaction does), and the datastore's own maintenance (sqlite: VACUUM + TRUNCATE
// checkpoint) drops free pages and old WAL frames. Runs on a store nobody else writes to (offline:
// `strata secrets reencrypt` opens the data directory, which fails while a server holds it).
import type { KeyValue, Store } from '../store.ts';
import type { EncryptionConfig } from './config.ts';

export interface ReencryptResult {
  /** Objects rewritten, by resource (`secrets`, `configmaps`, `deployments.apps` …). */
  rewritten: Record<string, number>;
  /** Objects of configured resources already under the current key (rewritten anyway). */
  alreadyCurrent: number;
  /** History at or below this revision is gone. */
  compactedTo: number;
}

/** Writes issued in one tick: the sqlite store commits them in one transaction (one fsync). */
const CHUNK = 512;

export async function reencrypt(
  store: Store,
  config: EncryptionConfig,
  maintain?: () => Promise<void>,
): Promise<ReencryptResult> {
  const { items } = await store.list('/registry/');
  const rewritten: Record<string, number> = {};
  let alreadyCurrent = 0;
  const todo: Array<{ kv: KeyValue; sealed: unknown }> = [];
  for (const kv of items) {
    const t = config.transformerFor(kv.key);
    if (!t) continue;
    if (t.isCurrent(kv.value)) alreadyCurrent++;
    // Open first: an object no provider can read stops the run here, before anything is written.
    todo.push({ kv, sealed: t.seal(kv.key, t.open(kv.key, kv.value)) });
  }
  for (let i = 0; i < todo.length; i += CHUNK) {
    await Promise.all(
      todo.slice(i, i + CHUNK).map(async ({ kv, sealed }) => {
        await store.update(kv.key, sealed, kv.modRevision);
        const [, , group, resource] = kv.key.split('/');
        const name = group === 'core' ? resource : `${resource}.${group}`;
        rewritten[name] = (rewritten[name] ?? 0) + 1;
      }),
    );
  }
  const revision = await store.revision();
  if (revision > 0) await store.compact(revision);
  await maintain?.();
  return { rewritten, alreadyCurrent, compactedTo: revision };
}
