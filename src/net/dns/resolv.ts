// A pod's /etc/resolv.conf by its dnsPolicy and dnsConfig, as the kubelet writes it:
//
// - ClusterFirst (the default; also ClusterFirstWithHostNet, Strata has no host-network pods): the
//   cluster DNS Service's IP as the only nameserver, the search path `<ns>.svc.<zone> svc.<zone> <zone>`
//   followed by the host's, `options ndots:5` — so `web`, `web.shop` and `web.shop.svc` all resolve;
// - Default: the node's resolv.conf (loopback nameservers removed, see ../etc-files.ts);
// - None: only what dnsConfig says;
// and then dnsConfig: nameservers and searches appended (duplicates dropped), options merged by name
// (a dnsConfig option replaces the one of the same name; `value` absent means a bare flag).
import { parseResolvConf, resolvConf } from '../etc-files.ts';
import { DEFAULT_CLUSTER_DOMAIN } from './records.ts';

export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export interface PodResolvOptions {
  namespace: string;
  dnsPolicy?: DnsPolicy;
  dnsConfig?: PodDnsConfig;
  /** The cluster DNS Service's IP (the kube-dns Service). Without one, ClusterFirst falls back to Default. */
  clusterDnsIP?: string;
  clusterDomain?: string;
  /** The node's resolv.conf text (default: read /etc/resolv.conf). */
  hostResolvConf?: string;
}

/** glibc reads 3 nameservers and (before 2.26) 6 search domains; the kubelet keeps 32 since 1.28. */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

function mergeOptions(base: string[], extra: PodDnsConfig['options']): string[] {
  const byName = new Map<string, string>();
  for (const o of base) byName.set(o.split(':')[0], o);
  for (const o of extra ?? []) byName.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
  return [...byName.values()];
}

export function podResolvConf(o: PodResolvOptions): string {
  const zone = o.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  let policy = o.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  if (policy === 'ClusterFirst' && !o.clusterDnsIP) policy = 'Default';
  let nameservers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy !== 'None') {
    const host = parseResolvConf(resolvConf({ hostResolvConf: o.hostResolvConf }));
    if (policy === 'ClusterFirst') {
      nameservers = [o.clusterDnsIP!];
      searches = [`${o.namespace}.svc.${zone}`, `svc.${zone}`, zone, ...host.searches];
      options = ['ndots:5'];
    } else {
      nameservers = host.nameservers;
      searches = host.searches;
      options = host.options;
    }
  }
  nameservers = [...new Set([...nameservers, ...(o.dnsConfig?.nameservers ?? [])])].slice(0, MAX_NAMESERVERS);
  searches = [...new Set([...searches, ...(o.dnsConfig?.searches ?? [])])].slice(0, MAX_SEARCHES);
  options = mergeOptions(options, o.dnsConfig?.options);
  const lines = [`# Managed by Strata (dnsPolicy ${o.dnsPolicy ?? 'ClusterFirst'}).`];
  for (const ns of nameservers) lines.push(`nameserver ${ns}`);
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
