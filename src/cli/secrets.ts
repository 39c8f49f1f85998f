// `strata secrets reencrypt`: rewrites every object of the resources an EncryptionConfiguration names
// with its first provider (the current key), then compacts the history and VACUUMs the sqlite file so no
// older form (plaintext from before encryption, or an old key's ciphertext) remains in the database or
// its WAL. Offline: the server must be stopped (its store holds an exclusive lock).
import { resolve } from 'node:path';
import { defaultDataDir } from './cluster.ts';

export async function reencryptSecrets(o: {
  dataDir?: string;
  encryptionProviderConfig: string;
}): Promise<void> {
  const dataDir = resolve(o.dataDir ?? defaultDataDir());
  const { reencryptDataDir } = await import('../node/control-plane.ts');
  const r = await reencryptDataDir(dataDir, resolve(o.encryptionProviderConfig));
  const parts = Object.entries(r.rewritten).map(([res, n]) => `${n} ${res}`);
  console.log(
    `rewrote ${parts.length ? parts.join(', ') : 'nothing'} with the first provider of ${o.encryptionProviderConfig}`,
  );
  console.log(
    `compacted history through revision ${r.compactedTo}; VACUUM and WAL checkpoint (TRUNCATE) done`,
  );
}
