// The scheduling loop: watch pods and nodes, take pending pods highest priority first (FIFO among
// equals), place each with the pure Placer against the incrementally kept NodeInfoCache, assume the
// placement at once (so the next pod sees it) and bind asynchronously. Pods that fit nowhere get
// PodScheduled=False with a Kubernetes-style explanation; if lower-priority pods stand in the way they
// are preempted (see preemption.ts): evicted gracefully, with the preemptor nominated to the node
// (status.nominatedNodeName) and room held for it there until they are gone. Unschedulable pods wait
// until a node or pod change (or the periodic retry) gives them another chance.
import { type Condition, getCondition, kindFor, setCondition } from '../api/index.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { type Log, defaultLog, errorCode, errorMessage } from '../lib/log.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import { NodeInfoCache, type PodInfo, podInfo, podKey } from './node-info.ts';
import { disruptionBudgets, hasTerminatingPods, planPreemption } from './preemption.ts';
import { type QueuedPod, SchedulingQueue } from './queue.ts';
import { defaultFilters } from './filters/index.ts';
import { VolumeBinding } from './volume-binding.ts';
import { isTerminated } from './resources.ts';
import { type PlacementResult, Placer, isPlaced } from './schedule.ts';
import type { Strategy } from './scores.ts';

const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;
const PDB = kindFor('policy/v1', 'PodDisruptionBudget')!;

export interface SchedulerOptions {
  objects: ObjectStore;
  /** 'spread' (default): least allocated node; 'binpack': most allocated node that fits. */
  strategy?: Strategy;
  /** See PlacementOptions.percentageOfNodesToScore (default adaptive, 100 = examine every node). */
  percentageOfNodesToScore?: number;
  /** Retry every unschedulable pod at least this often even without a cluster change. Default 30 s. */
  retryIntervalMs?: number;
  /** Per-pod retry backoff after a failed attempt: initial (default 1 s), doubling up to max (default 10 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Bindings in flight at once. Default 64. */
  maxConcurrentBinds?: number;
  /** Share informers with the controllers of the same process (the caller starts and stops them). */
  informers?: SharedInformers;
  log?: Log;
  /** Preempt lower-priority pods for pods that fit nowhere (default true). */
  preemption?: boolean;
  /**
   * Called when victims are chosen, before they are evicted (for Events: `Preempted` on each victim,
   * "by {preemptor} on node {node}"). Errors thrown are logged and ignored.
   */
  onPreempt?(preemptor: any, victims: any[], nodeName: string): void;
  /** Called after a pod is bound (for a `Scheduled` Event). */
  onScheduled?(pod: any, nodeName: string): void;
  /** Called when a pod's unschedulable message changes (for a `FailedScheduling` Event). */
  onFailedScheduling?(pod: any, message: string): void;
  /**
   * Called after each placement attempt with its result and how long choosing a node took (for
   * scheduler_schedule_attempts_total and scheduler_scheduling_attempt_duration_seconds).
   */
  onAttempt?(result: 'scheduled' | 'unschedulable', seconds: number): void;
}

export interface SchedulerStats {
  /** Pods bound by this scheduler. */
  scheduled: number;
  /** Placement attempts that found no node. */
  unschedulableAttempts: number;
  bindErrors: number;
  /** Pods waiting for their first (or next immediate) attempt. */
  pending: number;
  /** Pods that did not fit (or failed to bind), waiting for a cluster change, retry or backoff. */
  unschedulable: number;
  /** Bindings in flight. */
  binding: number;
  /** Preemptions decided, and the pods they evicted. */
  preemptions: number;
  victims: number;
}

/** Pods this scheduler should place: not bound, not being deleted, not finished. */
export function isPendingPod(pod: any): boolean {
  return !pod?.spec?.nodeName && !pod?.metadata?.deletionTimestamp && !isTerminated(pod) && !isGated(pod);
}

