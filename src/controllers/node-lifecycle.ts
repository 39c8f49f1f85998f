// Node lifecycle: notices nodes whose agent went away, taints them, and moves their pods elsewhere.
//
// Heartbeats. Each agent renews a Lease named after its node in namespace `kube-node-lease`
// (spec.renewTime). Every `monitorPeriodMs` the controller compares the newest heartbeat — the lease's
// renewTime, or the node's creation time for a node that never had a lease — with the grace period
// (default 40 s, as kube-controller-manager's --node-monitor-grace-period). Past it, every node condition
// becomes Unknown (reason NodeStatusUnknown, or NodeStatusNeverUpdated when no lease ever appeared),
// written through the status subresource. The agent sets Ready=True again when it comes back. Times are
// compared on this controller's clock, so control plane and agents are assumed to keep NTP time.
//
// Taints. A node whose Ready condition is Unknown gets taint `node.kubernetes.io/unreachable:NoExecute`,
// one whose Ready is False (the agent says so) `node.kubernetes.io/not-ready:NoExecute`, with timeAdded;
// they are removed when the node is Ready again. Its pods get condition Ready=False (reason NodeNotReady),
// so Services and Deployments stop counting them at once.
//
// Eviction (Kubernetes' NoExecute taint manager, with DefaultTolerationSeconds built in). For every pod
// bound to a node with NoExecute taints: a taint the pod tolerates without tolerationSeconds never evicts
// it; with tolerationSeconds it evicts it that long after the taint was added; an untolerated not-ready /
// unreachable taint evicts it after `podEvictionTimeoutMs` (default 300 s, what the admission plugin's
// default tolerations give in Kubernetes); any other untolerated NoExecute taint evicts it at once.
// Eviction deletes the pod — with grace 0 on an unreachable node, whose agent cannot finish a graceful
// deletion — so its Deployment or Job replaces it elsewhere. Should the node come back, its agent finds
// the pod gone and stops it. As a guard against the control plane losing sight of every node at once, no
// pod is evicted while no node at all is Ready (Kubernetes' "full disruption" mode).
//
// Events: NodeNotReady / NodeReady on the node, NodeNotReady on its pods, TaintManagerEviction on evicted pods.
import { type Condition, getCondition, kindFor, isReady } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { EventRecorder } from './events.ts';
import { type Log, defaultLog, errorCode, errorMessage } from '../lib/log.ts';
import { type ControllerOptions, recorderFor } from './options.ts';
import {
  TAINT_NODE_NOT_READY,
  TAINT_NODE_UNREACHABLE,
  type Taint,
  type Toleration,
  nodeReadyStatus,
  nodeTaints,
  toleratesTaint,
} from './placement.ts';
import { isFinished, objectKeyOf } from './pods.ts';
import { SharedInformers } from '../store/shared-informers.ts';

const NODE = kindFor('v1', 'Node')!;
const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;
const POD = kindFor('v1', 'Pod')!;

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const COMPONENT = 'node-controller';
const CONDITION_TAINTS = [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE];

export interface NodeLifecycleOptions extends ControllerOptions {
  /** How long a node may go without renewing its lease before it is marked Unknown. Default 40 s. */
  gracePeriodMs?: number;
  /** How often nodes are checked. Default 5 s (kube-controller-manager's node-monitor-period). */
  monitorPeriodMs?: number;
  /** How long pods stay on a not-ready / unreachable node unless they tolerate it. Default 300 s. */
  podEvictionTimeoutMs?: number;
}

function parseTime(t: unknown): number | undefined {
  if (typeof t !== 'string') return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * When a pod on a node with these taints must be evicted: undefined for never, else the time in ms.
 * `addedAt` gives each taint's time added; `defaultTolerationMs` applies to untolerated not-ready /
 * unreachable taints.
 */
export function evictionTime(
  taints: readonly Taint[],
  tolerations: readonly Toleration[] | undefined,
  addedAt: (taint: Taint) => number,
  defaultTolerationMs: number,
): number | undefined {
  let at: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const matching = (tolerations ?? []).filter((t) => toleratesTaint(t, taint));
    let due: number | undefined;
    if (matching.length === 0) {
      due = addedAt(taint) + (CONDITION_TAINTS.includes(taint.key) ? defaultTolerationMs : 0);
    } else if (matching.every((t) => t.tolerationSeconds !== undefined)) {
      const seconds = Math.min(...matching.map((t) => Math.max(0, t.tolerationSeconds!)));
      due = addedAt(taint) + seconds * 1000;
    }
    if (due !== undefined) at = Math.min(at ?? Infinity, due);
  }
  return at;
}

