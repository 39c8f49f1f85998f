// Datastore operations for the CLI (`strata datastore migrate`, `strata backup`, `strata restore`): the
// CLI reaches the store only through node/, as it does for `up` and `server`.
export { parseDatastore, openDatastore, defaultDatastore, describeDatastore } from '../store/datastore.ts';
export type { DatastoreSpec, EtcdTlsFiles } from '../store/datastore.ts';
export { migrateStore } from '../store/datastore-migrate.ts';
export { backupDatastore, restoreBackup, verifyBackup } from '../store/backup.ts';
