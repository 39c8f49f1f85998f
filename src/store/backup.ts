// Backups of either datastore, and restoring them.
//
// A backup is one file plus FILE.sha256 (`sha256sum -c` reads it):
//   sqlite  a `VACUUM INTO` copy made by the process that owns the database (a consistent, compact
//           SQLite file as of the last committed write);
//   etcd    etcd's maintenance snapshot (the Snapshot RPC: a consistent bbolt image of one member, the
//           file `etcdctl snapshot restore` takes).
// The file is written beside its final name and renamed into place after its checksum, so a crash never
// leaves a truncated file under the final name.
//
// Restore verifies the checksum first and never writes over a running server:
//   into sqlite  the file must not be held (a running server holds the sqlite lock); a sqlite backup is
//                copied back as-is (revisions exactly as they were), the old file kept beside it; an etcd
//                snapshot is read through a private etcd member and copied in.
//   into etcd    the target must be empty (every running server keeps keys there) unless `force`; the
//                backup's keys are copied in by migrateStore, which keeps resourceVersions monotonic.
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  closeSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ISnapshotResponse } from 'etcd3';
import { openDatastore, type Datastore, type DatastoreSpec } from './datastore.ts';
import { migrateStore, countByResource, type MigrateReport } from './datastore-migrate.ts';
import { EtcdStore, openEtcdStore } from './etcd.ts';
import { serveSnapshot } from './etcd-process.ts';
import { openSqliteStore, SqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

export type BackupKind = 'sqlite' | 'etcd';

export interface BackupResult {
  file: string;
  kind: BackupKind;
  sha256: string;
  bytes: number;
  /** Keys per resource in the datastore when the backup was taken (read just before it). */
  counts: Record<string, number>;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Takes a backup of an open datastore into `out` (+ `out.sha256`). */
export async function backupDatastore(store: Datastore, out: string): Promise<BackupResult> {
  if (existsSync(out)) throw new Error(`${out} already exists`);
  const partial = join(dirname(out), `.${basename(out)}.partial`);
  rmSync(partial, { force: true });
  const counts = countByResource((await store.list('')).items.map((kv) => kv.key));
  let kind: BackupKind;
  try {
    if (store instanceof SqliteStore) {
      kind = 'sqlite';
      await store.backupTo(partial);
    } else if (store instanceof EtcdStore) {
      kind = 'etcd';
      const stream = await store.client.maintenance.snapshot();
      const chunks = Readable.from(
        (async function* () {
          for await (const res of stream as unknown as AsyncIterable<ISnapshotResponse>) yield res.blob;
        })(),
      );
      await pipeline(chunks, createWriteStream(partial, { mode: 0o600 }));
    } else {
      throw new Error('backup: unknown datastore');
    }
    const sha256 = await sha256File(partial);
    renameSync(partial, out);
    writeFileSync(`${out}.sha256`, `${sha256}  ${basename(out)}\n`);
    return { file: out, kind, sha256, bytes: statSync(out).size, counts };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
}

/** Checks FILE against FILE.sha256 and tells what kind of backup it is. Throws on any mismatch. */
export async function verifyBackup(file: string): Promise<{ kind: BackupKind; sha256: string }> {
  if (!existsSync(file)) throw new Error(`${file}: no such backup`);
  let recorded: string;
  try {
    recorded = readFileSync(`${file}.sha256`, 'utf8').trim().split(/\s+/)[0];
  } catch {
    throw new Error(`${file}.sha256 is missing: cannot verify the backup`);
  }
  const actual = await sha256File(file);
  if (recorded !== actual) {
    throw new Error(
      `${file}: checksum mismatch (recorded ${recorded}, file has ${actual}); the backup is damaged`,
    );
  }
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return { kind: head.equals(SQLITE_MAGIC) ? 'sqlite' : 'etcd', sha256: actual };
}

export interface RestoreOptions {
  /** etcd target: replace the keys it holds (only with every server stopped). */
  force?: boolean;
  log?: (line: string) => void;
}

export interface RestoreResult {
  kind: BackupKind;
  /** Keys per resource now in the target. */
  counts: Record<string, number>;
  /** How the keys got there: the file itself (sqlite → sqlite) or a copy (migrate report). */
  copy?: MigrateReport;
}

/** Opens the backup read-only-in-effect as a Store (a temp copy for sqlite; a private member for etcd). */
async function openBackup(file: string, kind: BackupKind): Promise<{ store: Store; close(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'strata-restore-'));
    const copy = join(dir, 'state.db');
    copyFileSync(file, copy);
    const store = openSqliteStore(copy);
    return {
      store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const member = await serveSnapshot(file);
  const store = openEtcdStore({ endpoints: [member.endpoint], compactionIntervalMs: 0 });
  return {
    store,
    async close() {
      await store.close();
      await member.stop();
    },
  };
}

export async function restoreBackup(
  file: string,
  target: DatastoreSpec,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const log = opts.log ?? (() => {});
  const { kind } = await verifyBackup(file);
  log(`${file}: ${kind} backup, checksum verified`);
  if (target.kind === 'sqlite') {
    // A running server holds the file's lock: opening it is the test (and fails fast).
    if (existsSync(target.path)) {
      let held: SqliteStore;
      try {
        held = openSqliteStore(target.path, { busyTimeoutMs: 0 });
      } catch (err) {
        throw new Error(
          `${target.path} is in use (${(err as Error).message}): stop the server before restoring`,
        );
      }
      await held.close();
      const kept = `${target.path}.pre-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(target.path, kept);
      for (const ext of ['-wal', '-shm']) rmSync(target.path + ext, { force: true });
      log(`kept the previous datastore as ${kept}`);
    }
    if (kind === 'sqlite') {
      copyFileSync(file, target.path);
      const s = openSqliteStore(target.path);
      try {
        return { kind, counts: countByResource((await s.list('')).items.map((kv) => kv.key)) };
      } finally {
        await s.close();
      }
    }
  }
  const source = await openBackup(file, kind);
  try {
    const dest = await openDatastore(target, { compactionIntervalMs: 0 });
    try {
      const copy = await migrateStore(source.store, dest, { force: opts.force, log });
      return { kind, counts: copy.counts, copy };
    } catch (err) {
      if (target.kind === 'etcd' && /not empty/.test((err as Error).message)) {
        throw new Error(
          `${(err as Error).message.replace(/; migrate into.*$/, '')}: servers may be running on it. Stop every server, then restore with --force`,
        );
      }
      throw err;
    } finally {
      await dest.close();
    }
  } finally {
    await source.close();
  }
}
