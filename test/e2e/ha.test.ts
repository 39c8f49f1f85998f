// Two `strata server` processes on a three-member etcd (all on loopback): both serve the API, one runs the
// controllers and the scheduler (the holder of kube-system/strata-controller-manager). SIGKILL the leader:
// the other takes the Lease over once it has stood still for the lease duration (15 s), and a Deployment
// scaled in the meantime converges. Killing one etcd member leaves quorum: writes go on.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/lib/free-port.ts';
import { etcdUnavailable, startEtcdCluster, type EtcdCluster } from '../../src/store/testing/etcd.ts';
import { NODE, ROOT, waitFor } from './harness.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping HA e2e: ${missing}`);

interface Server {
  dir: string;
  url: string;
  proc: ChildProcess;
  token: string;
}

async function startServer(datastore: string, root: string, name: string): Promise<Server> {
  const dir = join(root, name);
  const port = await freePort();
  const proc = spawn(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      join(ROOT, 'src/cli/main.ts'),
      'server',
      '--data-dir',
      dir,
      '--port',
      String(port),
      '--insecure-http',
      '--advertise-address',
      'none',
      '--datastore',
      datastore,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  await waitFor(`${name} listening`, () => {
    if (proc.exitCode !== null) throw new Error(`${name} exited: ${out}`);
    return out.includes('listening on');
  });
  return {
    dir,
    url: `http://127.0.0.1:${port}`,
    proc,
    token: readFileSync(join(dir, 'admin.token'), 'utf8').trim(),
  };
}

async function api(s: Server, path: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(`${s.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', ...init.headers },
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** The identity this server logged when it became leader (pino JSON lines in DATA/server.log). */
function leaderIdentity(s: Server): string | undefined {
  let log = '';
  try {
    log = readFileSync(join(s.dir, 'server.log'), 'utf8');
  } catch {
    return undefined;
  }
  const line = log.split('\n').find((l) => l.includes('became leader'));
  return line ? (JSON.parse(line) as { identity: string }).identity : undefined;
}

const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/strata-controller-manager';
const podsOf = async (s: Server) =>
  (await api(s, '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items.length as number;

describe.skipIf(missing)('HA: two servers on a three-member etcd', () => {
  let etcd: EtcdCluster;
  let root: string;
  const servers: Server[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'strata-ha-'));
    etcd = await startEtcdCluster({ size: 3 });
    servers.push(await startServer(etcd.datastoreUrl, root, 's1'));
    servers.push(await startServer(etcd.datastoreUrl, root, 's2'));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    await etcd?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('one leads; when it is killed the other takes over and a Deployment scaled meanwhile converges', async () => {
    const lease = await waitFor('a leader', async () => {
      const l = await api(servers[1], LEASE);
      return l.spec?.holderIdentity ? l : undefined;
    });
    const leaderIdx = await waitFor(
      'the leader to say so',
      () => {
        const i = [0, 1].find((n) => leaderIdentity(servers[n]) === lease.spec.holderIdentity);
        if (i === undefined)
          throw new Error(
            `lease holder ${lease.spec.holderIdentity}; logged: ${servers.map((s) => leaderIdentity(s)).join(', ')}`,
          );
        return i + 1;
      },
      20_000,
    ).then((n) => n - 1);
    const leader = servers[leaderIdx];
    const other = servers[1 - leaderIdx];
    expect(leaderIdentity(other)).toBeUndefined(); // one leader only

    // Written through the follower: every server serves the API; the leader's controllers act on it.
    await api(other, '/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      body: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { runtimeClassName: 'wasm', containers: [{ name: 'c', image: '/opt/web.wasm' }] },
          },
        },
      }),
    });
    await waitFor('2 pods', async () => (await podsOf(other)) === 2);

    const t0 = performance.now();
    leader.proc.kill('SIGKILL');
    await api(other, '/apis/apps/v1/namespaces/default/deployments/web', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: 4 } }),
    });
    const next = await waitFor(
      'the other server to take the lease',
      async () => {
        const l = await api(other, LEASE);
        return l.spec.holderIdentity !== lease.spec.holderIdentity ? l : undefined;
      },
      60_000,
    );
    const takeover = performance.now() - t0;
    // The Lease is written before the new leader logs it (the log is flushed asynchronously): wait for the line.
    const logged = await waitFor(
      'the other server to log that it leads',
      () => leaderIdentity(other),
      30_000,
    );
    expect(next.spec.holderIdentity).toBe(logged);
    expect(next.spec.leaseTransitions).toBe((lease.spec.leaseTransitions ?? 0) + 1);
    await waitFor('4 pods', async () => (await podsOf(other)) === 4, 60_000);
    console.log(
      `leader killed → lease taken over in ${(takeover / 1000).toFixed(1)} s, scaled Deployment converged in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 180_000);

  it('keeps serving writes with one etcd member killed (quorum holds)', async () => {
    const alive = servers.find((s) => s.proc.exitCode === null && s.proc.signalCode === null)!;
    await etcd.kill(2);
    await api(alive, '/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'quorum' },
        data: { a: '1' },
      }),
    });
    const cm = await api(alive, '/api/v1/namespaces/default/configmaps/quorum');
    expect(cm.data).toEqual({ a: '1' });
  }, 120_000);
});