/** A pod with scheduling gates waits until every gate is removed (Kubernetes' PodSchedulingReadiness). */
export function isGated(pod: any): boolean {
  return !pod?.spec?.nodeName && (pod?.spec?.schedulingGates?.length ?? 0) > 0;
}

const rvNumber = (obj: any): number => Number(obj?.metadata?.resourceVersion ?? 0) || 0;

/** Pods placed per macrotask before yielding to I/O (informer events, binding results). */
const BATCH = 256;

export class Scheduler {
  readonly cache = new NodeInfoCache();
  private readonly objects: ObjectStore;
  private readonly placer: Placer;
  /** Claims and volumes: a filter plugin plus PreBind (see volume-binding.ts). */
  private readonly volumeBinding = new VolumeBinding();
  private readonly queue: SchedulingQueue;
  private readonly retryIntervalMs: number;
  private readonly maxBinds: number;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private podInformer?: Informer<any>;
  private nodeInformer?: Informer<any>;
  private pdbInformer?: Informer<any>;
  private readonly preemption: boolean;
  private readonly hooks: Pick<
    SchedulerOptions,
    'onPreempt' | 'onScheduled' | 'onFailedScheduling' | 'onAttempt'
  >;
  private preemptOffset = 0;
  private readonly removeHandlers: (() => void)[] = [];
  /** Pods being bound: key → queue entry (out of the queue meanwhile). */
  private readonly binding = new Map<string, QueuedPod>();
  /** Pods bound by us whose binding the informer has not shown yet: key → resourceVersion of the binding. */
  private readonly boundAt = new Map<string, number>();
  private readonly inflight = new Set<Promise<unknown>>();
  private retryTimer?: ReturnType<typeof setInterval>;
  private backoffTimer?: ReturnType<typeof setTimeout>;
  private backoffTimerAt = Infinity;
  private runScheduled = false;
  private started = false;
  private stopped = false;
  private readonly counters = {
    scheduled: 0,
    unschedulableAttempts: 0,
    bindErrors: 0,
    preemptions: 0,
    victims: 0,
  };

  constructor(opts: SchedulerOptions) {
    this.objects = opts.objects;
    this.placer = new Placer({
      strategy: opts.strategy,
      percentageOfNodesToScore: opts.percentageOfNodesToScore,
      filters: [...defaultFilters, this.volumeBinding.filter],
    });
    this.queue = new SchedulingQueue({
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
    });
    this.retryIntervalMs = opts.retryIntervalMs ?? 30_000;
    this.maxBinds = opts.maxConcurrentBinds ?? 64;
    this.log = opts.log ?? defaultLog;
    this.preemption = opts.preemption ?? true;
    this.hooks = {
      onPreempt: opts.onPreempt,
      onScheduled: opts.onScheduled,
      onFailedScheduling: opts.onFailedScheduling,
      onAttempt: opts.onAttempt,
    };
    this.ownInformers = !opts.informers;
    this.informers = opts.informers?.scoped() ?? new SharedInformers(opts.objects, { log: this.log });
  }

