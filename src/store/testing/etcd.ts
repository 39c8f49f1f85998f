// Starts real etcd members (Debian's etcd-server, /usr/bin/etcd) on free loopback ports in a temp dir, for
// tests and benchmarks: one member, or a cluster of several that can be killed and restarted one by one.
// Nothing here talks to any address but 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/free-port.ts';

export const ETCD_BINARY = process.env.STRATA_ETCD_BINARY ?? '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdUnavailable(): string | undefined {
  return existsSync(ETCD_BINARY) ? undefined : `${ETCD_BINARY} not found (apt-get install etcd-server)`;
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** Running process, undefined once killed. */
  process: ChildProcess | undefined;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member, for `etcd://` datastore strings. */
  endpoints: string[];
  /** `etcd://127.0.0.1:P1,127.0.0.1:P2,…` */
  datastoreUrl: string;
  /** SIGKILL one member (its data stays). */
  kill(index: number): Promise<void>;
  /** Start a killed member again on its data dir. */
  restart(index: number): Promise<void>;
  /** Kill every member and remove the temp dir. */
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  /** Members (default 1). */
  size?: number;
  /** Extra etcd flags for every member, e.g. ['--auto-compaction-mode=revision', '--auto-compaction-retention=1000']. */
  extraArgs?: string[];
  /** How long to wait for the cluster to serve (default 30 s: three members on two busy cores). */
  readyTimeoutMs?: number;
}

export async function startEtcdCluster(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  // freePort releases its port before etcd binds it; another process may take it in between. Such a start
  // fails fast with "address already in use", so try again on fresh ports rather than fail the test.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdClusterOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('address already in use')) throw err;
    }
  }
}

async function startEtcdClusterOnce(opts: EtcdClusterOptions): Promise<EtcdCluster> {
  const size = opts.size ?? 1;
  const root = mkdtempSync(join(tmpdir(), 'strata-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const name = `m${i}`;
    members.push({
      name,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, name),
      process: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `strata-test-${process.pid}-${Date.now()}`;
  const logs = new Map<EtcdMember, string>();

  const launch = (m: EtcdMember): void => {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=new`,
      `--initial-cluster-token=${token}`,
      // Loopback, two shared cores: a slower heartbeat keeps elections from flapping under load.
      '--heartbeat-interval=200',
      '--election-timeout=2000',
      '--logger=zap',
      '--log-outputs=stderr',
      ...(opts.extraArgs ?? []),
    ];
    const child = spawn(ETCD_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    logs.set(m, '');
    child.stderr!.on('data', (d: Buffer) => {
      // Keep only the tail: enough to explain a failed start.
      logs.set(m, (logs.get(m)! + d.toString()).slice(-8_000));
    });
    m.process = child;
  };

  const waitHealthy = async (targets: EtcdMember[]): Promise<void> => {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (const m of targets) {
      for (;;) {
        if (m.process?.exitCode !== null && m.process?.exitCode !== undefined) {
          throw new Error(`etcd ${m.name} exited (${m.process.exitCode}):\n${logs.get(m)}`);
        }
        try {
          const res = await fetch(`${m.clientUrl}/health`);
          const body = (await res.json()) as { health?: string };
          if (body.health === 'true') break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          throw new Error(`etcd ${m.name} not healthy in time:\n${logs.get(m)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const killMember = async (m: EtcdMember): Promise<void> => {
    const child = m.process;
    m.process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  };

  for (const m of members) launch(m);
  try {
    await waitHealthy(members);
  } catch (err) {
    for (const m of members) await killMember(m);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const endpoints = members.map((m) => m.clientUrl);
  return {
    members,
    endpoints,
    datastoreUrl: `etcd://${endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}`,
    kill: (i) => killMember(members[i]),
    async restart(i) {
      const m = members[i];
      if (m.process) return;
      launch(m);
      await waitHealthy([m]);
    },
    async stop() {
      for (const m of members) await killMember(m);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
