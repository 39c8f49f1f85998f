// `strata datastore migrate`, `strata backup`, `strata restore`: day-2 operations on a datastore, run
// beside (backup of etcd) or instead of (migrate, restore, backup of sqlite) a server. They open the
// datastore directly (not through the API): a sqlite datastore a running server holds is refused with a
// clear message, since its file has one owner (scheduled backups on the server cover that case).
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { defaultDataDir } from './cluster.ts';

const datastoreOps = () => import('../node/datastore.ts');

interface EtcdTlsCli {
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

const tlsOf = (o: EtcdTlsCli) => ({
  caFile: o.etcdCafile && resolve(o.etcdCafile),
  certFile: o.etcdCertfile && resolve(o.etcdCertfile),
  keyFile: o.etcdKeyfile && resolve(o.etcdKeyfile),
});

/** Adds the etcd client TLS flags to a command. */
function withEtcdTls(cmd: Command): Command {
  return cmd
    .option('--etcd-cafile <file>', 'PEM CA that signed the etcd servers’ certificates (etcd over TLS)')
    .option('--etcd-certfile <file>', 'PEM client certificate for etcd')
    .option('--etcd-keyfile <file>', 'PEM key of the client certificate');
}

/** The datastore and scheduled-backup flags of `strata server`. */
export function withDatastoreOptions(cmd: Command, int: (v: string) => number): Command {
  return withEtcdTls(
    cmd.option(
      '--datastore <url>',
      'where state lives: sqlite://PATH (default sqlite://DATA/state.db) or etcd://HOST:PORT[,HOST:PORT…]',
    ),
  )
    .option('--backup-schedule <cron>', 'take scheduled backups of the datastore, e.g. "0 */6 * * *"')
    .option('--backup-retention <n>', 'scheduled backups kept (default 5)', int)
    .option('--backup-dir <dir>', 'where scheduled backups go (default DATA/backups)')
    .option(
      '--watch-cache <bool>',
      'etcd: answer LISTs from a watch cache, like kube-apiserver (default true)',
      (v: string) => {
        if (v !== 'true' && v !== 'false') throw new Error(`--watch-cache ${v}: expected true or false`);
        return v === 'true';
      },
    );
}

/** "sqlite://…" for the data dir when no --datastore is given. */
async function datastoreOf(o: { datastore?: string; dataDir?: string } & EtcdTlsCli) {
  const ops = await datastoreOps();
  const url = o.datastore ?? ops.defaultDatastore(resolve(o.dataDir ?? defaultDataDir()));
  return ops.parseDatastore(url, tlsOf(o));
}

const table = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([r, n]) => `  ${r.padEnd(40)} ${n}`)
    .join('\n');

export function registerDatastoreCommands(program: Command, int: (v: string) => number): void {
  const ds = program.command('datastore').description('the control plane’s datastore (sqlite or etcd)');
  withEtcdTls(
    ds
      .command('migrate')
      .description(
        'copy every object from one datastore to another (e.g. sqlite → etcd) from a consistent snapshot, keeping resourceVersions monotonic and verifying counts; stop the server first',
      )
      .requiredOption('--from <url>', 'source datastore: sqlite://PATH or etcd://HOST:PORT[,…]')
      .requiredOption('--to <url>', 'target datastore')
      .option('--force', 'delete what the target holds first (it must otherwise be empty)')
      .addOption(new Option('--concurrency <n>', 'writes in flight').default(64).argParser(int)),
  ).action(async (o: { from: string; to: string; force?: boolean; concurrency: number } & EtcdTlsCli) => {
    const ops = await datastoreOps();
    const from = ops.parseDatastore(o.from, o.from.startsWith('etcd:') ? tlsOf(o) : {}, '--from');
    const to = ops.parseDatastore(o.to, o.to.startsWith('etcd:') ? tlsOf(o) : {}, '--to');
    const src = await ops.openDatastore(from, { compactionIntervalMs: 0 }).catch((err: Error) => {
      throw new Error(
        /locked/.test(err.message)
          ? `${ops.describeDatastore(from)} is in use by a running server: stop it first (${err.message})`
          : err.message,
      );
    });
    try {
      const dst = await ops.openDatastore(to, { compactionIntervalMs: 0 });
      try {
        const r = await ops.migrateStore(src, dst, {
          force: o.force,
          concurrency: o.concurrency,
          log: (l) => console.error(l),
        });
        console.log(
          `migrated ${r.total} objects from ${ops.describeDatastore(from)} (revision ${r.sourceRevision}) to ${ops.describeDatastore(to)} (revisions ${r.targetStartRevision}–${r.targetEndRevision}); counts verified:\n${table(r.counts)}`,
        );
        console.log(`start the servers with --datastore ${o.to}`);
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
  });

  withEtcdTls(
    program
      .command('backup')
      .description(
        'write a consistent snapshot of the datastore to FILE with FILE.sha256 (etcd: the maintenance snapshot API, any time; sqlite: VACUUM INTO, with the server stopped — or use the server’s --backup-schedule)',
      )
      .requiredOption('--out <file>', 'backup file to write (must not exist)')
      .option('--datastore <url>', 'sqlite://PATH or etcd://HOST:PORT[,…] (default the data dir’s sqlite)')
      .option('--data-dir <dir>', 'state directory (for the default datastore)'),
  ).action(async (o: { out: string; datastore?: string; dataDir?: string } & EtcdTlsCli) => {
    const ops = await datastoreOps();
    const spec = await datastoreOf(o);
    const store = await ops.openDatastore(spec, { compactionIntervalMs: 0 }).catch((err: Error) => {
      throw new Error(
        /locked/.test(err.message)
          ? `${ops.describeDatastore(spec)} is held by a running server: stop it, or take backups on the server with --backup-schedule (${err.message})`
          : err.message,
      );
    });
    try {
      const r = await ops.backupDatastore(store, resolve(o.out));
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      console.log(
        `${r.kind} backup ${r.file} (${r.bytes} bytes, ${total} objects), sha256 ${r.sha256}\n${table(r.counts)}`,
      );
    } finally {
      await store.close();
    }
  });

  withEtcdTls(
    program
      .command('restore')
      .description(
        'restore a backup (checksum verified first) into the datastore; refuses a datastore a server is running on (sqlite: held; etcd: not empty, unless --force with every server stopped)',
      )
      .argument('<file>', 'backup file (with FILE.sha256 beside it)')
      .option(
        '--datastore <url>',
        'target: sqlite://PATH or etcd://HOST:PORT[,…] (default the data dir’s sqlite)',
      )
      .option('--data-dir <dir>', 'state directory (for the default datastore)')
      .option('--force', 'etcd: delete the keys the target holds first'),
  ).action(
    async (file: string, o: { datastore?: string; dataDir?: string; force?: boolean } & EtcdTlsCli) => {
      const ops = await datastoreOps();
      const spec = await datastoreOf(o);
      const r = await ops.restoreBackup(resolve(file), spec, {
        force: o.force,
        log: (l) => console.error(l),
      });
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      console.log(
        `restored ${total} objects from a ${r.kind} backup into ${ops.describeDatastore(spec)}:\n${table(r.counts)}`,
      );
    },
  );
}
