// One etcd member that a Strata server runs and supervises itself (K3s' embedded etcd): Debian's etcd 3.4
// as a child process, data and certificates under DATA/etcd/, peer and client traffic over TLS with
// certificates from the cluster CA (both sides must present one: --client-cert-auth, --peer-client-cert-auth).
// The member is restarted when it exits without being asked to (backoff 1 s doubling to 30 s): once its data
// directory holds a member, etcd ignores the initial-cluster flags, so a restart rejoins as the same member.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ETCD_BIN } from '../etcd-process.ts';

/** PEM files of one member: the cluster CA, its client-facing and its peer certificates. */
export interface MemberTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  peerCertFile: string;
  peerKeyFile: string;
  /** A client certificate this process uses towards etcd (health checks, membership, the Store). */
  clientCertFile: string;
  clientKeyFile: string;
}

export interface EmbeddedEtcdOptions {
  /** DATA/etcd: the member's data in data/, its log in etcd.log. */
  dir: string;
  name: string;
  /** The address peers and other servers reach this member on (it also listens on 127.0.0.1). */
  address: string;
  clientPort: number;
  peerPort: number;
  tls: MemberTlsFiles;
  /** name=https://ip:port,… — the members at the time this one first starts. */
  initialCluster: string;
  /** new: this member founds the cluster (--cluster-init); existing: it was added by `member add`. */
  state: 'new' | 'existing';
  /** --quota-backend-bytes (default 8 GiB: etcd's 2 GiB default fills up with a large cluster's history). */
  quotaBackendBytes?: number;
  /** Raft timings in ms (etcd's defaults 100/1000; loaded test machines want longer). */
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  /**
   * --initial-cluster-token: with the members' peer URLs it makes the cluster's and members' IDs, so a
   * cluster made again from a backup (`--cluster-reset`) takes a new one and stale members of the old
   * cluster cannot talk to it. Default "strata". Read only when the member is created.
   */
  clusterToken?: string;
  /**
   * --force-new-cluster: the member forgets every other member and commits as a one-member cluster,
   * keeping its data (`strata server --cluster-reset`). Run once, then restart without it.
   */
  forceNewCluster?: boolean;
  /** How long start() waits for the member to answer (default 60 s). */
  startTimeoutMs?: number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface EmbeddedEtcd {
  name: string;
  /** https://ADDRESS:clientPort — what other servers use. */
  clientUrl: string;
  /** https://127.0.0.1:clientPort — what this server's Store uses first. */
  localClientUrl: string;
  peerUrl: string;
  /** Times the supervisor restarted the process after an unexpected exit. */
  readonly restarts: number;
  /** The current process id (tests kill it to see the supervisor work). */
  readonly pid: number | undefined;
  /** Stops the member (its data stays; it is still a member of the cluster). */
  stop(): Promise<void>;
}

export const DEFAULT_QUOTA_BACKEND_BYTES = 8 * 1024 ** 3;
export const DEFAULT_CLIENT_PORT = 2379;
export const DEFAULT_PEER_PORT = 2380;

/** The data directory of the member inside DATA/etcd (a member has been created once it holds member/). */
export function memberDataDir(dir: string): string {
  return join(dir, 'data');
}

export function hasMemberData(dir: string): boolean {
  return existsSync(join(memberDataDir(dir), 'member'));
}

/** A client of etcd with this process's client certificate. */
export function memberClient(endpoints: string[], tls: MemberTlsFiles, timeoutMs = 5_000): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    credentials: {
      rootCertificate: readFileSync(tls.caFile),
      certChain: readFileSync(tls.clientCertFile),
      privateKey: readFileSync(tls.clientKeyFile),
    },
    dialTimeout: timeoutMs,
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
  });
}

