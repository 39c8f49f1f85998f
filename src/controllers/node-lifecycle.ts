// Node lifecycle (minimal): a node whose agent stopped renewing its heartbeat Lease is marked
// Ready=Unknown, so the scheduler stops placing pods on it.
//
// Each agent renews a Lease named after its node in namespace `kube-node-lease` (spec.renewTime).
// Every `monitorPeriodMs` the controller compares the newest heartbeat — the lease's renewTime, or the
// node's creation time for a node that never had a lease — with the grace period (default 40 s, as
// kube-controller-manager's --node-monitor-grace-period). Past it, every node condition becomes Unknown
// (reason NodeStatusUnknown, or NodeStatusNeverUpdated when no lease ever appeared), written through the
// status subresource. The agent sets Ready=True again when it comes back. Times are compared on this
// controller's clock, so control plane and agents are assumed to keep NTP time. Evicting the pods of
// such a node comes later.
import { type Condition, kindFor } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ControllerOptions } from './deployment.ts';
import { type Log, defaultLog, errorCode, errorMessage } from './log.ts';
import { SharedInformers } from './shared-informers.ts';

const NODE = kindFor('v1', 'Node')!;
const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLifecycleOptions extends ControllerOptions {
  /** How long a node may go without renewing its lease before it is marked Unknown. Default 40 s. */
  gracePeriodMs?: number;
  /** How often nodes are checked. Default 5 s (kube-controller-manager's node-monitor-period). */
  monitorPeriodMs?: number;
}

function parseTime(t: unknown): number | undefined {
  if (typeof t !== 'string') return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

export class NodeLifecycleController {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly gracePeriodMs: number;
  private readonly monitorPeriodMs: number;
  private nodes!: Informer<any>;
  private leases!: Informer<any>;
  private timer?: ReturnType<typeof setInterval>;
  private running?: Promise<void>;
  private stopped = false;

  constructor(opts: NodeLifecycleOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.gracePeriodMs = opts.gracePeriodMs ?? 40_000;
    this.monitorPeriodMs = opts.monitorPeriodMs ?? 5_000;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new SharedInformers(opts.objects, { log: this.log });
  }

  async start(): Promise<void> {
    this.nodes = this.informers.informerFor(NODE);
    this.leases = this.informers.informerFor(LEASE, NODE_LEASE_NAMESPACE);
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    if (this.stopped) return;
    this.timer = setInterval(() => void this.monitor(), this.monitorPeriodMs);
    this.timer.unref?.();
    void this.monitor();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.ownInformers) this.informers.stop();
    await this.running;
  }

  /** One pass over all nodes (also run by the timer). Overlapping passes are skipped. */
  monitor(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.running) {
      this.running = this.monitorOnce().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async monitorOnce(): Promise<void> {
    const now = Date.now();
    for (const node of this.nodes.list()) {
      if (this.stopped) return;
      const name: string = node.metadata.name;
      const lease = this.leases.get(`${NODE_LEASE_NAMESPACE}/${name}`);
      const renewed = parseTime(lease?.spec?.renewTime) ?? parseTime(lease?.spec?.acquireTime);
      const last = renewed ?? parseTime(node.metadata.creationTimestamp) ?? now;
      if (now - last <= this.gracePeriodMs) continue;
      const ready = (node.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');
      if (ready?.status === 'Unknown') continue;
      await this.markUnknown(name, renewed === undefined);
    }
  }

  private async markUnknown(name: string, neverUpdated: boolean): Promise<void> {
    const reason = neverUpdated ? 'NodeStatusNeverUpdated' : 'NodeStatusUnknown';
    const message = neverUpdated
      ? 'Node agent never posted node status.'
      : 'Node agent stopped posting node status.';
    try {
      await this.objects.mutate(
        NODE,
        undefined,
        name,
        (node) => {
          const now = new Date().toISOString();
          const conditions: Condition[] = node.status?.conditions ?? [];
          if (conditions.find((c) => c.type === 'Ready')?.status === 'Unknown') return undefined;
          const next = conditions.map((c) =>
            c.status === 'Unknown'
              ? c
              : { ...c, status: 'Unknown' as const, reason, message, lastTransitionTime: now },
          );
          if (!next.some((c) => c.type === 'Ready')) {
            next.push({ type: 'Ready', status: 'Unknown', reason, message, lastTransitionTime: now });
          }
          node.status = { ...node.status, conditions: next };
          return node;
        },
        'status',
      );
      this.log.warn({ node: name, reason }, 'node-lifecycle: node lease expired; marked Ready=Unknown');
    } catch (err) {
      if (errorCode(err) === 404) return;
      this.log.warn({ node: name, err: errorMessage(err) }, 'node-lifecycle: failed to update node status');
    }
  }
}
