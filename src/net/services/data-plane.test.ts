// The Service data plane against the real kernel: pods made by the real PodNetwork on a test bridge of
// their own (its own range, chain prefix and nftables table, so nothing of a real node is touched), each
// running busybox httpd, and Services in front of them. The test service range is routed to the test
// bridge, so a packet the rules failed to rewrite still never leaves this machine. Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.ts';
import { run, which } from '../../lib/command.ts';
import { PodNetwork } from '../pod-network.ts';
import { inNetns, networkingUnavailable } from '../test-support.ts';
import { ServiceDataPlane } from './data-plane.ts';
import { nftListElements, nftListTable } from './nft.ts';

const unavailable =
  networkingUnavailable() ??
  (which('nft') ? undefined : 'nft not found (apt-get install nftables)') ??
  (which('busybox') ? undefined : 'busybox not found');
if (unavailable) console.warn(`skipping service data plane tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const net3 = 30 + (process.pid % 200);
const opts = {
  bridge: `stsv${tag}`,
  subnet: `10.89.${net3}.0/24`,
  chainPrefix: `STSV${tag}`,
  netnsPrefix: `stsv${tag}-`,
  vethPrefix: 'stsv',
};
const serviceCidr = `10.97.${net3}.0/24`;
const vip = (n: number) => `10.97.${net3}.${n}`;
const table = `stsvtest${tag}`;

let dir: string;
let net: PodNetwork;
let plane: ServiceDataPlane;
const servers: ChildProcess[] = [];
const ips: Record<string, string> = {};

/** busybox httpd on port 8080 in the pod's namespace, answering `name`. */
async function serve(pod: string, name: string): Promise<void> {
  const www = mkdtempSync(join(dir, 'www-'));
  writeFileSync(join(www, 'index.html'), name);
  const netns = `${opts.netnsPrefix}${pod}`;
  const child = spawn(
    which('ip')!,
    ['netns', 'exec', netns, which('busybox')!, 'httpd', '-f', '-p', '8080', '-h', www],
    {
      stdio: 'ignore',
    },
  );
  servers.push(child);
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

function service(name: string, spec: Record<string, unknown>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec },
  } as Service;
}

function slice(svc: string, pods: string[], port = 8080, protocol: 'TCP' | 'UDP' = 'TCP'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abcde`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => ({
      addresses: [ips[p]],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'n1',
    })),
    ports: [{ name: 'http', protocol, port }],
  };
}

/** GET from the host (a new connection each time); the body names the backend. */
async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000), headers: { connection: 'close' } });
  return res.text();
}

async function spread(url: string, n = 30): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await get(url));
  return seen;
}

function fromPod(pod: string, url: string): string {
  return inNetns(`${opts.netnsPrefix}${pod}`, ['busybox', 'wget', '-q', '-O', '-', url], 5000);
}

const web = service('web', {
  type: 'NodePort',
  clusterIP: vip(10),
  ports: [
    { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30000 + (process.pid % 2000) },
  ],
});
const nodePort = 30000 + (process.pid % 2000);

