// NetworkPolicy enforcement against the real kernel: pods made by the real PodNetwork on a bridge of
// their own (own range, chain prefix and nftables table: nothing of a real node is touched), busybox
// httpd in some of them, and policies planned from API objects. Needs root, nft and br_netfilter.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Namespace, type NetworkPolicy, type Pod, validateObject } from '../../api/index.ts';
import { run, which } from '../../lib/command.ts';
import { PodNetwork } from '../pod-network.ts';
import { inNetns, networkingUnavailable } from '../test-support.ts';
import { nftListTable } from '../services/nft.ts';
import { PolicyDataPlane } from './data-plane.ts';
import { planPolicies } from './plan.ts';

const unavailable =
  networkingUnavailable() ??
  (which('nft') ? undefined : 'nft not found (apt-get install nftables)') ??
  (which('busybox') ? undefined : 'busybox not found') ??
  (existsSync('/proc/sys/net/bridge') ? undefined : 'br_netfilter is not loaded (modprobe br_netfilter)');
if (unavailable) console.warn(`skipping network policy data plane tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const net3 = 30 + (process.pid % 200);
const opts = {
  bridge: `stnp${tag}`,
  subnet: `10.91.${net3}.0/24`,
  chainPrefix: `STNP${tag}`,
  netnsPrefix: `stnp${tag}-`,
  vethPrefix: 'stnp',
};
const table = `stnptest${tag}`;

let dir: string;
let net: PodNetwork;
let plane: PolicyDataPlane;
const servers: ChildProcess[] = [];
const ips: Record<string, string> = {};

function stored<T>(obj: unknown): T {
  const r = validateObject(obj);
  if (!r.ok) throw new Error(JSON.stringify(r.causes));
  return r.object as T;
}

/** The pods: a (app=db, serves on 8080 named "http"), b (app=web), c (app=other), d (app=web in ops). */
const podDefs: Record<string, { labels: Record<string, string>; namespace: string }> = {
  a: { labels: { app: 'db' }, namespace: 'default' },
  b: { labels: { app: 'web' }, namespace: 'default' },
  c: { labels: { app: 'other' }, namespace: 'default' },
  d: { labels: { app: 'web' }, namespace: 'ops' },
};

function pods(): Pod[] {
  return Object.entries(podDefs).map(([name, def]) => {
    const p = stored<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: def.namespace, labels: def.labels },
      spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }] }] },
    });
    p.status = { phase: 'Running', podIP: ips[name] } as Pod['status'];
    return p;
  });
}

const namespaces = ['default', 'ops'].map((name) =>
  stored<Namespace>({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: name === 'ops' ? { team: 'ops' } : {} },
  }),
);

const policy = (name: string, spec: Record<string, unknown>): NetworkPolicy =>
  stored<NetworkPolicy>({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'default' },
    spec,
  });

function enforce(...policies: NetworkPolicy[]) {
  return plane.reconcile(planPolicies(policies, pods(), namespaces));
}

async function serve(pod: string): Promise<void> {
  const www = mkdtempSync(join(dir, 'www-'));
  writeFileSync(join(www, 'index.html'), pod.toUpperCase());
  const netns = `${opts.netnsPrefix}${pod}`;
  servers.push(
    spawn(which('ip')!, ['netns', 'exec', netns, which('busybox')!, 'httpd', '-f', '-p', '8080', '-h', www], {
      stdio: 'ignore',
    }),
  );
  for (let i = 0; i < 100; i++) {
    try {
      inNetns(netns, ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 3000);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`httpd in ${pod} did not start`);
}

/** Whether pod `from` gets an answer from pod `to`'s httpd (a refused or unanswered connection: false). */
function reaches(from: string, to: string, port = 8080): boolean {
  try {
    const body = inNetns(
      `${opts.netnsPrefix}${from}`,
      ['busybox', 'wget', '-q', '-O', '-', `http://${ips[to]}:${port}/`],
      8000,
    );
    return body === to.toUpperCase();
  } catch {
    return false;
  }
}

