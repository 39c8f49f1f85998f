// Three `strata server`s on their own embedded etcd (--cluster-init, then --join twice: a three-member
// etcd over TLS from the cluster CA) and an agent that knows all three through its local load balancer.
// Everything on loopback (distinct ports stand for distinct hosts; no network namespaces here).
//
// Drill: SIGKILL the leading server's whole process group (the one holding the controller Lease: the
// server and its etcd member, as a host dies). Two etcd members keep quorum; the Lease moves to another
// server once it has stood still for its 15 s; a Deployment scaled and one created right after the kill
// converge, their pods started by the agent whose load balancer moved to another server, and the agent's
// node lease keeps being renewed. Then the dead server leaves the etcd cluster for good (`strata server
// --cluster-leave`): two members remain.
//
// Member replacement: a new server with a fresh data dir joins through a live server (--join, a server join
// token): three members again, and it serves writes read back through another server.
//
// Quorum loss: two of the three servers (with their members) SIGKILLed. Through the survivor a write, a
// single-object read and a list each fail (within the Store's 15 s etcd deadline, no hang) with a 503
// Status naming the lost quorum ("etcd: no quorum: 1 of 3 members reachable, 2 needed; …"), and /readyz
// answers 503 "[-]etcd failed". One of the two restarts on its old data dir: writes go through again, a
// new Deployment converges on the agent, whose node is Ready.
//
// Timings on two shared cores: leader Lease 15 s (renew deadline 10 s), agent lease 10 s, the load
// balancer's health check every 2 s; waits up to 120 s for a server to start, 150 s for convergence.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Client, ClientError } from '../../src/client/client.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { etcdUnavailable } from '../../src/store/testing/etcd.ts';
import { memberClient, type MemberTlsFiles } from '../../src/store/etcd-embedded/member.ts';
import { listMembers } from '../../src/store/etcd-embedded/membership.ts';
import { NODE, ROOT, removeNodeNetwork, wasm, waitFor } from './harness.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping multi-server e2e: ${missing}`);

const MAIN = join(ROOT, 'src/cli/main.ts');
const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;
const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const POD = kindFor('v1', 'Pod')!;
const NODE_KIND = kindFor('v1', 'Node')!;
const CONFIGMAP = kindFor('v1', 'ConfigMap')!;
/** The agent's pod network: apart from the slots' (10.100–109/16) and the multi-host file's (10.242/16). */
const AGENT_BRIDGE = 'stmhetcd0';
const AGENT_POD_CIDR = '10.246.0.0/16';

interface Proc {
  name: string;
  dir: string;
  proc: ChildProcess;
  out: () => string;
}

function spawnStrata(name: string, dir: string, args: string[]): Proc {
  // Its own process group: killing the group takes the server's etcd member with it, as a host dies.
  const proc = spawn(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { name, dir, proc, out: () => out };
}

function killGroup(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.proc.once('exit', () => resolve());
    try {
      process.kill(-p.proc.pid!, 'SIGKILL');
    } catch {
      resolve();
    }
  });
}

