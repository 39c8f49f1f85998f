// Kubernetes' CEL IP and CIDR libraries (library/ip.go, library/cidr.go): ip(s), isIP(s), family,
// isUnspecified, isLoopback, isLinkLocalMulticast, isLinkLocalUnicast, isGlobalUnicast; cidr(s),
// isCIDR(s), containsIP, containsCIDR, ip(), masked(), prefixLength(). Addresses are BigInts of 32 or
// 128 bits; like Kubernetes, IPv4-mapped IPv6 addresses and zones are refused.
import { isIPv4, isIPv6 } from 'node:net';
import { CelScalar, celFunc, celMethod, type CelValue } from '@bufbuild/cel';
import { opaqueKind } from './opaque.ts';

interface Ip {
  family: 4 | 6;
  value: bigint;
}
interface Cidr {
  ip: Ip;
  prefix: number;
}

export const IpValue = opaqueKind<Ip>('net.IP');
export const CidrValue = opaqueKind<Cidr>('net.CIDR');

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function parseIp(s: string): Ip | undefined {
  if (isIPv4(s)) {
    if (s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined; // no leading zeros
    return { family: 4, value: s.split('.').reduce((a, p) => (a << 8n) | BigInt(p), 0n) };
  }
  if (!isIPv6(s) || s.includes('%') || s.includes('.')) return undefined; // zones, v4-mapped forms
  const [head, tail = ''] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = s.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

function formatIp(ip: Ip): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((sh) => String((ip.value >> sh) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best[1] && j - i >= 2) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best[0] < 0) return hex.join(':');
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0] + best[1]).join(':')}`;
}

function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= bits(ip.family) ? { ip, prefix } : undefined;
}

function mask(c: Cidr): bigint {
  const n = BigInt(bits(c.ip.family));
  return ((1n << n) - 1n) ^ ((1n << (n - BigInt(c.prefix))) - 1n);
}

function contains(c: Cidr, ip: Ip): boolean {
  return c.ip.family === ip.family && (ip.value & mask(c)) === (c.ip.value & mask(c));
}

function ipOf(v: CelValue): Ip {
  if (typeof v === 'string') {
    const ip = parseIp(v);
    if (!ip) throw new Error(`IP Address ${JSON.stringify(v)} parse error`);
    return ip;
  }
  return IpValue.unwrap(v);
}

function cidrOf(v: CelValue): Cidr {
  if (typeof v === 'string') {
    const c = parseCidr(v);
    if (!c) throw new Error(`network address ${JSON.stringify(v)} parse error`);
    return c;
  }
  return CidrValue.unwrap(v);
}

const wrapIp = (ip: Ip) => IpValue.wrap(ip, formatIp(ip));
const wrapCidr = (c: Cidr) => CidrValue.wrap(c, `${formatIp(c.ip)}/${c.prefix}`);
const D = CelScalar.DYN;

function ipTest(name: string, test: (ip: Ip) => boolean) {
  return celMethod(name, D, [], CelScalar.BOOL, function () {
    return test(IpValue.unwrap(this));
  });
}

const inV4 = (ip: Ip, net: string) => contains(parseCidr(net)!, ip);

export const ipLibrary = [
  celFunc('ip', [CelScalar.STRING], D, (s) => wrapIp(ipOf(s))),
  celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s) => parseIp(s) !== undefined),
  celMethod('family', D, [], CelScalar.INT, function () {
    return BigInt(IpValue.unwrap(this).family);
  }),
  ipTest('isUnspecified', (ip) => ip.value === 0n),
  ipTest('isLoopback', (ip) => (ip.family === 4 ? inV4(ip, '127.0.0.0/8') : ip.value === 1n)),
  ipTest('isLinkLocalMulticast', (ip) => inV4(ip, ip.family === 4 ? '224.0.0.0/24' : 'ff02::/16')),
  ipTest('isLinkLocalUnicast', (ip) => inV4(ip, ip.family === 4 ? '169.254.0.0/16' : 'fe80::/10')),
  ipTest('isGlobalUnicast', (ip) =>
    ip.family === 4
      ? !['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '255.255.255.255/32'].some((n) =>
          inV4(ip, n),
        )
      : !['::/127', 'fe80::/10', 'ff00::/8'].some((n) => inV4(ip, n)),
  ),
  celFunc('cidr', [CelScalar.STRING], D, (s) => wrapCidr(cidrOf(s))),
  celFunc('isCIDR', [CelScalar.STRING], CelScalar.BOOL, (s) => parseCidr(s) !== undefined),
  celMethod('containsIP', D, [D], CelScalar.BOOL, function (other) {
    return contains(CidrValue.unwrap(this), ipOf(other));
  }),
  celMethod('containsCIDR', D, [D], CelScalar.BOOL, function (other) {
    const c = CidrValue.unwrap(this);
    const o = cidrOf(other);
    return o.prefix >= c.prefix && contains(c, o.ip);
  }),
  celMethod('ip', D, [], D, function () {
    return wrapIp(CidrValue.unwrap(this).ip);
  }),
  celMethod('masked', D, [], D, function () {
    const c = CidrValue.unwrap(this);
    return wrapCidr({ ip: { family: c.ip.family, value: c.ip.value & mask(c) }, prefix: c.prefix });
  }),
  celMethod('prefixLength', D, [], CelScalar.INT, function () {
    return BigInt(CidrValue.unwrap(this).prefix);
  }),
];