export class NodeLifecycleController {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly recorder: EventRecorder;
  private readonly ownRecorder: boolean;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly gracePeriodMs: number;
  private readonly monitorPeriodMs: number;
  private readonly podEvictionTimeoutMs: number;
  private nodes!: Informer<any>;
  private leases!: Informer<any>;
  /** nodeName → (pod key → pod), for the pods bound to each node. */
  private readonly podsByNode = new Map<string, Map<string, any>>();
  /** When a taint without timeAdded was first seen (`node\0key`). */
  private readonly firstSeen = new Map<string, number>();
  private readonly removeHandlers: (() => void)[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private wakeup?: { at: number; timer: ReturnType<typeof setTimeout> };
  private running?: Promise<void>;
  private rerun = false;
  private stopped = false;

  constructor(opts: NodeLifecycleOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    ({ recorder: this.recorder, owned: this.ownRecorder } = recorderFor(opts, COMPONENT));
    this.gracePeriodMs = opts.gracePeriodMs ?? 40_000;
    this.monitorPeriodMs = opts.monitorPeriodMs ?? 5_000;
    this.podEvictionTimeoutMs = opts.podEvictionTimeoutMs ?? 300_000;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers?.scoped() ?? new SharedInformers(opts.objects, { log: this.log });
  }

  async start(): Promise<void> {
    this.nodes = this.informers.informerFor(NODE);
    this.leases = this.informers.informerFor(LEASE, NODE_LEASE_NAMESPACE);
    const pods = this.informers.informerFor(POD);
    this.removeHandlers.push(
      pods.addHandler({
        onAdd: (p) => this.indexPod(undefined, p),
        onUpdate: (old, p) => this.indexPod(old, p),
        onDelete: (p) => this.indexPod(p, undefined),
      }),
      this.nodes.addHandler({
        // A node's Ready condition changed (the agent reported, or we marked it): act now, not next period.
        onUpdate: (old, node) => {
          if (nodeReadyStatus(old) !== nodeReadyStatus(node)) void this.monitor();
        },
        onDelete: (node) => {
          for (const key of this.firstSeen.keys())
            if (key.startsWith(`${node.metadata.name}\u0000`)) this.firstSeen.delete(key);
        },
      }),
    );
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
    if (this.wakeup) clearTimeout(this.wakeup.timer);
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.running;
    if (this.ownRecorder) await this.recorder.flush();
  }

  /**
   * One pass over all nodes (also run by the timer and on Ready changes). A call during a pass makes
   * another pass follow it; the promise resolves when they are done.
   */
  monitor(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.rerun = false;
        await this.monitorOnce().catch((err) =>
          this.log.warn({ err: errorMessage(err) }, 'node-lifecycle: pass failed'),
        );
      } while (this.rerun && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private indexPod(old: any, pod: any): void {
    const oldNode: string | undefined = old?.spec?.nodeName;
    const newNode: string | undefined = pod?.spec?.nodeName;
    if (oldNode && oldNode !== newNode) {
      const m = this.podsByNode.get(oldNode);
      m?.delete(objectKeyOf(old));
      if (m && m.size === 0) this.podsByNode.delete(oldNode);
    }
    if (newNode) {
      let m = this.podsByNode.get(newNode);
      if (!m) this.podsByNode.set(newNode, (m = new Map()));
      m.set(objectKeyOf(pod), pod);
    }
  }

  private async monitorOnce(): Promise<void> {
    const now = Date.now();
    const nodes: any[] = [];
    for (let node of this.nodes.list()) {
      if (this.stopped) return;
      const name: string = node.metadata.name;
      const lease = this.leases.get(`${NODE_LEASE_NAMESPACE}/${name}`);
      const renewed = parseTime(lease?.spec?.renewTime) ?? parseTime(lease?.spec?.acquireTime);
      const last = renewed ?? parseTime(node.metadata.creationTimestamp) ?? now;
      const ready = getCondition(node.status?.conditions, 'Ready');
      if (now - last > this.gracePeriodMs && ready?.status !== 'Unknown') {
        node = (await this.markUnknown(name, renewed === undefined)) ?? node;
      }
      node = (await this.syncTaints(node)) ?? node;
      nodes.push(node);
    }
    const anyReady = nodes.some((n) => nodeReadyStatus(n) === 'True');
    let nextDue: number | undefined;
    for (const node of nodes) {
      if (this.stopped) return;
      if (nodeReadyStatus(node) !== 'True') await this.markPodsNotReady(node);
      const due = await this.evictPods(node, now, anyReady);
      if (due !== undefined) nextDue = Math.min(nextDue ?? Infinity, due);
    }
    this.scheduleWakeup(nextDue, now);
  }

  /** Run another pass when the next eviction is due, if that is before the next periodic pass. */
  private scheduleWakeup(at: number | undefined, now: number): void {
    if (at === undefined || this.stopped) return;
    if (at - now >= this.monitorPeriodMs) return;
    if (this.wakeup && this.wakeup.at <= at) return;
    if (this.wakeup) clearTimeout(this.wakeup.timer);
    const timer = setTimeout(
      () => {
        this.wakeup = undefined;
        void this.monitor();
      },
      Math.max(0, at - now) + 20,
    );
    timer.unref?.();
    this.wakeup = { at, timer };
  }

  private async markUnknown(name: string, neverUpdated: boolean): Promise<any | undefined> {
    const reason = neverUpdated ? 'NodeStatusNeverUpdated' : 'NodeStatusUnknown';
    const message = neverUpdated
      ? 'Node agent never posted node status.'
      : 'Node agent stopped posting node status.';
    try {
      const updated = await this.objects.mutate(
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
      return updated;
    } catch (err) {
      if (errorCode(err) === 404) return undefined;
      this.log.warn({ node: name, err: errorMessage(err) }, 'node-lifecycle: failed to update node status');
      return undefined;
    }
  }

  /** Put the not-ready / unreachable NoExecute taint matching the Ready condition on the node (or none). */
  private async syncTaints(node: any): Promise<any | undefined> {
    const ready = nodeReadyStatus(node);
    const wanted =
      ready === 'Unknown' ? TAINT_NODE_UNREACHABLE : ready === 'False' ? TAINT_NODE_NOT_READY : undefined;
    const ours = (t: Taint) => CONDITION_TAINTS.includes(t.key) && t.effect === 'NoExecute';
    const current = nodeTaints(node).filter(ours);
    if (current.length === (wanted ? 1 : 0) && (!wanted || current[0].key === wanted)) return undefined;
    const name: string = node.metadata.name;
    try {
      const updated = await this.objects.mutate(NODE, undefined, name, (n) => {
        const taints: Taint[] = (n.spec?.taints ?? []).filter((t: Taint) => !ours(t) || t.key === wanted);
        if (wanted && !taints.some((t) => t.key === wanted && t.effect === 'NoExecute')) {
          taints.push({
            key: wanted,
            effect: 'NoExecute',
            timeAdded: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          });
        }
        const before = JSON.stringify(n.spec?.taints ?? []);
        if (JSON.stringify(taints) === before) return undefined;
        n.spec = { ...n.spec, taints };
        if (taints.length === 0) delete n.spec.taints;
        return n;
      });
      if (wanted) {
        this.recorder.normal(node, 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
        this.log.warn({ node: name, taint: wanted }, 'node-lifecycle: node not ready; tainted NoExecute');
      } else {
        this.recorder.normal(node, 'NodeReady', `Node ${name} status is now: NodeReady`);
        this.log.info({ node: name }, 'node-lifecycle: node ready again; NoExecute taint removed');
      }
      return updated;
    } catch (err) {
      if (errorCode(err) !== 404) {
        this.log.warn({ node: name, err: errorMessage(err) }, 'node-lifecycle: failed to update node taints');
      }
      return undefined;
    }
  }

  /** Pods on a node that is not ready are not ready either (the agent cannot tell). */
  private async markPodsNotReady(node: any): Promise<void> {
    const name: string = node.metadata.name;
    for (const pod of this.podsByNode.get(name)?.values() ?? []) {
      if (this.stopped) return;
      if (isFinished(pod) || !isReady(pod)) continue;
      try {
        await this.objects.mutate(
          POD,
          pod.metadata.namespace,
          pod.metadata.name,
          (p) => {
            if (p.metadata.uid !== pod.metadata.uid || p.spec.nodeName !== name) return undefined;
            const now = new Date().toISOString();
            const conditions: Condition[] = p.status?.conditions ?? [];
            if (!conditions.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
            p.status = {
              ...p.status,
              conditions: conditions.map((c) =>
                c.type === 'Ready' || c.type === 'ContainersReady'
                  ? {
                      ...c,
                      status: 'False',
                      reason: 'NodeNotReady',
                      message: `Node ${name} is not ready`,
                      lastTransitionTime: now,
                    }
                  : c,
              ),
            };
            return p;
          },
          'status',
        );
        this.recorder.warning(pod, 'NodeNotReady', 'Node is not ready');
      } catch (err) {
        if (errorCode(err) !== 404) {
          this.log.warn(
            { pod: objectKeyOf(pod), err: errorMessage(err) },
            'node-lifecycle: failed to mark pod not ready',
          );
        }
      }
    }
  }

  /** Evict the pods whose time on this node's NoExecute taints is up; returns when the next one is due. */
  private async evictPods(node: any, now: number, anyReady: boolean): Promise<number | undefined> {
    const name: string = node.metadata.name;
    const taints = nodeTaints(node).filter((t) => t.effect === 'NoExecute');
    if (taints.length === 0) return undefined;
    const addedAt = (t: Taint) => {
      const at = parseTime(t.timeAdded);
      if (at !== undefined) return at;
      const id = `${name}\u0000${t.key}`;
      if (!this.firstSeen.has(id)) this.firstSeen.set(id, now);
      return this.firstSeen.get(id)!;
    };
    const unreachable = taints.some((t) => t.key === TAINT_NODE_UNREACHABLE);
    let nextDue: number | undefined;
    for (const pod of [...(this.podsByNode.get(name)?.values() ?? [])]) {
      if (this.stopped) return undefined;
      if (isFinished(pod)) continue;
      // Already being deleted: on an unreachable node no agent will finish that, so once its grace
      // period (or its time on the node) is up, we do.
      const deleting = !!pod.metadata.deletionTimestamp;
      if (deleting && !unreachable) continue;
      let due = evictionTime(taints, pod.spec?.tolerations, addedAt, this.podEvictionTimeoutMs);
      if (deleting) {
        const graceEnds =
          (parseTime(pod.metadata.deletionTimestamp) ?? now) +
          (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
        due = Math.min(due ?? Infinity, graceEnds);
      }
      if (due === undefined) continue;
      if (due > now) {
        nextDue = Math.min(nextDue ?? Infinity, due);
        continue;
      }
      if (!anyReady) {
        this.log.warn({ node: name }, 'node-lifecycle: no node is ready; not evicting (full disruption)');
        return undefined;
      }
      try {
        await this.objects.delete(POD, pod.metadata.namespace, pod.metadata.name, {
          preconditions: { uid: pod.metadata.uid },
          ...(unreachable ? { gracePeriodSeconds: 0 } : {}),
        });
        if (!deleting) {
          this.recorder.normal(
            pod,
            'TaintManagerEviction',
            `Marking for deletion Pod ${pod.metadata.namespace}/${pod.metadata.name}`,
          );
          this.log.info(
            { pod: objectKeyOf(pod), node: name },
            'node-lifecycle: evicted pod from tainted node',
          );
        }
      } catch (err) {
        const code = errorCode(err);
        if (code !== 404 && code !== 409) {
          this.log.warn(
            { pod: objectKeyOf(pod), err: errorMessage(err) },
            'node-lifecycle: failed to evict pod',
          );
        }
      }
    }
    return nextDue;
  }
}