function cli(args: string[]): string {
  const r = spawnSync(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

function etcdTls(dataDir: string): MemberTlsFiles {
  const d = join(dataDir, 'etcd/tls');
  return {
    caFile: join(d, 'ca.crt'),
    certFile: join(d, 'server.crt'),
    keyFile: join(d, 'server.key'),
    peerCertFile: join(d, 'peer.crt'),
    peerKeyFile: join(d, 'peer.key'),
    clientCertFile: join(d, 'client.crt'),
    clientKeyFile: join(d, 'client.key'),
  };
}

describe.skipIf(missing)(
  'three servers on an embedded three-member etcd, an agent behind its load balancer',
  () => {
    const root = mkdtempSync(join(tmpdir(), 'strata-multihost-'));
    const procs: Proc[] = [];
    const servers: {
      p: Proc;
      port: number;
      client: Client;
      etcdClientPort: number;
      /** The flags it was started with, --join's aside: what a restart on the same data dir passes. */
      args: string[];
    }[] = [];
    let agent: Proc;
    let caHash = '';
    let joinArgs: string[] = [];
    let deadServer: (typeof servers)[0] | undefined;

    async function waitListening(p: Proc): Promise<void> {
      try {
        await waitFor(
          `${p.name} listening`,
          () => {
            if (p.proc.exitCode !== null) throw new Error(`${p.name} exited: ${p.out()}`);
            return p.out().includes('listening on');
          },
          // A joining server's start writes through a two-member etcd that waits on the new member's
          // catch-up; in one CI run s2 did not listen within 120 s (no logs were kept then). Slowness is not
          // a failure here; a hang still fails, now with the server's and its member's logs.
          240_000,
        );
      } catch (err) {
        // What the server printed is the only clue to why it never listened: keep its last lines.
        const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').slice(-6000) : '(none)');
        throw new Error(
          [
            (err as Error).message,
            `--- ${p.name}'s output ---`,
            p.out().slice(-6000),
            '--- its server.log ---',
            tail(join(p.dir, 'server.log')),
            '--- its etcd.log ---',
            tail(join(p.dir, 'etcd/etcd.log')),
          ].join('\n'),
        );
      }
    }

    async function startServer(name: string, join_: string[]): Promise<void> {
      const dir = join(root, name);
      const port = await freePort();
      const etcdClientPort = await freePort();
      const args = [
        'server',
        '--data-dir',
        dir,
        '--port',
        String(port),
        '--advertise-address',
        'none',
        '--kubeconfig',
        join(dir, 'kubeconfig'),
        '--etcd-client-port',
        String(etcdClientPort),
        '--etcd-peer-port',
        String(await freePort()),
        '--quota-backend-bytes',
        String(256 * 1024 * 1024),
      ];
      const p = spawnStrata(name, dir, [...args, ...join_]);
      procs.push(p);
      await waitListening(p);
      const tls = join(dir, 'tls');
      const client = new Client({
        server: `https://127.0.0.1:${port}`,
        tls: {
          ca: readFileSync(join(tls, 'ca.crt'), 'utf8'),
          cert: readFileSync(join(tls, 'admin.crt'), 'utf8'),
          key: readFileSync(join(tls, 'admin.key'), 'utf8'),
        },
      });
      servers.push({ p, port, client, etcdClientPort, args });
    }

    /** Starts a stopped server again on its data dir and ports: its etcd member rejoins from its own data. */
    async function restartServer(s: (typeof servers)[0]): Promise<void> {
      s.p = spawnStrata(s.p.name, s.p.dir, s.args);
      procs.push(s.p);
      await waitListening(s.p);
    }

    const members = async (dataDir: string, port: number) => {
      const c = memberClient([`https://127.0.0.1:${port}`], etcdTls(dataDir));
      try {
        return (await listMembers(c)).map((m) => m.name);
      } finally {
        c.close();
      }
    };

    beforeAll(async () => {
      await startServer('s1', ['--cluster-init']);
      caHash = readFileSync(join(root, 's1/tls/ca.hash'), 'utf8').trim();
      const kc = ['--kubeconfig', join(root, 's1/kubeconfig')];
      const serverToken = cli([
        ...kc,
        'token',
        'create',
        '--ttl',
        '1h',
        '--groups',
        'system:bootstrappers:strata:servers',
      ]);
      joinArgs = [
        '--join',
        `https://127.0.0.1:${servers[0]!.port}`,
        '--token',
        serverToken,
        '--ca-cert-hash',
        caHash,
      ];
      await startServer('s2', joinArgs);
      await startServer('s3', joinArgs);
      const agentToken = cli([...kc, 'token', 'create', '--ttl', '1h']);
      const dir = join(root, 'agent');
      agent = spawnStrata('agent', dir, [
        'agent',
        '--server',
        servers.map((s) => `https://127.0.0.1:${s.port}`).join(','),
        '--lb-port',
        String(await freePort()),
        '--token',
        agentToken,
        '--ca-cert-hash',
        caHash,
        '--data-dir',
        dir,
        '--node-name',
        'mh-a1',
        '--runtimes',
        'wasm',
        '--port',
        String(await freePort()),
        '--http-port',
        '0',
        '--https-port',
        '0',
        '--lease-duration',
        '10',
        // A pod network of its own, removed after the file: without it the agent took the machine's default
        // one (strata0, 10.88.0.0/16, the `strata` table) and left it behind for a user's `strata up`.
        '--pod-bridge',
        AGENT_BRIDGE,
        '--pod-cidr',
        AGENT_POD_CIDR,
      ]);
      procs.push(agent);
      await waitFor(
        'node mh-a1 Ready',
        async () => {
          if (agent.proc.exitCode !== null) throw new Error(`agent exited: ${agent.out()}`);
          const n = await servers[1]!.client.find(NODE_KIND, undefined, 'mh-a1');
          return n?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
        },
        120_000,
      );
    }, 400_000);

    afterAll(async () => {
      for (const p of procs.reverse()) await killGroup(p);
      for (const s of servers) s.client.close();
      await removeNodeNetwork(AGENT_BRIDGE, AGENT_POD_CIDR);
      rmSync(root, { recursive: true, force: true });
    });

    const deployment = (name: string, replicas: number) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { runtimeClassName: 'wasm', containers: [{ name: 'tick', image: wasm('ticker') }] },
        },
      },
    });
    const running = async (s: (typeof servers)[0], app: string, n: number) => {
      const pods = (await s.client.list(POD, 'default', { labelSelector: `app=${app}` })).items;
      return (
        pods.length === n &&
        pods.every((p: any) => p.status?.phase === 'Running' && p.spec.nodeName === 'mh-a1')
      );
    };

    it('runs a three-member etcd, one member per server', async () => {
      const names = await members(join(root, 's2'), servers[1]!.etcdClientPort);
      expect(names).toHaveLength(3);
      expect(names.every((n) => n !== '')).toBe(true);
    });

    it('survives the leading server dying with its etcd member: leader, work and agent carry on', async () => {
      // A Deployment running before the kill, scaled right after it.
      await servers[1]!.client.create(DEPLOYMENT, deployment('scaled', 1), 'default');
      await waitFor('scaled: one pod Running', () => running(servers[1]!, 'scaled', 1), 120_000);
      // The leader: the server whose log says it became leader under the Lease's holder identity.
      const leaseBefore = await servers[1]!.client.get(LEASE, 'kube-system', 'strata-controller-manager');
      const dead = servers.find((s) =>
        readFileSync(join(s.p.dir, 'server.log'), 'utf8').includes(
          `"identity":"${leaseBefore.spec.holderIdentity}"`,
        ),
      )!;
      expect(dead, `the server holding the Lease (${leaseBefore.spec.holderIdentity})`).toBeDefined();
      deadServer = dead;
      const s2 = servers.find((s) => s !== dead)!;
      const nodeLease = async () =>
        (await s2.client.get(LEASE, 'kube-node-lease', 'mh-a1')).spec.renewTime as string;
      // Each member records the others (the founder every 10 s): what --cluster-leave asks later.
      await waitFor(
        `${dead.p.name} knows both other members`,
        () => JSON.parse(readFileSync(join(dead.p.dir, 'etcd/member.json'), 'utf8')).peers.length === 2,
        30_000,
      );
      await killGroup(dead.p);
      const killedAt = Date.now();

      // Writes go on through another server (two of three etcd members keep quorum).
      await waitFor(
        `a write through ${s2.p.name}`,
        async () => s2.client.create(DEPLOYMENT, deployment('after-kill', 2), 'default'),
        60_000,
      );
      await s2.client.patch(DEPLOYMENT, 'default', 'scaled', { spec: { replicas: 3 } });
      // Both converge: another server leads (the Lease's holder is alive) and the agent runs their pods.
      await waitFor('after-kill: two pods Running on mh-a1', () => running(s2, 'after-kill', 2), 150_000);
      await waitFor('scaled: three pods Running on mh-a1', () => running(s2, 'scaled', 3), 60_000);
      const leaseAfter = await s2.client.get(LEASE, 'kube-system', 'strata-controller-manager');
      console.log(
        `leader before the kill: ${leaseBefore.spec.holderIdentity} (${dead.p.name}); after: ${leaseAfter.spec.holderIdentity}; converged ${Math.round((Date.now() - killedAt) / 1000)} s after the kill`,
      );
      expect(leaseAfter.spec.holderIdentity).not.toBe(leaseBefore.spec.holderIdentity);
      expect(leaseAfter.spec.renewTime > leaseBefore.spec.renewTime).toBe(true);
      // The agent heartbeats through another server: its node lease moves on after the kill.
      const first = await nodeLease();
      await waitFor(
        'the node lease renewed after the kill',
        async () => (await nodeLease()) !== first,
        30_000,
      );
      expect(agent.out() + readFileSync(join(root, 'agent/agent.log'), 'utf8')).toMatch(
        /load balancer: (server down|switched server)/,
      );
    }, 300_000);

    it('removes the dead server from etcd for good (--cluster-leave)', async () => {
      expect(deadServer, 'the previous test killed a server').toBeDefined();
      const out = cli(['server', '--cluster-leave', '--data-dir', deadServer!.p.dir]);
      expect(out).toMatch(/removed from the cluster/);
      const alive = servers.find((s) => s !== deadServer)!;
      const names = await members(alive.p.dir, alive.etcdClientPort);
      expect(names).toHaveLength(2);
    }, 60_000);

    it('replaces the dead member: a new server joins with a fresh data dir and serves the API', async () => {
      const alive = servers.filter((s) => s !== deadServer);
      // Join through a live server (the one --join named first may be the dead one).
      const through = [...joinArgs];
      through[1] = `https://127.0.0.1:${alive[0]!.port}`;
      await startServer('s4', through);
      const s4 = servers[servers.length - 1]!;
      const names = await members(alive[1]!.p.dir, alive[1]!.etcdClientPort);
      expect(names).toHaveLength(3);
      const s4Member = JSON.parse(readFileSync(join(s4.p.dir, 'etcd/member.json'), 'utf8')).name;
      expect(names).toContain(s4Member);
      // A write through the new server, read back through another.
      await s4.client.create(
        CONFIGMAP,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-s4' }, data: { from: 's4' } },
        'default',
      );
      expect((await alive[0]!.client.get(CONFIGMAP, 'default', 'via-s4')).data).toEqual({ from: 's4' });
      expect(await s4.client.request('GET', '/readyz').then((r) => r.text())).toBe('ok');
    }, 200_000);

    it('loses quorum with two of three members down: clear 503s, /readyz not ready; one back restores it', async () => {
      const alive = servers.filter((s) => s !== deadServer);
      expect(alive).toHaveLength(3);
      const [survivor, comesBack, staysDown] = [alive[0]!, alive[1]!, alive[2]!];
      await killGroup(comesBack.p);
      await killGroup(staysDown.p);
      // No hang: every call below must settle within its etcd deadline (15 s) and a diagnosis (2 s); a guard
      // far above that turns a hang into a failure with its own message.
      const settled = <T>(what: string, p: Promise<T>) =>
        Promise.race([
          p.then(
            (v) => ({ ok: true as const, v }),
            (err: unknown) => ({ ok: false as const, err }),
          ),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`${what} did not answer within 90 s (hangs)`)), 90_000),
          ),
        ]);
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-loss' } };
      const write = await settled('a write', survivor.client.create(CONFIGMAP, cm, 'default'));
      expect(write.ok, 'a write without quorum').toBe(false);
      const writeErr = (write as { err: unknown }).err;
      expect(writeErr).toBeInstanceOf(ClientError);
      expect((writeErr as ClientError).code).toBe(503);
      expect((writeErr as ClientError).status.reason).toBe('ServiceUnavailable');
      expect((writeErr as ClientError).message).toMatch(
        // The create's first etcd call fails (admission reads the namespace before the write).
        /^etcd: no quorum: 1 of 3 members reachable, 2 needed; unreachable: [^;]+; (get|create) \/registry\/\S+ failed/,
      );
      console.log(`write without quorum: ${(writeErr as ClientError).message}`);
      // A single object is read with a linearizable etcd read (as kube-apiserver's GET without
      // resourceVersion): it fails the same way, it does not answer from a stale copy.
      const read = await settled('a read', survivor.client.get(CONFIGMAP, 'default', 'via-s4'));
      expect(read.ok, 'a single-object read without quorum').toBe(false);
      expect(((read as { err: unknown }).err as ClientError).code).toBe(503);
      expect(((read as { err: unknown }).err as ClientError).message).toMatch(/^etcd: no quorum/);
      // A list too: the watch cache answers a list only at etcd's current revision, which it cannot learn.
      const list = await settled('a list', survivor.client.list(CONFIGMAP, 'default'));
      expect(list.ok, 'a list without quorum').toBe(false);
      expect(((list as { err: unknown }).err as ClientError).code).toBe(503);
      // /readyz: kube-apiserver's shape, the etcd check failed.
      const ready = await settled('/readyz', survivor.client.request('GET', '/readyz'));
      expect(ready.ok, '/readyz without quorum').toBe(false);
      const readyErr = (ready as { err: unknown }).err as ClientError;
      expect(readyErr.code).toBe(503);
      expect(readyErr.message).toContain('[-]etcd failed');
      expect(readyErr.message).toContain('readyz check failed');

      // One of the two comes back on its old data dir: quorum again (2 of 3), writes go through.
      await restartServer(comesBack);
      await waitFor(
        'a write through the survivor after the restart',
        async () => {
          try {
            return await survivor.client.create(CONFIGMAP, cm, 'default');
          } catch (err) {
            if (err instanceof ClientError && err.code === 503) return undefined;
            // The write that timed out may have been applied once quorum came back (it sat in the log of
            // the member that led when the other two died): etcd never promised otherwise.
            if (err instanceof ClientError && err.code === 409) return true;
            throw err;
          }
        },
        120_000,
      );
      expect(await survivor.client.request('GET', '/readyz').then((r) => r.text())).toBe('ok');
      // Work converges: a leader runs the controllers again and the agent starts the new pods.
      await survivor.client.create(DEPLOYMENT, deployment('after-quorum', 2), 'default');
      await waitFor(
        'after-quorum: two pods Running on mh-a1',
        () => running(survivor, 'after-quorum', 2),
        180_000,
      );
      await waitFor(
        'node mh-a1 Ready',
        async () => {
          const n = await survivor.client.get(NODE_KIND, undefined, 'mh-a1');
          return n?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
        },
        60_000,
      );
      const names = await members(comesBack.p.dir, comesBack.etcdClientPort);
      expect(names).toHaveLength(3);
    }, 400_000);
  },
);
