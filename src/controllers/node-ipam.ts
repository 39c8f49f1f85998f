// Node IPAM, as kube-controller-manager's node-ipam controller with its range allocator
// (--allocate-node-cidrs, --cluster-cidr, --node-cidr-mask-size): every Node without spec.podCIDR gets
// the lowest free block of the cluster's pod range; the block is free again once its Node is deleted.
// The agent's pod network takes its addresses from it, and every other node routes that block to the
// node over the overlay (src/net/overlay), so pod addresses are unique across the cluster.
//
// Decisions are serialized (one key at a time) and made from the Nodes the informer holds plus the
// blocks this controller handed out that the informer has not shown yet, so two Nodes registering at
// once never get the same block. The controller runs on the leader only (one allocator at a time); the
// write is a compare-and-swap on the Node's resourceVersion, so a Node changed meanwhile is retried.
// A podCIDR already set (by an operator, or by an earlier leader) is kept: Kubernetes never moves a
// node's range either, since running pods hold addresses from it.
import { kindFor } from '../api/index.ts';
import { allocateNodeCidr, formatCidr, parseCidr } from './node-ipam-range.ts';
import { errorCode, errorMessage } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';

const NODE = kindFor('v1', 'Node')!;
const COMPONENT = 'node-ipam-controller';

export interface NodeIpamOptions extends ControllerOptions {
  /** The cluster's pod range (--cluster-cidr), e.g. 10.42.0.0/16. */
  clusterCidr: string;
  /** The size of each node's block (--node-cidr-mask-size, default 24: 254 pods a node). */
  nodeMaskSize?: number;
}

export class NodeIpamController extends QueuedController {
  private readonly clusterCidr: string;
  private readonly maskSize: number;
  /** node name -> block handed out that the informer may not show yet. */
  private readonly handedOut = new Map<string, string>();

  constructor(opts: NodeIpamOptions) {
    // One key at a time: each decision must see the previous one.
    super({ ...opts, concurrency: 1 }, COMPONENT);
    this.clusterCidr = formatCidr(parseCidr(opts.clusterCidr));
    this.maskSize = opts.nodeMaskSize ?? 24;
    // Fails here, at start, on a mask that cannot cut the range (e.g. /16 blocks of a /20).
    allocateNodeCidr(this.clusterCidr, [], this.maskSize);
  }

  async start(): Promise<void> {
    const nodes = this.informers.informerFor(NODE);
    this.removeHandlers.push(
      nodes.addHandler({
        onAdd: (n) => this.queue.add(n.metadata.name),
        onUpdate: (_o, n) => !n.spec?.podCIDR && this.queue.add(n.metadata.name),
        onDelete: (n) => this.handedOut.delete(n.metadata.name),
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Key: a Node name. */
  protected async reconcile(name: string): Promise<void> {
    const node = await this.objects.get(NODE, undefined, name);
    if (!node || node.metadata.deletionTimestamp) return;
    if (node.spec?.podCIDR) {
      this.handedOut.delete(name);
      return;
    }
    const taken = new Set<string>(this.handedOut.values());
    for (const n of this.informers.informerFor(NODE).list())
      if (n.metadata.name !== name && n.spec?.podCIDR) taken.add(n.spec.podCIDR);
    const cidr = this.handedOut.get(name) ?? allocateNodeCidr(this.clusterCidr, taken, this.maskSize);
    if (!cidr) {
      this.recorder.warning(
        node,
        'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable (the cluster range ${this.clusterCidr} has no free /${this.maskSize} left)`,
      );
      return;
    }
    this.handedOut.set(name, cidr);
    try {
      await this.objects.update({ ...node, spec: { ...node.spec, podCIDR: cidr } });
      this.log.info({ node: name, podCIDR: cidr }, 'node-ipam: pod range assigned');
      this.recorder.normal(node, 'CIDRAssignment', `Node ${name} was assigned pod range ${cidr}`);
    } catch (err) {
      // 409: the Node changed meanwhile (its agent patched its labels): decide again from the fresh copy.
      // 404: gone, nothing to do.
      if (errorCode(err) === 404) {
        this.handedOut.delete(name);
        return;
      }
      if (errorCode(err) !== 409)
        this.log.warn({ node: name, err: errorMessage(err) }, 'node-ipam: assigning a pod range failed');
      throw err;
    }
  }
}
