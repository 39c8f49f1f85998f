// The node's side of pod traffic between nodes: follows the Nodes (an informer fed by the agent's API
// client) and keeps this node's VXLAN device (vxlan.ts) in step — a flood entry and a route for every
// other node's pod range (spec.podCIDR) through its InternalIP, removed when that Node is deleted —
// the way flannel's vxlan backend follows its subnet leases. Driven by a SyncLoop: bursts coalesce, a
// failed sync is retried, and a full sync now and then repairs what was changed behind its back.
//
// Pod to pod stays unNATed: the pod network masquerades what leaves its range for anywhere else, so a
// rule first in its POSTROUTING chain returns packets that leave through the VXLAN device (only peers'
// pod ranges are routed there): the remote pod sees the caller's own address, which NetworkPolicy and
// logs rely on, and answers it over the overlay.
//
// Stopping leaves the device, its routes and the rule (traffic keeps flowing while the agent restarts;
// the next start converges from them); `teardown` removes them, for a node going away for good.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Node } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { SyncLoop } from '../../lib/sync-loop.ts';
import { Iptables } from '../iptables.ts';
import { VxlanOverlay, type OverlayPeer } from './vxlan.ts';

export interface NodeOverlayOptions {
  /** This node's name (its own Node is not a peer). */
  nodeName: string;
  /** This node's underlay address: its InternalIP, where the other nodes send its pods' packets. */
  localIP: string;
  /** This node's pod range (its spec.podCIDR). */
  podCidr: string;
  /** The pod network's nat POSTROUTING chain (e.g. STRATA-POSTROUTING): overlay traffic is exempted from its NAT. */
  masqueradeChain?: string;
  /** The underlay's MTU (default: that of the interface holding localIP). */
  underlayMtu?: number;
  device?: string;
  log?: Log;
}

/** The peers Node objects describe: every other node with a pod range and an InternalIP off loopback. */
export function overlayPeers(nodes: readonly Node[], self: string): OverlayPeer[] {
  const peers: OverlayPeer[] = [];
  for (const n of nodes) {
    if (n.metadata?.name === self) continue;
    const podCidr = n.spec?.podCIDR;
    const nodeIP = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    // A node on 127.0.0.1 shares this machine's loopback: nothing to tunnel to.
    if (!podCidr || !nodeIP || nodeIP.startsWith('127.')) continue;
    peers.push({ nodeIP, podCidr });
  }
  return peers;
}

/** The MTU of the interface holding `ip` (1500 when it cannot be found). */
export function interfaceMtu(ip: string): number {
  try {
    const out = JSON.parse(
      execFileSync('ip', ['-j', '-4', 'addr', 'show', 'to', `${ip}/32`], { encoding: 'utf8' }),
    );
    const dev = (out as Array<{ ifname?: string }>).find((l) => l.ifname)?.ifname;
    if (dev) return Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim()) || 1500;
  } catch {
    // No such address, or no JSON support: the default.
  }
  return 1500;
}

export class NodeOverlay {
  readonly vxlan: VxlanOverlay;
  private readonly o: NodeOverlayOptions;
  private readonly log: Log;
  private readonly ipt = new Iptables();
  private readonly loop: SyncLoop<number>;
  private nodes?: Informer<Node>;

  constructor(o: NodeOverlayOptions) {
    this.o = o;
    this.log = o.log ?? defaultLog;
    this.vxlan = new VxlanOverlay({
      localIP: o.localIP,
      podCidr: o.podCidr,
      device: o.device,
      underlayMtu: o.underlayMtu ?? interfaceMtu(o.localIP),
    });
    this.loop = new SyncLoop({
      sync: () => this.syncNow(),
      fullSyncIntervalMs: 60_000,
      log: this.log,
      name: 'overlay',
    });
  }

  /** The MTU pods on this node must use so that their packets fit the tunnel. */
  get podMtu(): number {
    return (this.o.underlayMtu ?? interfaceMtu(this.o.localIP)) - 50;
  }

  /** The rule exempting pod-to-pod traffic over the overlay from the pod network's outbound NAT. */
  private exemptRule(): string[] {
    return ['-s', this.o.podCidr, '-o', this.vxlan.device, '-j', 'RETURN'];
  }

  /** Creates the device and the NAT exemption, then follows the Nodes; resolves after the first sync. */
  async start(nodes: ListWatch<Node>): Promise<void> {
    await this.vxlan.up();
    if (this.o.masqueradeChain) {
      await this.ipt.ensureChain('nat', this.o.masqueradeChain);
      // First in the chain, before its MASQUERADE rules (which the pod network appends).
      await this.ipt.ensureRule('nat', this.o.masqueradeChain, this.exemptRule(), true);
    }
    this.nodes = new Informer(nodes, {
      onError: (err, ctx) => this.log.warn({ err: errorMessage(err) }, `overlay: ${ctx}`),
    });
    this.nodes.addHandler({
      onAdd: () => this.loop.schedule(),
      onUpdate: () => this.loop.schedule(),
      onDelete: () => this.loop.schedule(),
    });
    this.nodes.start();
    if (!(await this.nodes.waitForSync())) return;
    this.loop.startFullSyncs();
    await this.syncNow();
  }

  /** Makes the device's peers those the Nodes describe now; returns how many there are. */
  async syncNow(): Promise<number> {
    const peers = overlayPeers(this.nodes?.list() ?? [], this.o.nodeName);
    await this.vxlan.sync(peers);
    return peers.length;
  }

  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    const stopped = this.loop.stop();
    this.nodes?.stop();
    await stopped;
    if (!opts.teardown) return;
    await this.vxlan.down();
    if (this.o.masqueradeChain)
      await this.ipt.deleteRule('nat', this.o.masqueradeChain, this.exemptRule()).catch(() => {});
  }
}