  /** Start watching and scheduling; resolves once the caches have synced and the first pass is queued. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.podInformer = this.informers.informerFor(POD);
    this.nodeInformer = this.informers.informerFor(NODE);
    if (this.preemption) this.pdbInformer = this.informers.informerFor(PDB);
    this.removeHandlers.push(
      this.nodeInformer.addHandler({
        onAdd: (n) => this.onNode(n),
        onUpdate: (_o, n) => this.onNode(n),
        onDelete: (n) => this.cache.removeNode(n.metadata.name),
      }),
      this.podInformer.addHandler({
        onAdd: (p) => this.onPod(p),
        onUpdate: (_o, p) => this.onPod(p),
        onDelete: (p) => this.onPodDeleted(p),
      }),
    );
    this.removeHandlers.push(...this.volumeBinding.start(this.informers, () => this.onClusterChange()));
    if (this.ownInformers) this.informers.start();
    const synced = await Promise.all([
      this.nodeInformer.waitForSync(),
      this.podInformer.waitForSync(),
      ...(this.pdbInformer ? [this.pdbInformer.waitForSync()] : []),
      this.volumeBinding.waitForSync().then((s) => s.every(Boolean)),
    ]);
    if (!synced.every(Boolean) || this.stopped) return;
    this.started = true;
    this.retryTimer = setInterval(() => this.onClusterChange(), this.retryIntervalMs);
    this.retryTimer.unref?.();
    this.kick();
  }

  /** Stop scheduling and wait for bindings and status writes in flight. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    if (this.retryTimer) clearInterval(this.retryTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  stats(): SchedulerStats {
    return {
      ...this.counters,
      pending: this.queue.activeCount,
      unschedulable: this.queue.unschedulableCount + this.queue.backoffCount,
      binding: this.binding.size,
    };
  }

  // ---- informer events -------------------------------------------------------------------------

  private onNode(node: any): void {
    if (this.cache.setNode(node)) this.onClusterChange();
  }

  private onPod(pod: any): void {
    const key = podKey(pod);
    const freed = this.cache.setPod(pod);
    if (pod.spec?.nodeName) this.boundAt.delete(key);
    if (isPendingPod(pod)) {
      const bound = this.boundAt.get(key);
      if (bound !== undefined && rvNumber(pod) < bound) {
        // A stale event from before our binding: nothing to do.
      } else if (this.binding.has(key)) {
        this.binding.get(key)!.pod = pod;
      } else {
        this.queue.addOrUpdate(key, pod);
        this.kick();
      }
    } else {
      this.queue.remove(key);
      if (isGated(pod) && !pod.metadata?.deletionTimestamp) {
        this.track(
          this.writeCondition(
            pod.metadata.namespace,
            pod.metadata.name,
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'SchedulingGated',
              message: 'Scheduling is blocked due to non-empty scheduling gates',
            },
            false,
          ),
        );
      }
    }
    if (freed) this.onClusterChange();
  }

  private onPodDeleted(pod: any): void {
    const key = podKey(pod);
    this.queue.remove(key);
    this.boundAt.delete(key);
    if (this.cache.removePod(key)) this.onClusterChange();
  }

  /** Something that may let unschedulable pods fit happened (or the periodic retry fired). */
  private onClusterChange(): void {
    if (this.stopped) return;
    if (this.queue.moveAllUnschedulable() > 0) this.armBackoffTimer();
    this.kick();
  }

