// `strata secrets reencrypt` on a data directory: offline, because the sqlite store belongs to one
// process (an exclusive lock) — while a server runs, opening it fails and the command says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteStore, type SqliteStore } from '../sqlite.ts';
import { loadEncryptionConfig } from './config.ts';
import { reencrypt, type ReencryptResult } from './reencrypt.ts';

export async function reencryptDataDir(
  dataDir: string,
  encryptionProviderConfig: string,
): Promise<ReencryptResult> {
  const config = loadEncryptionConfig(encryptionProviderConfig);
  const path = join(dataDir, 'state.db');
  if (!existsSync(path)) throw new Error(`${path}: no datastore here (is --data-dir right?)`);
  let store: SqliteStore;
  try {
    store = openSqliteStore(path, { busyTimeoutMs: 1_000 });
  } catch (err) {
    if (/locked|busy/i.test((err as Error).message))
      throw new Error(
        `${path} is held by a running server: stop it (strata down), run reencrypt, then start it again with the same --encryption-provider-config`,
      );
    throw err;
  }
  try {
    return await reencrypt(store, config, () => store.vacuum());
  } finally {
    await store.close();
  }
}
