// The datastore as a control plane runs it: the flags (`--datastore`, `--etcd-cafile|certfile|keyfile`,
// `--backup-schedule`, `--backup-retention`, `--backup-dir`) checked before anything opens, the store
// opened, and scheduled backups started on it. One call from the composition root.
import { join } from 'node:path';
import { checkBackupSchedule, startBackupSchedule } from './backup-schedule.ts';
import {
  defaultDatastore,
  describeDatastore,
  openDatastore,
  parseDatastore,
  type Datastore,
  type DatastoreSpec,
} from './datastore.ts';

export interface DatastoreFlags {
  /** sqlite://PATH or etcd://HOST:PORT[,…] (default sqlite://<dataDir>/state.db). */
  datastore?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  /** Cron expression for scheduled backups (none by default). */
  backupSchedule?: string;
  /** Scheduled backups kept (default 5). */
  backupRetention?: number;
  /** Where scheduled backups go (default <dataDir>/backups). */
  backupDir?: string;
  /** `--watch-cache`: etcd LISTs answered from memory (default true; store/watch-cache.ts). */
  watchCache?: boolean;
}

export interface ServerDatastore {
  store: Datastore;
  spec: DatastoreSpec;
  /** Stops scheduled backups and closes the store. */
  close(): Promise<void>;
}

/** Validates the flags (throws naming the flag), then opens the store and starts the backup schedule. */
export function checkDatastoreFlags(dataDir: string, f: DatastoreFlags = {}): DatastoreSpec {
  const spec = parseDatastore(f.datastore ?? defaultDatastore(dataDir), {
    caFile: f.etcdCafile,
    certFile: f.etcdCertfile,
    keyFile: f.etcdKeyfile,
  });
  if (f.backupSchedule !== undefined) checkBackupSchedule(f.backupSchedule, f.backupRetention);
  else if (f.backupRetention !== undefined) throw new Error('--backup-retention needs --backup-schedule');
  return spec;
}

export async function openServerDatastore(
  dataDir: string,
  f: DatastoreFlags = {},
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void },
): Promise<ServerDatastore> {
  const spec = checkDatastoreFlags(dataDir, f);
  const store = await openDatastore(spec);
  log?.info({ datastore: describeDatastore(spec) }, 'datastore open');
  const backups =
    f.backupSchedule !== undefined
      ? startBackupSchedule({
          store,
          schedule: f.backupSchedule,
          retention: f.backupRetention,
          dir: f.backupDir ?? join(dataDir, 'backups'),
          log,
        })
      : undefined;
  return {
    store,
    spec,
    async close() {
      backups?.stop();
      await store.close();
    },
  };
}
