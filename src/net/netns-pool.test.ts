// The pool of pre-made pod networks, through a real PodNetwork on the real kernel (a test bridge, range,
// chain and name prefix of its own): a pod takes a ready namespace that already has its veth, address
// and route, reachable under the pod's usual name; the pool refills; teardown, an agent crash
// (reconcile by a new instance), closePool and uninstall leave nothing behind. Needs root; skipped
// otherwise.

import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodNetwork } from './pod-network.ts';
import { inNetns, networkingUnavailable, tracesOf } from './test-support.ts';

const unavailable = networkingUnavailable();
if (unavailable) console.warn(`skipping netns pool tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const opts = {
  bridge: `stnp${tag}`,
  subnet: '10.89.12.0/24',
  chainPrefix: `STNP${tag}`,
  netnsPrefix: `stnp${tag}-`,
  vethPrefix: 'stnp',
  poolSize: 2,
};

let dir: string;
let net: PodNetwork;

const ours = (): string[] =>
  existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(opts.netnsPrefix)) : [];
const poolNamespaces = (): string[] => ours().filter((n) => n.startsWith(`${opts.netnsPrefix}pool-`));
const bridgePorts = (): string[] => readdirSync(`/sys/class/net/${opts.bridge}/brif`);
const ipamOwners = (): string[] =>
  Object.keys(JSON.parse(readFileSync(join(dir, 'state', 'ipam.json'), 'utf8')).allocations).sort();

describe.skipIf(unavailable)('NetnsPool through PodNetwork (root)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-netns-pool-'));
    net = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
  });
  afterAll(async () => {
    await net?.uninstall();
    // Nothing of the test network may remain: no namespace, alias, bridge.
    expect(ours()).toEqual([]);
    expect(existsSync(`/sys/class/net/${opts.bridge}`)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fills to its size after reconcile: namespaces on the bridge with reserved addresses', async () => {
    await net.reconcile([]);
    await net.poolSettled();
    expect(net.poolStats()).toMatchObject({ size: 2, ready: 2, creating: 0 });
    expect(poolNamespaces()).toHaveLength(2);
    expect(bridgePorts()).toHaveLength(2);
    expect(ipamOwners().every((o) => o.startsWith('pool-'))).toBe(true);
    expect(ipamOwners()).toHaveLength(2);
  });

  it('a pod takes a ready network: its address, route and gateway work, under its usual name', async () => {
    const before = poolNamespaces();
    const a = await net.setup('pod-a');
    expect(net.poolStats()).toMatchObject({ claimed: 1, misses: 0 });
    // The pool's namespace itself, and the pod's name for it a symlink to it.
    expect(before).toContain(a.netnsPath.split('/').pop());
    const alias = `${opts.netnsPrefix}pod-a`;
    expect(lstatSync(`/run/netns/${alias}`).isSymbolicLink()).toBe(true);
    expect(inNetns(alias, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${a.ip}/24`);
    expect(inNetns(alias, ['ip', 'route'])).toContain(`default via ${a.gateway}`);
    expect(bridgePorts()).toContain(a.hostInterface);
    // A second pod (the other ready entry) reaches the first over the bridge.
    const b = await net.setup('pod-b');
    expect(b.ip).not.toBe(a.ip);
    expect(inNetns(`${opts.netnsPrefix}pod-b`, ['busybox', 'ping', '-c', '1', '-W', '2', a.ip])).toContain(
      '1 packets received',
    );
    // Idempotent for the pod, as without a pool.
    expect((await net.setup('pod-a')).netnsPath).toBe(a.netnsPath);
  });

  it('refills in the background after claims', async () => {
    await net.poolSettled();
    expect(net.poolStats()).toMatchObject({ ready: 2, creating: 0, claimed: 2 });
    // Two pods' namespaces, their two aliases, two ready ones.
    expect(poolNamespaces()).toHaveLength(4);
  });

  it('teardown of a pooled pod leaves no trace: namespace, alias, veth, address', async () => {
    const b = net.get('pod-b')!;
    const pooledName = b.netnsPath.split('/').pop()!;
    await net.teardown('pod-b');
    expect(tracesOf('pod-b', { netns: pooledName, veth: b.hostInterface })).toEqual([]);
    expect(ours()).not.toContain(`${opts.netnsPrefix}pod-b`);
    expect(
      Object.values(JSON.parse(readFileSync(join(dir, 'state', 'ipam.json'), 'utf8')).allocations),
    ).not.toContain(b.ip);
    expect(net.pods()).toEqual(['pod-a']);
  });

  it('after an agent crash, reconcile removes the old pool and keeps live pods’ pooled networks', async () => {
    await net.poolSettled();
    const a = net.get('pod-a')!;
    const oldPool = poolNamespaces().filter((n) => n !== a.netnsPath.split('/').pop());
    expect(oldPool).toHaveLength(2);
    // The agent "crashes" (no closePool); a new instance on the same state, its own pool off for now.
    const after = new PodNetwork({ stateDir: join(dir, 'state'), ...opts, poolSize: 0 });
    const report = await after.reconcile(['pod-a']);
    expect(report.netns.sort()).toEqual(oldPool.sort());
    // Their veths went with the namespaces (a pair dies with its peer's namespace).
    expect(bridgePorts()).toEqual([a.hostInterface]);
    expect(report.addresses).toHaveLength(2);
    expect(poolNamespaces()).toEqual([a.netnsPath.split('/').pop()]);
    expect(ipamOwners()).toHaveLength(1);
    expect(after.get('pod-a')?.ip).toBe(a.ip);
    expect(
      inNetns(`${opts.netnsPrefix}pod-a`, ['busybox', 'ping', '-c', '1', '-W', '2', a.gateway]),
    ).toContain('1 packets received');
    // Without a pool, setup makes the pod's own namespace under its own name, as before.
    const c = await after.setup('pod-c');
    expect(c.netnsPath).toBe(`/run/netns/${opts.netnsPrefix}pod-c`);
    expect(lstatSync(c.netnsPath).isSymbolicLink()).toBe(false);
    await after.teardown('pod-c');
    net = after;
  });

  it('closePool removes the unclaimed networks and leaves pods alone', async () => {
    const pooled = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
    await pooled.reconcile(['pod-a']);
    await pooled.poolSettled();
    expect(poolNamespaces()).toHaveLength(3);
    await pooled.closePool();
    expect(poolNamespaces()).toEqual([pooled.get('pod-a')!.netnsPath.split('/').pop()]);
    expect(bridgePorts()).toEqual([pooled.get('pod-a')!.hostInterface]);
    expect(ipamOwners()).toHaveLength(1);
    // Closed: a start makes its own network.
    const d = await pooled.setup('pod-d');
    expect(d.netnsPath).toBe(`/run/netns/${opts.netnsPrefix}pod-d`);
    expect(pooled.poolStats().ready).toBe(0);
    net = pooled;
  });
});
