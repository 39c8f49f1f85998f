// Control-plane failover: three `strata server` processes on one three-member etcd (loopback, started
// here), controllers and scheduler on the one holding the leader Lease (15 s, renew deadline 10 s). Each
// round SIGKILLs the leader's process (as a host dies), then measures from the kill:
//  - first API write: a ConfigMap created through a surviving server (any server writes; no leader needed);
//  - new leader: the Lease held by another server, renewed after the kill;
//  - first controller write: a Deployment created right after the kill gets its ReplicaSet (the new
//    leader's controllers are running: the "leader killed → first successful write" that needs one).
// The killed server is started again (same data dir) before the next round. Printed beside the Lease's
// duration, the bound the takeover is designed to (a deposed leader's lease must run out first).
//
//   npm run bench -- ha-failover [KILLS]     (default 10; about 35 s a kill on two shared cores)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindFor } from '../src/api/index.ts';
import { Client } from '../src/client/client.ts';
import { freePort } from '../src/lib/free-port.ts';
import { etcdUnavailable, startEtcdCluster } from '../src/store/testing/etcd.ts';
import { printTable, summarize } from './lib/stats.ts';

const KILLS = Number(process.argv[2] ?? 10);
const LEASE_SECONDS = 15; // the leader Lease's duration (store/datastore-leader.ts defaults)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;
const CONFIGMAP = kindFor('v1', 'ConfigMap')!;
const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;

interface Server {
  name: string;
  dir: string;
  port: number;
  proc?: ChildProcess;
  client?: Client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function start(s: Server, datastore: string): Promise<void> {
  s.proc = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      MAIN,
      'server',
      '--data-dir',
      s.dir,
      '--datastore',
      datastore,
      '--port',
      String(s.port),
      '--insecure-http',
      '--advertise-address',
      'none',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  s.proc.stdout!.on('data', (d) => (out += d));
  s.proc.stderr!.on('data', (d) => (out += d));
  await until(
    `${s.name} listening`,
    async () => {
      if (s.proc!.exitCode !== null) throw new Error(`${s.name} exited: ${out}`);
      return out.includes('listening on');
    },
    180_000,
  ).catch((err) => {
    console.error(out);
    throw err;
  });
  s.client?.close();
  s.client = new Client({
    server: `http://127.0.0.1:${s.port}`,
    token: readFileSync(join(s.dir, 'admin.token'), 'utf8').trim(),
  });
}

function kill(s: Server): Promise<void> {
  const p = s.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.once('exit', () => r());
    p.kill('SIGKILL');
  });
}

/** The server whose log says it became leader with the Lease's current holder identity. */
function leaderOf(servers: Server[], holder: string): Server | undefined {
  return servers.find((s) => {
    try {
      return readFileSync(join(s.dir, 'server.log'), 'utf8').includes(`"identity":"${holder}"`);
    } catch {
      return false;
    }
  });
}

async function main(): Promise<void> {
  const missing = etcdUnavailable();
  if (missing) {
    console.log(`ha-failover: skipped (${missing})`);
    return;
  }
  const etcd = await startEtcdCluster({ size: 3 });
  const root = mkdtempSync(join(tmpdir(), 'strata-bench-ha-'));
  const servers: Server[] = [];
  for (const name of ['s1', 's2', 's3'])
    servers.push({ name, dir: join(root, name), port: await freePort() });
  const results = { write: [] as number[], lease: [] as number[], controller: [] as number[] };
  try {
    for (const s of servers) await start(s, etcd.datastoreUrl);
    const lease = () => servers[0]!.client!.get(LEASE, 'kube-system', 'strata-controller-manager');
    for (let k = 0; k < KILLS; k++) {
      const before = await until(
        'a leader',
        async () => {
          const l = await lease();
          return leaderOf(servers, l.spec.holderIdentity) ? l : undefined;
        },
        120_000,
      );
      const leader = leaderOf(servers, before.spec.holderIdentity)!;
      const others = servers.filter((s) => s !== leader);
      await kill(leader);
      const killedAt = performance.now();
      const killedAtWall = new Date();
      // First API write through a surviving server.
      let i = 0;
      await until(
        'a write',
        () =>
          others[i++ % others.length]!.client!.create(
            CONFIGMAP,
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: `after-kill-${k}` },
              data: { at: killedAtWall.toISOString() },
            },
            'default',
          ),
        60_000,
      );
      results.write.push(performance.now() - killedAt);
      const deployment = `after-kill-${k}`;
      await others[0]!.client!.create(
        DEPLOYMENT,
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: deployment },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: deployment } },
            template: {
              metadata: { labels: { app: deployment } },
              spec: { containers: [{ name: 'c', image: 'build/wasm/ticker.wasm' }] },
            },
          },
        },
        'default',
      );
      const leaseMoved = until(
        'the Lease held by another server',
        async () => {
          const l = await others[0]!.client!.get(LEASE, 'kube-system', 'strata-controller-manager');
          return (
            l.spec.holderIdentity !== before.spec.holderIdentity &&
            Date.parse(l.spec.renewTime) > killedAtWall.getTime() &&
            performance.now() - killedAt
          );
        },
        120_000,
      );
      const replicaSet = until(
        "the Deployment's ReplicaSet",
        async () =>
          (await others[0]!.client!.list(REPLICASET, 'default')).items.some(
            (rs: any) => rs.metadata.ownerReferences?.[0]?.name === deployment,
          ) && performance.now() - killedAt,
        120_000,
      );
      results.lease.push(await leaseMoved);
      results.controller.push(await replicaSet);
      console.log(
        `kill ${k + 1}/${KILLS}: ${leader.name} killed; write after ${Math.round(results.write.at(-1)!)} ms, ` +
          `new leader after ${(results.lease.at(-1)! / 1000).toFixed(1)} s, ReplicaSet after ${(results.controller.at(-1)! / 1000).toFixed(1)} s`,
      );
      await start(leader, etcd.datastoreUrl);
    }
    printTable(`control-plane failover, 3 servers on 3-member etcd, ${KILLS} leader kills (SIGKILL)`, [
      { name: 'first API write (any server)', s: summarize(results.write) },
      { name: 'new leader holds the Lease', s: summarize(results.lease), extra: `lease ${LEASE_SECONDS} s` },
      {
        name: 'first controller write (ReplicaSet)',
        s: summarize(results.controller),
        extra: `lease ${LEASE_SECONDS} s`,
      },
    ]);
  } finally {
    for (const s of servers) {
      await kill(s);
      s.client?.close();
    }
    await etcd.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