function args(o: EmbeddedEtcdOptions): string[] {
  const client = `https://${o.address}:${o.clientPort}`;
  const peer = `https://${o.address}:${o.peerPort}`;
  const listenClient = o.address === '127.0.0.1' ? client : `${client},https://127.0.0.1:${o.clientPort}`;
  return [
    `--name=${o.name}`,
    `--data-dir=${memberDataDir(o.dir)}`,
    `--listen-client-urls=${listenClient}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${o.initialCluster}`,
    `--initial-cluster-state=${o.state}`,
    `--initial-cluster-token=${o.clusterToken ?? 'strata'}`,
    ...(o.forceNewCluster ? ['--force-new-cluster'] : []),
    `--cert-file=${o.tls.certFile}`,
    `--key-file=${o.tls.keyFile}`,
    '--client-cert-auth',
    `--trusted-ca-file=${o.tls.caFile}`,
    `--peer-cert-file=${o.tls.peerCertFile}`,
    `--peer-key-file=${o.tls.peerKeyFile}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${o.tls.caFile}`,
    `--quota-backend-bytes=${o.quotaBackendBytes ?? DEFAULT_QUOTA_BACKEND_BYTES}`,
    `--heartbeat-interval=${o.heartbeatIntervalMs ?? 100}`,
    `--election-timeout=${o.electionTimeoutMs ?? 1000}`,
    // The Store compacts (kube-apiserver's compactor); etcd's own auto-compaction stays off.
    '--logger=zap',
    '--log-outputs=stderr',
  ];
}

/** Waits until the member answers a status call on its local client URL. */
async function waitHealthy(
  o: EmbeddedEtcdOptions,
  url: string,
  exited: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
  const client = memberClient([url], o.tls, 2_000);
  try {
    for (;;) {
      const why = exited();
      if (why) throw new Error(why);
      try {
        await client.maintenance.status();
        return;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(
            `etcd member ${o.name} did not answer within ${o.startTimeoutMs ?? 60_000} ms: ${(err as Error).message} (see ${join(o.dir, 'etcd.log')})`,
          );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    client.close();
  }
}

/** Starts the member and waits until it answers; then supervises it until stop(). */
export async function startEmbeddedEtcd(o: EmbeddedEtcdOptions): Promise<EmbeddedEtcd> {
  if (!existsSync(ETCD_BIN))
    throw new Error(
      `${ETCD_BIN} not found: the embedded etcd needs Debian's etcd-server (apt-get install etcd-server)`,
    );
  mkdirSync(memberDataDir(o.dir), { recursive: true, mode: 0o700 });
  const logFile: WriteStream = createWriteStream(join(o.dir, 'etcd.log'), { flags: 'a' });
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  let lastExit: string | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let backoffMs = 1_000;

  const launch = (): void => {
    const c = spawn(ETCD_BIN, args(o), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    lastExit = undefined;
    c.stderr!.pipe(logFile, { end: false });
    const startedAt = Date.now();
    c.once('exit', (code, signal) => {
      lastExit = `etcd member ${o.name} exited (${signal ?? `code ${code}`}); see ${join(o.dir, 'etcd.log')}`;
      if (child === c) child = undefined;
      if (stopping) return;
      // A member that ran a while gets a fresh backoff; one that keeps dying waits longer each time.
      if (Date.now() - startedAt > 60_000) backoffMs = 1_000;
      o.log?.warn({ member: o.name, code, signal, restartInMs: backoffMs }, 'etcd member exited; restarting');
      restartTimer = setTimeout(() => {
        restarts++;
        launch();
      }, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30_000);
    });
  };

  launch();
  const localClientUrl = `https://127.0.0.1:${o.clientPort}`;
  const stop = async (): Promise<void> => {
    stopping = true;
    if (restartTimer) clearTimeout(restartTimer);
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => c.kill('SIGKILL'), 10_000);
        c.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        c.kill('SIGTERM');
      });
    }
    logFile.end();
  };
  try {
    await waitHealthy(o, localClientUrl, () => (child === undefined ? lastExit : undefined));
  } catch (err) {
    await stop();
    throw err;
  }
  o.log?.info({ member: o.name, state: o.state }, 'etcd member started');
  return {
    name: o.name,
    clientUrl: `https://${o.address}:${o.clientPort}`,
    localClientUrl,
    peerUrl: `https://${o.address}:${o.peerPort}`,
    get restarts() {
      return restarts;
    },
    get pid() {
      return child?.pid;
    },
    stop,
  };
}
