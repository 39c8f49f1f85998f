// The contents of a pod's /etc/hosts, /etc/hostname and /etc/resolv.conf (the container tier writes them
// per sandbox and bind-mounts them, as kubelet and Docker do).

import { readFileSync } from 'node:fs';

export interface HostAlias {
  ip: string;
  hostnames: string[];
}

export interface HostsOptions {
  hostname: string;
  /** The pod's address; without networking the hostname resolves to 127.0.1.1 instead (Debian's habit). */
  ip?: string;
  /** Extra names for the pod's address (kubelet adds `<hostname>.<subdomain>...`). */
  aliases?: string[];
  /** Extra lines, as the pod spec's hostAliases. */
  hostAliases?: HostAlias[];
}

export function hostsFile(o: HostsOptions): string {
  const lines = [
    '# Managed by Strata.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    `${o.ip ?? '127.0.1.1'}\t${[o.hostname, ...(o.aliases ?? [])].join(' ')}`,
  ];
  for (const a of o.hostAliases ?? []) {
    if (a.hostnames.length > 0) lines.push(`${a.ip}\t${a.hostnames.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

export interface ResolvOptions {
  /** The host's resolv.conf text (default: read /etc/resolv.conf). */
  hostResolvConf?: string;
  /** Used when every host nameserver is a loopback address (default: none). */
  fallbackNameservers?: string[];
  /** Prepended to the host's search domains (kubelet: `<ns>.svc.cluster.local ...`). */
  searches?: string[];
  /** Extra `options` (e.g. "ndots:5"). */
  options?: string[];
}

/**
 * The pod's resolv.conf, from the host's. Loopback nameservers (systemd-resolved's 127.0.0.53, a local
 * dnsmasq) are dropped: inside the pod's network namespace 127.0.0.1 is the pod itself. When that leaves
 * none, systemd-resolved's list of real upstreams is tried, then `fallbackNameservers`.
 */
export function resolvConf(o: ResolvOptions = {}): string {
  const host = o.hostResolvConf ?? readOr('/etc/resolv.conf', '');
  const parsed = parseResolvConf(host);
  let nameservers = parsed.nameservers.filter((ns) => !isLoopback(ns));
  if (nameservers.length === 0 && parsed.nameservers.length > 0 && o.hostResolvConf === undefined) {
    const upstream = parseResolvConf(readOr('/run/systemd/resolve/resolv.conf', ''));
    nameservers = upstream.nameservers.filter((ns) => !isLoopback(ns));
  }
  if (nameservers.length === 0) nameservers = o.fallbackNameservers ?? [];
  const searches = [...(o.searches ?? []), ...parsed.searches];
  const options = [...parsed.options, ...(o.options ?? [])];
  const lines = ['# Managed by Strata (from the host resolv.conf, loopback nameservers removed).'];
  // glibc reads at most three nameservers and six search domains.
  for (const ns of nameservers.slice(0, 3)) lines.push(`nameserver ${ns}`);
  if (searches.length > 0) lines.push(`search ${[...new Set(searches)].slice(0, 6).join(' ')}`);
  if (options.length > 0) lines.push(`options ${[...new Set(options)].join(' ')}`);
  return lines.join('\n') + '\n';
}

export function parseResolvConf(text: string): {
  nameservers: string[];
  searches: string[];
  options: string[];
} {
  const out = { nameservers: [] as string[], searches: [] as string[], options: [] as string[] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    // The last search/domain line wins, as in glibc.
    else if (key === 'search' || key === 'domain') out.searches = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
