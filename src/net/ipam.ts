// Pod addresses from the node's range, persisted so that an agent restart neither hands out an address
// that a surviving pod still holds nor forgets one (the role of CNI's host-local IPAM).
//
// The first host address is the bridge's (the pods' gateway); network and broadcast addresses are never
// handed out. Allocation continues after the last address handed out, wrapping around, so that a freed
// address is not reused at once (a peer's stale ARP or conntrack entry would then reach the wrong pod).
// The file is replaced atomically (write + rename): a crash leaves the old or the new state, never half.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Subnet {
  /** Network address as a 32-bit unsigned integer. */
  network: number;
  prefix: number;
  /** The subnet as written, normalised: "10.88.0.0/16". */
  cidr: string;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IPv4 address: "${ip}"`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR: "${cidr}"`);
  const prefix = Number(m[2]);
  // A /31 or /32 leaves no room for a gateway and a pod.
  if (prefix < 8 || prefix > 30) throw new Error(`subnet ${cidr}: prefix must be between /8 and /30`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(m[1]) & mask) >>> 0;
  return { network, prefix, cidr: `${intToIp(network)}/${prefix}` };
}

export function gatewayOf(s: Subnet): string {
  return intToIp(s.network + 1);
}

export function contains(s: Subnet, ip: string): boolean {
  const mask = (0xffffffff << (32 - s.prefix)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === s.network;
}

interface IpamFile {
  version: 1;
  subnet: string;
  /** The address handed out last (allocation resumes after it). */
  last?: string;
  /** owner (pod uid) -> address */
  allocations: Record<string, string>;
}

export class Ipam {
  readonly subnet: Subnet;
  readonly gateway: string;
  private readonly file: string;
  private state: IpamFile;

  constructor(opts: { file: string; subnet: string }) {
    this.file = opts.file;
    this.subnet = parseSubnet(opts.subnet);
    this.gateway = gatewayOf(this.subnet);
    this.state = this.load();
  }

  /** The owner's address, allocating one if it has none. */
  allocate(owner: string): string {
    const existing = this.state.allocations[owner];
    if (existing) return existing;
    const used = new Set(Object.values(this.state.allocations));
    const first = this.subnet.network + 2; // .0 network, .1 gateway
    const lastUsable = this.subnet.network + 2 ** (32 - this.subnet.prefix) - 2; // before broadcast
    const span = lastUsable - first + 1;
    const after = this.state.last ? ipToInt(this.state.last) : first - 1;
    for (let i = 1; i <= span; i++) {
      const candidate = first + ((after - first + i + span) % span);
      const ip = intToIp(candidate);
      if (used.has(ip)) continue;
      this.state.allocations[owner] = ip;
      this.state.last = ip;
      this.save();
      return ip;
    }
    throw new Error(`no free address left in ${this.subnet.cidr} (${span} in use)`);
  }

  /** Frees the owner's address; a no-op for an owner without one. */
  release(owner: string): void {
    if (!(owner in this.state.allocations)) return;
    delete this.state.allocations[owner];
    this.save();
  }

  get(owner: string): string | undefined {
    return this.state.allocations[owner];
  }

  /** owner -> address, a copy. */
  allocations(): Record<string, string> {
    return { ...this.state.allocations };
  }

  private load(): IpamFile {
    let raw: string;
    try {
      raw = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { version: 1, subnet: this.subnet.cidr, allocations: {} };
      }
      throw err;
    }
    const parsed = JSON.parse(raw) as IpamFile;
    if (parsed.subnet !== this.subnet.cidr) {
      // Changing the range under live pods would hand out addresses they hold: refuse, name both.
      throw new Error(
        `IPAM file ${this.file} is for ${parsed.subnet}, not ${this.subnet.cidr}; ` +
          'remove it (with every pod of this node) to change the range',
      );
    }
    parsed.allocations ??= {};
    return parsed;
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n');
    renameSync(tmp, this.file);
  }
}
