// Pod traffic between nodes over VXLAN (flannel's vxlan backend, with iproute2): one VXLAN device per
// node; for every other node an all-zeros FDB entry (head-end replication to the peer's node address)
// and a route to the peer's pod range through the peer's device address (the first address of its range,
// set /32 on its device), on-link. ARP for that address floods to the peers and the peer's device
// answers it; the device learns the MAC → node mapping from then on. Driven by Node objects
// (status.addresses InternalIP + spec.podCIDR) through sync(): what is not wanted any more is removed.
import { CommandError, run } from '../../lib/command.ts';
import { intToIp, parseSubnet } from '../ipam.ts';

export interface OverlayPeer {
  /** The peer node's underlay address (its InternalIP). */
  nodeIP: string;
  /** The peer node's pod range (spec.podCIDR). */
  podCidr: string;
}

export interface VxlanOverlayOptions {
  /** This node's underlay address (VXLAN packets leave from it). */
  localIP: string;
  /** This node's pod range. */
  podCidr: string;
  device?: string;
  vni?: number;
  /** UDP port (default 8472, the Linux default flannel uses too). */
  port?: number;
  /** The underlay's MTU; the device gets 50 bytes less (VXLAN over IPv4). Default 1500. */
  underlayMtu?: number;
  /** Run inside this named network namespace (tests: each "host" is a netns). */
  netns?: string;
}

/** The address the node's VXLAN device carries: the first address of its pod range. */
export function deviceAddress(podCidr: string): string {
  return intToIp(parseSubnet(podCidr).network);
}

export class VxlanOverlay {
  readonly device: string;
  private readonly o: VxlanOverlayOptions;

  constructor(o: VxlanOverlayOptions) {
    this.o = o;
    this.device = o.device ?? 'strata.vxlan';
    if (this.device.length > 15) throw new Error(`VXLAN device name ${this.device}: at most 15 characters`);
    parseSubnet(o.podCidr);
  }

  private ip(args: string[]) {
    return run('ip', [...(this.o.netns ? ['-n', this.o.netns] : []), ...args]);
  }

  private bridge(args: string[]) {
    return run('bridge', [...(this.o.netns ? ['-netns', this.o.netns] : []), ...args]);
  }

  /** Creates the device (idempotent) with this node's address on it. */
  async up(): Promise<void> {
    try {
      await this.ip([
        'link',
        'add',
        this.device,
        'type',
        'vxlan',
        'id',
        String(this.o.vni ?? 1),
        'local',
        this.o.localIP,
        'dstport',
        String(this.o.port ?? 8472),
      ]);
    } catch (err) {
      if (!/File exists/.test((err as CommandError).stderr ?? '')) throw err;
    }
    await this.ip(['link', 'set', this.device, 'mtu', String((this.o.underlayMtu ?? 1500) - 50)]);
    try {
      await this.ip(['addr', 'add', `${deviceAddress(this.o.podCidr)}/32`, 'dev', this.device]);
    } catch (err) {
      if (!/File exists|already assigned/.test((err as CommandError).stderr ?? '')) throw err;
    }
    await this.ip(['link', 'set', this.device, 'up']);
  }

  /** Makes the FDB and routes match `peers` (this node itself is skipped). */
  async sync(peers: OverlayPeer[]): Promise<void> {
    const others = peers.filter((p) => p.nodeIP !== this.o.localIP);
    const wantFdb = new Set(others.map((p) => p.nodeIP));
    const wantRoutes = new Map(others.map((p) => [parseSubnet(p.podCidr).cidr, deviceAddress(p.podCidr)]));

    // Entries: "MAC dst IP …" — the all-zeros ones this sync adds, and MACs the device learned.
    const entries = (await this.bridge(['fdb', 'show', 'dev', this.device]))
      .split('\n')
      .map((l) => /^([0-9a-f:]{17}) dst (\d+\.\d+\.\d+\.\d+)/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ mac: m[1]!, dst: m[2]! }));
    const ZERO = '00:00:00:00:00:00';
    const haveFdb = new Set(entries.filter((e) => e.mac === ZERO).map((e) => e.dst));
    for (const ip of wantFdb)
      if (!haveFdb.has(ip)) await this.bridge(['fdb', 'append', ZERO, 'dev', this.device, 'dst', ip]);
    // A node gone: its flood entry and what was learned behind it.
    for (const e of entries)
      if (!wantFdb.has(e.dst)) await this.bridge(['fdb', 'del', e.mac, 'dev', this.device, 'dst', e.dst]);

    const routes = await this.ip(['-4', 'route', 'show', 'dev', this.device]);
    const haveRoutes = new Map<string, string>();
    for (const l of routes.split('\n')) {
      const m = /^(\d+\.\d+\.\d+\.\d+\/\d+) via (\S+)/.exec(l.trim());
      if (m) haveRoutes.set(m[1]!, m[2]!);
    }
    for (const [cidr, via] of wantRoutes)
      if (haveRoutes.get(cidr) !== via)
        await this.ip(['route', 'replace', cidr, 'via', via, 'dev', this.device, 'onlink']);
    for (const cidr of haveRoutes.keys())
      if (!wantRoutes.has(cidr)) await this.ip(['route', 'del', cidr, 'dev', this.device]);
  }

  /** Removes the device (its FDB entries and routes go with it). */
  async down(): Promise<void> {
    try {
      await this.ip(['link', 'del', this.device]);
    } catch (err) {
      if (!/Cannot find device/.test((err as CommandError).stderr ?? '')) throw err;
    }
  }
}
