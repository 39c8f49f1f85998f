// Scheduled backups on a real sqlite store: retention keeps the newest N, each one verifies; bad flags are
// refused naming the flag.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyBackup } from './backup.ts';
import { checkBackupSchedule, listBackups, startBackupSchedule } from './backup-schedule.ts';
import { checkDatastoreFlags } from './datastore-server.ts';
import { openSqliteStore } from './sqlite.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-backups-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('scheduled backups', () => {
  it('keeps the newest --backup-retention backups, each verifiable', async () => {
    const store = openSqliteStore(join(dir, 'state.db'));
    const backups = join(dir, 'backups');
    // A schedule that will not fire during the test; runNow is what a tick runs.
    const job = startBackupSchedule({ store, schedule: '0 0 1 1 *', retention: 2, dir: backups });
    try {
      const files: string[] = [];
      for (let i = 0; i < 4; i++) {
        await store.create(`/registry/core/configmaps/default/c${i}`, { i });
        files.push((await job.runNow()).file);
        await new Promise((r) => setTimeout(r, 5)); // distinct millisecond stamps
      }
      const kept = listBackups(backups);
      expect(kept).toEqual(files.slice(2).map((f) => f.slice(backups.length + 1)));
      for (const f of kept) expect((await verifyBackup(join(backups, f))).kind).toBe('sqlite');
    } finally {
      job.stop();
      await store.close();
    }
  });

  it('refuses bad flags before anything opens, naming them', () => {
    expect(() => checkBackupSchedule('every hour', 3)).toThrow(/--backup-schedule "every hour"/);
    expect(() => checkBackupSchedule('0 * * * *', 0)).toThrow(/--backup-retention 0/);
    expect(() => checkDatastoreFlags(dir, { backupRetention: 3 })).toThrow(
      /--backup-retention needs --backup-schedule/,
    );
    expect(() => checkDatastoreFlags(dir, { datastore: 'etcd://nohostport' })).toThrow(/--datastore/);
    expect(checkDatastoreFlags(dir)).toEqual({ kind: 'sqlite', path: join(dir, 'state.db') });
  });
});
