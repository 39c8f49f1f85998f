// The scheduling loop: watch pods and nodes, take pending pods in FIFO order, place each with the pure
// Placer against the incrementally kept NodeInfoCache, assume the placement at once (so the next pod
// sees it) and bind asynchronously. Pods that fit nowhere get PodScheduled=False with a Kubernetes-style
// explanation and wait until a node or pod change (or the periodic retry) gives them another chance.
import { type Condition, getCondition, kindFor, setCondition } from '../api/index.ts';
import { SharedInformers } from '../controllers/shared-informers.ts';
import { type Log, defaultLog, errorCode, errorMessage } from '../controllers/log.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import { NodeInfoCache, podInfo, podKey } from './node-info.ts';
import { type QueuedPod, SchedulingQueue } from './queue.ts';
import { isTerminated } from './resources.ts';
import { Placer, isPlaced } from './schedule.ts';
import type { Strategy } from './scores.ts';

const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;

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
}

/** Pods this scheduler should place: not bound, not being deleted, not finished. */
export function isPendingPod(pod: any): boolean {
  return !pod?.spec?.nodeName && !pod?.metadata?.deletionTimestamp && !isTerminated(pod);
}

const rvNumber = (obj: any): number => Number(obj?.metadata?.resourceVersion ?? 0) || 0;

/** Pods placed per macrotask before yielding to I/O (informer events, binding results). */
const BATCH = 256;

export class Scheduler {
  readonly cache = new NodeInfoCache();
  private readonly objects: ObjectStore;
  private readonly placer: Placer;
  private readonly queue: SchedulingQueue;
  private readonly retryIntervalMs: number;
  private readonly maxBinds: number;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private podInformer?: Informer<any>;
  private nodeInformer?: Informer<any>;
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
  private readonly counters = { scheduled: 0, unschedulableAttempts: 0, bindErrors: 0 };

  constructor(opts: SchedulerOptions) {
    this.objects = opts.objects;
    this.placer = new Placer({
      strategy: opts.strategy,
      percentageOfNodesToScore: opts.percentageOfNodesToScore,
    });
    this.queue = new SchedulingQueue({
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
    });
    this.retryIntervalMs = opts.retryIntervalMs ?? 30_000;
    this.maxBinds = opts.maxConcurrentBinds ?? 64;
    this.log = opts.log ?? defaultLog;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new SharedInformers(opts.objects, { log: this.log });
  }

  /** Start watching and scheduling; resolves once the caches have synced and the first pass is queued. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.podInformer = this.informers.informerFor(POD);
    this.nodeInformer = this.informers.informerFor(NODE);
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
    if (this.ownInformers) this.informers.start();
    const synced = await Promise.all([this.nodeInformer.waitForSync(), this.podInformer.waitForSync()]);
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
    const result = this.placer.place(info, this.cache.nodes());
    entry.lastAttemptAt = Date.now();
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
    this.reportUnschedulable(entry, result.message);
  }

  private async bind(entry: QueuedPod, nodeName: string): Promise<void> {
    const { namespace, name } = entry.pod.metadata;
    let bound: any;
    try {
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
    if (getCondition(bound.status?.conditions, 'PodScheduled')?.status === 'True') return;
    await this.writeCondition(namespace, name, { type: 'PodScheduled', status: 'True' }, false);
  }

  private reportUnschedulable(entry: QueuedPod, message: string): void {
    if (entry.lastMessage === message) return;
    const current = getCondition(entry.pod.status?.conditions, 'PodScheduled');
    entry.lastMessage = message;
    if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message)
      return;
    this.log.info({ pod: entry.key, message }, 'scheduler: pod unschedulable');
    const { namespace, name } = entry.pod.metadata;
    this.track(
      this.writeCondition(
        namespace,
        name,
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message },
        true,
      ),
    );
  }

  /** Set the PodScheduled condition through the status subresource, skipping no-op writes. */
  private async writeCondition(
    namespace: string,
    name: string,
    cond: Condition,
    onlyIfPending: boolean,
  ): Promise<void> {
    try {
      await this.objects.mutate(
        POD,
        namespace,
        name,
        (pod) => {
          if (onlyIfPending && !isPendingPod(pod)) return undefined;
          const prev = getCondition(pod.status?.conditions, cond.type);
          if (
            prev &&
            prev.status === cond.status &&
            prev.reason === cond.reason &&
            prev.message === cond.message
          )
            return undefined;
          pod.status ??= {};
          pod.status.phase ??= 'Pending';
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
