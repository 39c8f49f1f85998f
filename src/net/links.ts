// iproute2 operations: the node's bridge, a pod's named network namespace and its veth pair, and
// addresses of the node's own on the bridge (pods served by the node).
// Each multi-step change runs as one `ip -batch` (one process, stops at the first error) rather than
// one process per step: a pod's set-up is two `ip` runs.

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { CommandError, run } from '../lib/command.ts';

/** Where `ip netns add NAME` mounts a namespace (runtimes join it by this path). */
export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export async function ensureBridge(name: string, gatewayCidr: string, mtu: number): Promise<void> {
  if (!existsSync(`/sys/class/net/${name}`)) {
    try {
      await run('ip', ['link', 'add', name, 'mtu', String(mtu), 'type', 'bridge']);
    } catch (err) {
      if (!/File exists/.test((err as CommandError).stderr ?? '')) throw err;
    }
  }
  try {
    await run('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  } catch (err) {
    if (!/File exists|already assigned/.test((err as CommandError).stderr ?? '')) throw err;
  }
  await run('ip', ['link', 'set', name, 'up']);
}

/** Adds `ip`/32 to the bridge: an address of the node's own that pods reach over the bridge. Idempotent. */
export async function addHostAddress(bridge: string, ip: string): Promise<void> {
  try {
    // noprefixroute: the bridge's own route already covers the pod range.
    await run('ip', ['addr', 'add', `${ip}/32`, 'dev', bridge, 'noprefixroute']);
  } catch (err) {
    if (!/File exists|already assigned/.test((err as CommandError).stderr ?? '')) throw err;
  }
}

/** Removes an address addHostAddress() made; false when it was not there. */
export async function deleteHostAddress(bridge: string, ip: string): Promise<boolean> {
  try {
    await run('ip', ['addr', 'del', `${ip}/32`, 'dev', bridge]);
    return true;
  } catch (err) {
    if (
      /Address not found|Cannot assign|Cannot find device|does not exist/.test(
        (err as CommandError).stderr ?? '',
      )
    )
      return false;
    throw err;
  }
}

export async function deleteLink(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'del', name]);
    return true;
  } catch (err) {
    if (/Cannot find device|does not exist/.test((err as CommandError).stderr ?? '')) return false;
    throw err;
  }
}

export interface PodLinkPlan {
  netns: string;
  hostVeth: string;
  bridge: string;
  /** Address with prefix, e.g. 10.88.0.5/16. */
  cidr: string;
  gateway: string;
  mtu: number;
}

/** Creates the namespace and the veth pair, plugs the host end into the bridge, configures eth0. */
export async function createPodLinks(p: PodLinkPlan): Promise<void> {
  await run('ip', ['-batch', '-'], {
    input: [
      `netns add ${p.netns}`,
      // The peer is created directly inside the namespace: it never exists on the host under a name
      // that could clash with another pod's.
      `link add ${p.hostVeth} mtu ${p.mtu} type veth peer name eth0 mtu ${p.mtu} netns ${p.netns}`,
      `link set ${p.hostVeth} master ${p.bridge}`,
      // Hairpin: a pod that reaches its own hostPort gets the DNATed packet back through its own port.
      `link set ${p.hostVeth} type bridge_slave hairpin on`,
      `link set ${p.hostVeth} up`,
    ].join('\n'),
  });
  await run('ip', ['-n', p.netns, '-batch', '-'], {
    input: [
      'link set lo up',
      `addr add ${p.cidr} dev eth0`,
      'link set eth0 up',
      `route add default via ${p.gateway} dev eth0`,
    ].join('\n'),
  });
}

export async function deleteNetns(name: string): Promise<boolean> {
  if (!existsSync(netnsPath(name))) return false;
  try {
    await run('ip', ['netns', 'delete', name]);
    return true;
  } catch (err) {
    if (/No such file/.test((err as CommandError).stderr ?? '')) return false;
    throw err;
  }
}

/** Named namespaces on this node. */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Interfaces enslaved to the bridge (the host ends of pod veths). */
export async function bridgePorts(bridge: string): Promise<string[]> {
  if (!existsSync(`/sys/class/net/${bridge}`)) return [];
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    const out = await run('ip', ['-j', 'link', 'show', 'master', bridge]);
    return (JSON.parse(out || '[]') as Array<{ ifname: string }>).map((l) => l.ifname);
  }
}

/** The MTU of the interface the default route leaves by (1500 when there is none). */
export async function defaultRouteMtu(): Promise<number> {
  try {
    const routes = JSON.parse(await run('ip', ['-j', 'route', 'show', 'default'])) as Array<{ dev?: string }>;
    const dev = routes.find((r) => r.dev)?.dev;
    if (dev) return Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim()) || 1500;
  } catch {
    // No default route or no JSON support: fall through.
  }
  return 1500;
}

/** Writes a sysctl through /proc/sys (no process spawned); returns the previous value. */
export function setSysctl(key: string, value: string): string {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  const prev = readFileSync(path, 'utf8').trim();
  if (prev !== value) writeFileSync(path, value);
  return prev;
}
