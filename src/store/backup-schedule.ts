// Scheduled backups on the server (K3s' etcd-snapshot-schedule-cron / -retention): a cron expression
// (croner: five or six fields, e.g. "0 */6 * * *"), files named strata-<kind>-<UTC time>.db in the backup
// directory, the newest `retention` kept. A run that overlaps the previous one is skipped (protect), and a
// failed run is logged without stopping the schedule.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import { backupDatastore, type BackupResult } from './backup.ts';
import type { Datastore } from './datastore.ts';
import { EtcdStore } from './etcd.ts';

export interface BackupScheduleOptions {
  store: Datastore;
  /** Cron expression. */
  schedule: string;
  /** Backups kept (default 5). */
  retention?: number;
  dir: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Called after each successful backup (tests). */
  onBackup?: (r: BackupResult) => void;
}

const NAME = /^strata-(sqlite|etcd)-\d{8}T\d{9}Z\.db$/;

/** Checks a schedule without starting it (flag validation before anything opens). */
export function checkBackupSchedule(schedule: string, retention: number | undefined): void {
  try {
    new Cron(schedule, { paused: true }).stop();
  } catch (err) {
    throw new Error(`--backup-schedule ${JSON.stringify(schedule)}: ${(err as Error).message}`);
  }
  if (retention !== undefined && (!Number.isInteger(retention) || retention < 1))
    throw new Error(`--backup-retention ${retention}: expected a whole number of backups, 1 or more`);
}

/** The backups in `dir`, oldest first (names sort by time). */
export function listBackups(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => NAME.test(n)).sort();
}

export function startBackupSchedule(o: BackupScheduleOptions): {
  stop(): void;
  runNow(): Promise<BackupResult>;
} {
  checkBackupSchedule(o.schedule, o.retention);
  const retention = o.retention ?? 5;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const run = async (): Promise<BackupResult> => {
    const kind = o.store instanceof EtcdStore ? 'etcd' : 'sqlite';
    const stamp = new Date().toISOString().replace(/[-:.]/g, ''); // 20261201T194012345Z
    const file = join(o.dir, `strata-${kind}-${stamp}.db`);
    const result = await backupDatastore(o.store, file);
    const all = listBackups(o.dir);
    for (const old of all.slice(0, Math.max(0, all.length - retention))) {
      rmSync(join(o.dir, old), { force: true });
      rmSync(join(o.dir, `${old}.sha256`), { force: true });
    }
    o.log?.info({ file, sha256: result.sha256, bytes: result.bytes }, 'backup written');
    o.onBackup?.(result);
    return result;
  };
  // unref: the schedule alone never keeps a process alive (a server that failed to start must exit).
  const job = new Cron(o.schedule, { protect: true, unref: true }, async () => {
    try {
      await run();
    } catch (err) {
      o.log?.warn({ err: (err as Error).message }, 'scheduled backup failed');
    }
  });
  return { stop: () => job.stop(), runNow: run };
}
