// The two ranges Services draw from: an IPv4 CIDR for cluster IPs (`--service-cidr`) and a port range
// for node ports (`--service-node-port-range`). Parsing and membership only; no state.
import { isIPv4 } from 'node:net';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class ServiceCidr {
  readonly cidr: string;
  /** The network address as an integer. */
  readonly base: number;
  readonly size: number;

  constructor(cidr: string) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || !isIPv4(m[1]))
      throw new Error(`invalid service CIDR ${JSON.stringify(cidr)}: want IPv4 a.b.c.d/N`);
    // Kubernetes caps an IPv4 service range at /12 (a 2^20-address bitmap); /30 leaves 2 usable addresses.
    if (prefix < 12 || prefix > 30)
      throw new Error(`invalid service CIDR ${cidr}: the prefix must be between /12 and /30`);
    this.size = 2 ** (32 - prefix);
    this.base = ipToInt(m[1]) - (ipToInt(m[1]) % this.size);
    this.cidr = `${intToIp(this.base)}/${prefix}`;
  }

  contains(ip: string): boolean {
    if (!isIPv4(ip)) return false;
    const n = ipToInt(ip);
    return n >= this.base && n < this.base + this.size;
  }

  /** Usable for a Service: in range, neither the network nor the broadcast address. */
  allocatable(ip: string): boolean {
    const n = ipToInt(ip);
    return this.contains(ip) && n !== this.base && n !== this.base + this.size - 1;
  }

  /** The first usable address, which the `default/kubernetes` Service takes (10.96.0.1). */
  get kubernetesServiceIP(): string {
    return intToIp(this.base + 1);
  }

  /**
   * The tenth address, which the `kube-system/kube-dns` Service takes (10.96.0.10, as kubeadm and K3s
   * set it), or undefined when the range is too small to spare it.
   */
  get kubeDnsServiceIP(): string | undefined {
    return this.size > 16 ? intToIp(this.base + 10) : undefined;
  }

  /** Addresses kept for the Services the control plane makes itself (never handed out dynamically). */
  private reserved(n: number): boolean {
    return n === this.base + 1 || (this.size > 16 && n === this.base + 10);
  }

  /** A random address for dynamic allocation: never the network, broadcast or a reserved address. */
  randomDynamic(): string {
    for (;;) {
      const n = this.base + 2 + Math.floor(Math.random() * (this.size - 3));
      if (!this.reserved(n)) return intToIp(n);
    }
  }

  /** Every dynamically allocatable address, in order (for the scan once random probing gives up). */
  *dynamic(): Generator<string> {
    for (let n = this.base + 2; n < this.base + this.size - 1; n++) if (!this.reserved(n)) yield intToIp(n);
  }
}

export class PortRange {
  readonly min: number;
  readonly max: number;

  constructor(range: string) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(range.trim());
    const min = m ? Number(m[1]) : NaN;
    const max = m ? Number(m[2] ?? m[1]) : NaN;
    if (!m || min < 1 || max > 65535 || min > max)
      throw new Error(`invalid node port range ${JSON.stringify(range)}: want MIN-MAX within 1-65535`);
    this.min = min;
    this.max = max;
  }

  contains(port: number): boolean {
    return Number.isInteger(port) && port >= this.min && port <= this.max;
  }

  get size(): number {
    return this.max - this.min + 1;
  }

  random(): number {
    return this.min + Math.floor(Math.random() * this.size);
  }

  toString(): string {
    return `${this.min}-${this.max}`;
  }
}
