// Shared by the networking tests (and the container tier's network test): can this machine run them,
// and what is left of a pod on it.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { which } from '../lib/command.ts';

/** Why pod networking cannot be tested here, or undefined when it can. */
export function networkingUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'pod networking needs root';
  for (const tool of ['ip', 'iptables', 'iptables-save']) {
    if (!which(tool)) return `${tool} not found (apt-get install iproute2 iptables)`;
  }
  try {
    execFileSync(which('iptables')!, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING'], { stdio: 'pipe' });
  } catch (err) {
    return `iptables does not work here: ${(err as Error).message}`;
  }
  if (!existsSync('/proc/sys/net/ipv4/ip_forward')) return 'no IPv4 forwarding sysctl';
  return undefined;
}

/** Every place a pod could leave a trace, as text lines that mention it. */
export function tracesOf(podUid: string, names: { netns: string; veth?: string }): string[] {
  const out: string[] = [];
  const netns = execFileSync(which('ip')!, ['netns', 'list'], { encoding: 'utf8' });
  if (netns.split('\n').some((l) => l.split(' ')[0] === names.netns)) out.push(`netns ${names.netns}`);
  if (names.veth && existsSync(`/sys/class/net/${names.veth}`)) out.push(`link ${names.veth}`);
  for (const table of ['nat', 'filter']) {
    const rules = execFileSync(which('iptables-save')!, ['-t', table], { encoding: 'utf8' });
    for (const line of rules.split('\n')) if (line.includes(`strata:${podUid}`)) out.push(line);
  }
  return out;
}

/** Runs a command inside a named namespace and returns its stdout. */
export function inNetns(netns: string, cmd: string[], timeoutMs = 10_000): string {
  return execFileSync(which('ip')!, ['netns', 'exec', netns, ...cmd], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Deletes bridges named `prefix<digits>` other than `keep`: what crashed earlier runs of a test left.
 * A stale bridge with the test's range would own the route to it, and the test's pods would be unreachable.
 */
export function removeStaleTestBridges(prefix: string, keep: string): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    return removed;
  }
  for (const name of names) {
    if (name === keep || !new RegExp(`^${prefix}\\d+$`).test(name)) continue;
    try {
      execFileSync(which('ip')!, ['link', 'del', name], { stdio: 'ignore' });
      removed.push(name);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}