describe.skipIf(unavailable)('ServiceDataPlane (root, real kernel)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-svc-'));
    net = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
    for (const pod of ['a', 'b', 'client']) ips[pod] = (await net.setup(pod)).ip;
    await serve('a', 'A');
    await serve('b', 'B');
    // Unrewritten service traffic goes to the test bridge, never to the default route.
    await run('ip', ['route', 'add', serviceCidr, 'dev', opts.bridge]);
    plane = new ServiceDataPlane({ table, clusterCidr: opts.subnet, serviceCidr, nodeName: 'n1' });
    // The pod network masquerades every DNATed connection into the bridge itself (for hostPorts): its
    // two rules go, so the hairpin and 127.0.0.1 tests prove the data plane's own masquerade.
    for (const source of [opts.subnet, '127.0.0.0/8'])
      await run('iptables', [
        ...['-t', 'nat', '-D', `${opts.chainPrefix}-POSTROUTING`, '-s', source, '-o', opts.bridge],
        ...['-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE'],
      ]);
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await plane?.teardown();
    await net?.uninstall();
    rmSync(dir, { recursive: true, force: true });
  });

  it('spreads ClusterIP traffic over both backends, from the node and from a pod', async () => {
    const report = await plane.reconcile([web], [slice('web', ['a', 'b'])]);
    expect(report.full).toBe(true);
    expect(await spread(`http://${vip(10)}/`)).toEqual(new Set(['A', 'B']));
    const fromClient = new Set<string>();
    for (let i = 0; i < 20; i++) fromClient.add(fromPod('client', `http://${vip(10)}/`));
    expect(fromClient).toEqual(new Set(['A', 'B']));
  });

  it('lets a pod reach its own Service (hairpin)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(fromPod('a', `http://${vip(10)}/`));
    expect(seen).toEqual(new Set(['A', 'B']));
  });

  it('answers the NodePort on 127.0.0.1 and on the node addresses', async () => {
    expect(await spread(`http://127.0.0.1:${nodePort}/`)).toEqual(new Set(['A', 'B']));
    const gateway = `10.89.${net3}.1`;
    expect(await spread(`http://${gateway}:${nodePort}/`, 10)).not.toEqual(new Set());
    expect(fromPod('client', `http://${gateway}:${nodePort}/`)).toMatch(/^[AB]$/);
  });

  it('a change touches only the map elements of the Service that changed', async () => {
    const other = service('other', {
      clusterIP: vip(11),
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    });
    await plane.reconcile([web, other], [slice('web', ['a', 'b']), slice('other', ['a'])]);
    const report = await plane.reconcile([web, other], [slice('web', ['a']), slice('other', ['a'])]);
    // web's elements: its cluster IP and node port now go to the one-backend dispatch chains (2 × delete
    // + add), b's two backend slots and its endpoint-self pair go. The shared chains: nodeport-dispatch-1
    // is new (other has no node port), dispatch-2 and nodeport-dispatch-2 are used by no one any more.
    expect(report).toMatchObject({ full: false, chainsWritten: 1, chainsDeleted: 2, elementsChanged: 7 });
    expect(await spread(`http://${vip(10)}/`, 10)).toEqual(new Set(['A']));
    expect(await spread(`http://127.0.0.1:${nodePort}/`, 5)).toEqual(new Set(['A']));
    expect(await get(`http://${vip(11)}/`)).toBe('A');
    const unchanged = await plane.reconcile([web, other], [slice('web', ['a']), slice('other', ['a'])]);
    expect(unchanged).toMatchObject({ chainsWritten: 0, chainsDeleted: 0, elementsChanged: 0 });
    const contents = await nftListTable('ip', table);
    expect([...(contents?.chains ?? [])].filter((c) => c.includes('default/'))).toEqual([]);
  });

  it('refuses connections at once for a Service without endpoints, and to unknown ports of a cluster IP', async () => {
    await plane.reconcile([web], [slice('web', [])]);
    const t0 = Date.now();
    await expect(get(`http://${vip(10)}/`)).rejects.toThrow();
    await expect(get(`http://127.0.0.1:${nodePort}/`)).rejects.toThrow();
    await expect(get(`http://${vip(10)}:81/`)).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000); // rejected, not timed out
  });

  it('keeps a client on one backend with ClientIP affinity', async () => {
    const sticky = { ...web, spec: { ...web.spec, sessionAffinity: 'ClientIP' as const } };
    await plane.reconcile([sticky], [slice('web', ['a', 'b'])]);
    expect((await spread(`http://${vip(10)}/`, 20)).size).toBe(1);
  });

  it('converges after a crash from whatever the table holds, without duplicate rules', async () => {
    await plane.reconcile([web], [slice('web', ['a', 'b'])]);
    const clean = await nftListTable('ip', table);
    // Someone (or a dying agent) left a stray chain and a rule; a new instance knows nothing of either.
    await run('nft', ['add', 'chain', 'ip', table, 'leftover']);
    await run('nft', ['add', 'rule', 'ip', table, 'services', 'jump', 'leftover']);
    const restarted = new ServiceDataPlane({ table, clusterCidr: opts.subnet, serviceCidr, nodeName: 'n1' });
    const report = await restarted.reconcile([web], [slice('web', ['a', 'b'])]);
    expect(report.full).toBe(true);
    const after = await nftListTable('ip', table);
    expect(after?.chains).toEqual(clean?.chains);
    expect(after?.rules).toEqual(clean?.rules);
    expect(await spread(`http://${vip(10)}/`)).toEqual(new Set(['A', 'B']));
    plane = restarted;
  });

  it('replaces a table it could not have written (a map of another shape)', async () => {
    const other = `${table}x`;
    await run('nft', ['add', 'table', 'ip', other]);
    await run('nft', ['add', 'map', 'ip', other, 'service-ips', '{ type inet_service : verdict; }']);
    const rebuilt = new ServiceDataPlane({ table: other, clusterCidr: opts.subnet });
    try {
      expect(await rebuilt.reconcile([web], [slice('web', ['a'])])).toMatchObject({ full: true });
      const map = await nftListElements('ip', other, 'map', 'service-ips');
      expect(JSON.stringify(map)).toContain(vip(10));
    } finally {
      await rebuilt.teardown();
    }
  });

  it('flushes conntrack entries of a removed UDP backend', async () => {
    if (!which('conntrack')) return;
    const dns = service('dns', {
      clusterIP: vip(53),
      ports: [{ name: 'http', protocol: 'UDP', port: 53, targetPort: 5353 }],
    });
    await plane.reconcile([web, dns], [slice('web', ['a', 'b']), slice('dns', ['a'], 5353, 'UDP')]);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.send('x', 53, vip(53), () => r()));
    sock.close();
    const entries = async () =>
      (await run('conntrack', ['-L', '-p', 'udp', '--orig-dst', vip(53)]).catch(() => '')).trim();
    expect(await entries()).toContain(`src=${ips.a}`);
    await plane.reconcile([web, dns], [slice('web', ['a', 'b']), slice('dns', ['b'], 5353, 'UDP')]);
    expect(await entries()).not.toContain(`src=${ips.a}`);
  });

  it('keeps every rule in its own table, and teardown removes exactly it', async () => {
    const elements = await nftListElements('ip', table, 'map', 'service-ips');
    expect(elements.length).toBeGreaterThan(0);
    const before = await run('nft', ['list', 'tables']);
    expect(before).toContain(`table ip ${table}`);
    await plane.teardown();
    const after = await run('nft', ['list', 'tables']);
    expect(after).not.toContain(`table ip ${table}`);
    expect(after.split('\n').filter(Boolean).length).toBe(before.split('\n').filter(Boolean).length - 1);
    await plane.teardown(); // idempotent
    await expect(get(`http://127.0.0.1:${nodePort}/`)).rejects.toThrow();
    expect(readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim()).toBe('1');
  });
});