/** The node itself (kubelet probes, the gateway) fetching from a pod. */
async function nodeReaches(to: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${ips[to]}:8080/`, { signal: AbortSignal.timeout(3000) });
    return (await res.text()) === to.toUpperCase();
  } catch {
    return false;
  }
}

const dbOnly = { matchLabels: { app: 'db' } };

describe.skipIf(unavailable)('PolicyDataPlane (root, real kernel)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-netpol-'));
    net = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
    for (const pod of Object.keys(podDefs)) ips[pod] = (await net.setup(pod)).ip;
    for (const pod of ['a', 'b', 'd']) await serve(pod);
    plane = new PolicyDataPlane({ table });
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await plane?.teardown();
    await net?.uninstall();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets everything through while no policy selects a pod', async () => {
    expect((await enforce()).full).toBe(true);
    expect(reaches('b', 'a')).toBe(true);
    expect(reaches('c', 'a')).toBe(true);
  });

  it('a default-deny isolates the selected pod only; the node still reaches it', async () => {
    const report = await enforce(policy('deny', { podSelector: dbOnly }));
    expect(report.full).toBe(false);
    expect(reaches('b', 'a')).toBe(false);
    expect(reaches('c', 'a')).toBe(false);
    expect(reaches('a', 'b')).toBe(true); // b is not selected; a's egress is not isolated
    expect(await nodeReaches('a')).toBe(true);
  });

  it('an allow rule for one label lets exactly that client in', async () => {
    const allowWeb = policy('allow-web', {
      podSelector: dbOnly,
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
    });
    await enforce(policy('deny', { podSelector: dbOnly }), allowWeb);
    expect(reaches('b', 'a')).toBe(true);
    expect(reaches('c', 'a')).toBe(false);
    expect(reaches('d', 'a')).toBe(false); // app=web, but in another namespace
  });

  it('ports: a named port resolved on the target allows, another port does not', async () => {
    const on = (port: number | string) =>
      policy('web-port', {
        podSelector: dbOnly,
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port }] }],
      });
    await enforce(on('http'));
    expect(reaches('b', 'a')).toBe(true);
    await enforce(on(9999));
    expect(reaches('b', 'a')).toBe(false);
    await enforce(on(8080));
    expect(reaches('b', 'a')).toBe(true);
    await enforce(
      policy('range', { podSelector: dbOnly, ingress: [{ ports: [{ port: 8000, endPort: 8079 }] }] }),
    );
    expect(reaches('b', 'a')).toBe(false);
  });

  it('a namespaceSelector admits the pods of the matching namespaces', async () => {
    await enforce(
      policy('from-ops', {
        podSelector: dbOnly,
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] }],
      }),
    );
    expect(reaches('d', 'a')).toBe(true);
    expect(reaches('b', 'a')).toBe(false);
  });

  it('an ipBlock with except', async () => {
    await enforce(
      policy('cidr', {
        podSelector: dbOnly,
        ingress: [{ from: [{ ipBlock: { cidr: opts.subnet, except: [`${ips.b}/32`] } }] }],
      }),
    );
    expect(reaches('c', 'a')).toBe(true);
    expect(reaches('b', 'a')).toBe(false);
  });

  it('egress deny blocks new connections out, while replies to allowed connections still flow', async () => {
    await enforce(
      policy('no-egress', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] }),
    );
    expect(reaches('b', 'a')).toBe(false);
    expect(reaches('c', 'a')).toBe(true);
    expect(reaches('a', 'b')).toBe(true); // b answers: established traffic is never filtered
    await enforce(
      policy('egress-to-db', {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: dbOnly }], ports: [{ port: 'http' }] }],
      }),
    );
    expect(reaches('b', 'a')).toBe(true);
    expect(reaches('b', 'd')).toBe(false);
  });

  it('a new instance converges over a crashed agent`s table with a stray rule, without duplicates', async () => {
    const pols = [
      policy('deny', { podSelector: dbOnly }),
      policy('allow-web', {
        podSelector: dbOnly,
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
      }),
    ];
    await enforce(...pols);
    const clean = await nftListTable('ip', table);
    await run('nft', ['add', 'chain', 'ip', table, 'stray']);
    await run('nft', ['add', 'rule', 'ip', table, 'ingress-forward', 'accept']);
    const restarted = new PolicyDataPlane({ table });
    const report = await restarted.reconcile(planPolicies(pols, pods(), namespaces));
    expect(report.full).toBe(true);
    const after = await nftListTable('ip', table);
    expect(after!.chains).toEqual(clean!.chains);
    expect(after!.rules).toEqual(clean!.rules);
    expect(reaches('b', 'a')).toBe(true);
    expect(reaches('c', 'a')).toBe(false);
    plane = restarted;
  });

  it('teardown removes exactly its table', async () => {
    const before = (await run('nft', ['list', 'tables'])).split('\n').filter(Boolean);
    expect(before).toContain(`table ip ${table}`);
    await plane.teardown();
    const after = (await run('nft', ['list', 'tables'])).split('\n').filter(Boolean);
    expect(after).toEqual(before.filter((t) => t !== `table ip ${table}`));
    await plane.teardown(); // idempotent
    expect(reaches('c', 'a')).toBe(true);
  });
});
