// A private, short-lived etcd member on loopback, for reading an etcd snapshot file: `etcdctl snapshot
// restore` turns the snapshot into a data directory, this member serves it on a free 127.0.0.1 port, and
// the restore reads it through the ordinary Store. (A snapshot is bbolt's file format; etcd is the
// well-kept reader of it.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BIN = process.env.STRATA_ETCD_BINARY ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.STRATA_ETCDCTL_BINARY ?? '/usr/bin/etcdctl';

export interface SnapshotMember {
  endpoint: string;
  stop(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Restores `snapshotFile` into a temp data dir and serves it from a one-member etcd on loopback. */
export async function serveSnapshot(snapshotFile: string): Promise<SnapshotMember> {
  for (const bin of [ETCD_BIN, ETCDCTL_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} not found: reading an etcd snapshot needs etcd-server and etcd-client (apt-get install etcd-server etcd-client)`,
      );
    }
  }
  const root = mkdtempSync(join(tmpdir(), 'strata-snapshot-'));
  const dataDir = join(root, 'data');
  const peer = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const client = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const restored = spawnSync(
    ETCDCTL_BIN,
    [
      'snapshot',
      'restore',
      snapshotFile,
      `--data-dir=${dataDir}`,
      '--name=restore',
      `--initial-cluster=restore=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' },
  );
  if (restored.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`etcdctl snapshot restore failed: ${restored.stderr || restored.stdout}`);
  }
  const child: ChildProcess = spawn(
    ETCD_BIN,
    [
      '--name=restore',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=restore=${peer}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4_000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`etcd serving the snapshot exited: ${log}`);
    }
    try {
      const body = (await (await fetch(`${client}/health`)).json()) as { health?: string };
      if (body.health === 'true') break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd serving the snapshot did not become healthy: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint: client, stop };
}
