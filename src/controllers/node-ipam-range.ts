// The arithmetic of node pod ranges (kube-controller-manager's range allocator): pure, so the node-ipam
// controller decides from the Nodes' spec.podCIDR alone. Kept here rather than in net/ (the agent's side
// of addresses): controllers do not import the node's networking.

/** An IPv4 CIDR as a 32-bit network number and a prefix length. */
export interface Cidr {
  network: number;
  prefix: number;
}

function ipv4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new Error(`not an IPv4 address: "${ip}"`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const intToIpv4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** "10.42.7.0/16" → network 10.42.0.0, prefix 16 (host bits cleared). */
export function parseCidr(cidr: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 32) throw new Error(`not an IPv4 CIDR: "${cidr}"`);
  const prefix = Number(m[2]);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipv4ToInt(m[1]!) & mask) >>> 0, prefix };
}

export const formatCidr = (c: Cidr): string => `${intToIpv4(c.network)}/${c.prefix}`;

/**
 * The pod range of a node, cut from the cluster's range (--cluster-cidr, --node-cidr-mask-size, 24 by
 * default): the lowest block none of `taken` overlaps; undefined when the cluster range is full.
 */
export function allocateNodeCidr(
  clusterCidr: string,
  taken: Iterable<string>,
  maskSize = 24,
): string | undefined {
  const cluster = parseCidr(clusterCidr);
  if (maskSize < cluster.prefix || maskSize > 30)
    throw new Error(`node CIDR mask /${maskSize}: must be between /${cluster.prefix} and /30`);
  const size = 2 ** (32 - maskSize);
  const count = 2 ** (maskSize - cluster.prefix);
  const used = new Set<number>();
  for (const c of taken) {
    const s = parseCidr(c);
    // Every block the taken range overlaps (a hand-set range may be wider or narrower than a block).
    const first = Math.max(s.network, cluster.network);
    const last = Math.min(s.network + 2 ** (32 - s.prefix) - 1, cluster.network + count * size - 1);
    for (let at = first; at <= last; at += size) used.add(Math.floor((at - cluster.network) / size));
  }
  for (let i = 0; i < count; i++)
    if (!used.has(i)) return formatCidr({ network: (cluster.network + i * size) >>> 0, prefix: maskSize });
  return undefined;
}