  private armBackoffTimer(): void {
    const next = this.queue.flushBackoff();
    if (this.queue.activeCount > 0) this.kick();
    if (next === undefined || this.stopped) return;
    const at = Date.now() + next;
    if (this.backoffTimer && this.backoffTimerAt <= at) return;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimerAt = at;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.backoffTimerAt = Infinity;
      this.armBackoffTimer();
    }, next + 1);
    this.backoffTimer.unref?.();
  }

  // ---- the loop --------------------------------------------------------------------------------

  private kick(): void {
    if (this.runScheduled || !this.started || this.stopped) return;
    this.runScheduled = true;
    setImmediate(() => {
      this.runScheduled = false;
      this.runBatch();
    });
  }

  private runBatch(): void {
    for (let n = 0; n < BATCH && !this.stopped && this.binding.size < this.maxBinds; n++) {
      const entry = this.queue.pop();
      if (!entry) return;
      this.scheduleOne(entry);
    }
    if (this.queue.activeCount > 0 && this.binding.size < this.maxBinds) this.kick();
  }

  private scheduleOne(entry: QueuedPod): void {
    const pod = entry.pod;
    if (!isPendingPod(pod)) return;
    const info = podInfo(pod);
    const t0 = performance.now();
    const result = this.tryNominatedNode(info) ?? this.placer.place(info, this.cache.nodes(), this.cache);
    entry.lastAttemptAt = Date.now();
    this.hooks.onAttempt?.(isPlaced(result) ? 'scheduled' : 'unschedulable', (performance.now() - t0) / 1000);
    if (isPlaced(result)) {
      this.cache.assume(info, result.node);
      this.binding.set(entry.key, entry);
      this.track(
        this.bind(entry, result.node).finally(() => {
          this.binding.delete(entry.key);
          this.kick();
        }),
      );
      return;
    }
    entry.attempts++;
    this.counters.unschedulableAttempts++;
    this.queue.requeue(entry, 'unschedulable');
    const nominated = this.preemption ? this.preempt(entry, info) : undefined;
    this.reportUnschedulable(entry, result.message, nominated);
  }

  /** A preemptor goes to the node it was nominated to once it fits there. */
  private tryNominatedNode(info: PodInfo): PlacementResult | undefined {
    const nodeName = this.cache.nominatedNode(info.key);
    const node = nodeName === undefined ? undefined : this.cache.get(nodeName);
    if (!node?.node) return undefined;
    const cycle = this.placer.prepare(info, this.cache.nodes(), this.cache);
    return this.placer.check(info, node, cycle) === undefined ? { node: node.name } : undefined;
  }

  /**
   * Make room for a pod that fits nowhere by evicting lower-priority pods. Returns the node the pod is
   * nominated to (already, or now), if any.
   */
  private preempt(entry: QueuedPod, info: PodInfo): string | undefined {
    if (!info.canPreempt) return undefined;
    const current = this.cache.nominatedNode(entry.key);
    // Victims chosen earlier are still terminating: wait for them rather than evict more.
    if (current !== undefined && hasTerminatingPods(this.cache.get(current))) return current;
    const plan = planPreemption(info, this.cache, this.placer, {
      budgets: disruptionBudgets(this.pdbInformer?.list() ?? []),
      offset: this.preemptOffset++,
    });
    if (!plan) return undefined;
    this.cache.nominate(info, plan.node);
    if (plan.victims.length === 0) return plan.node;
    this.counters.preemptions++;
    this.counters.victims += plan.victims.length;
    this.log.info(
      {
        pod: entry.key,
        priority: info.priority,
        node: plan.node,
        victims: plan.victims.map((v) => `${v.key} (priority ${v.priority})`),
        pdbViolations: plan.pdbViolations,
      },
      'scheduler: preempting lower-priority pods',
    );
    try {
      this.hooks.onPreempt?.(
        entry.pod,
        plan.victims.map((v) => v.pod),
        plan.node,
      );
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'scheduler: onPreempt hook failed');
    }
    for (const v of plan.victims) {
      // Counted as leaving at once, so the next attempt waits for it instead of choosing more victims.
      v.terminating = true;
      this.track(this.evict(v, entry.key));
    }
    return plan.node;
  }

  /** Mark the victim DisruptionTarget (as Kubernetes does) and delete it gracefully. */
  private async evict(victim: PodInfo, preemptorKey: string): Promise<void> {
    const { namespace, name, uid } = victim.pod.metadata;
    try {
      await this.objects.mutate(
        POD,
        namespace,
        name,
        (p) => {
          if (p.metadata.uid !== uid) return undefined;
          p.status ??= {};
          p.status.conditions = setCondition(p.status.conditions, {
            type: 'DisruptionTarget',
            status: 'True',
            reason: 'PreemptionByScheduler',
            message: `${preemptorKey}: preempting to accommodate a higher priority pod`,
          });
          return p;
        },
        'status',
      );
      await this.objects.delete(POD, namespace, name, { preconditions: { uid } });
    } catch (err) {
      if (errorCode(err) === 404) return;
      victim.terminating = false;
      this.log.warn(
        { pod: victim.key, err: errorMessage(err) },
        'scheduler: evicting a preemption victim failed',
      );
    }
  }

  private async bind(entry: QueuedPod, nodeName: string): Promise<void> {
    const { namespace, name } = entry.pod.metadata;
    let bound: any;
    try {
      await this.volumeBinding.preBind(this.objects, entry.pod, nodeName);
      bound = await this.objects.bind(namespace, name, nodeName);
    } catch (err) {
      this.cache.forget(entry.key);
      this.counters.bindErrors++;
      const code = errorCode(err);
      if (code === 404) return; // the pod is gone
      if (code === 409) {
        // Bound elsewhere, being deleted, or modified under us: decide from the current object.
        const current = await this.objects.get(POD, namespace, name).catch(() => undefined);
        if (current && isPendingPod(current) && !this.stopped) {
          entry.pod = current;
          this.queue.requeue(entry, 'active');
        }
        return;
      }
      this.log.warn({ pod: entry.key, node: nodeName, err: errorMessage(err) }, 'scheduler: binding failed');
      if (this.stopped) return;
      entry.attempts++;
      this.queue.requeue(entry, 'backoff');
      this.armBackoffTimer();
      return;
    }
    this.counters.scheduled++;
    this.boundAt.set(entry.key, rvNumber(bound));
    this.log.debug({ pod: entry.key, node: nodeName }, 'scheduler: bound');
    if (this.hooks.onScheduled)
      try {
        this.hooks.onScheduled(bound, nodeName);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'scheduler: onScheduled hook failed');
      }
    if (getCondition(bound.status?.conditions, 'PodScheduled')?.status === 'True') return;
    await this.writeCondition(namespace, name, { type: 'PodScheduled', status: 'True' }, false);
  }

  private reportUnschedulable(entry: QueuedPod, message: string, nominated?: string): void {
    const nominationChanged = nominated !== undefined && entry.pod.status?.nominatedNodeName !== nominated;
    if (entry.lastMessage === message && !nominationChanged) return;
    const current = getCondition(entry.pod.status?.conditions, 'PodScheduled');
    const sameCondition =
      current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message;
    if (entry.lastMessage !== message) {
      entry.lastMessage = message;
      if (!sameCondition) {
        this.log.info({ pod: entry.key, message }, 'scheduler: pod unschedulable');
        if (this.hooks.onFailedScheduling)
          try {
            this.hooks.onFailedScheduling(entry.pod, message);
          } catch (err) {
            this.log.warn({ err: errorMessage(err) }, 'scheduler: onFailedScheduling hook failed');
          }
      }
    }
    if (sameCondition && !nominationChanged) return;
    const { namespace, name } = entry.pod.metadata;
    this.track(
      this.writeCondition(
        namespace,
        name,
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message },
        true,
        nominated,
      ),
    );
  }

  /** Set the PodScheduled condition (and nominatedNodeName) through the status subresource, skipping no-op writes. */
  private async writeCondition(
    namespace: string,
    name: string,
    cond: Condition,
    onlyIfPending: boolean,
    nominatedNodeName?: string,
  ): Promise<void> {
    try {
      await this.objects.mutate(
        POD,
        namespace,
        name,
        (pod) => {
          if (onlyIfPending && !isPendingPod(pod)) return undefined;
          const prev = getCondition(pod.status?.conditions, cond.type);
          const sameNomination =
            nominatedNodeName === undefined || pod.status?.nominatedNodeName === nominatedNodeName;
          if (
            prev &&
            prev.status === cond.status &&
            prev.reason === cond.reason &&
            prev.message === cond.message &&
            sameNomination
          )
            return undefined;
          pod.status ??= {};
          pod.status.phase ??= 'Pending';
          if (nominatedNodeName !== undefined) pod.status.nominatedNodeName = nominatedNodeName;
          pod.status.conditions = setCondition(pod.status.conditions, { ...cond, lastProbeTime: null });
          return pod;
        },
        'status',
      );
    } catch (err) {
      if (errorCode(err) === 404) return;
      this.log.warn(
        { pod: `${namespace}/${name}`, err: errorMessage(err) },
        'scheduler: status update failed',
      );
    }
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}
