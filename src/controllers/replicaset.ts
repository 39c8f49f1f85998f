// ReplicaSet controller, as kube-controller-manager's: keeps `spec.replicas` pods of the template.
//
// - Ownership: a ReplicaSet's pods are the active pods (not finished, not being deleted) it controls
//   (controller ownerReference) and its selector matches; orphans its selector matches are adopted and
//   pods it controls that no longer match are released (claim.ts). Pods controlled by anyone else are
//   never counted.
// - Too few pods: create them from the template (name `<replicaset>-<random>`, the template's labels
//   and annotations, a controller reference), in batches of 1, 2, 4, ... that stop at the first failure,
//   at most 500 per sync; too many: delete the best victims first (unscheduled, pending, not ready,
//   newest — deletionOrder in pods.ts).
// - Expectations (expectations.ts): after creating or deleting, the controller waits until its pod
//   cache has seen those changes before it counts again, so a lagging cache never makes it create or
//   delete twice. Likewise, while pods its selector matches are still controlled by the ReplicaSet's
//   own Deployment — a data dir of an earlier Strata being upgraded hands them over
//   (deployment-upgrade.ts), and the cache may show that late — it neither creates nor deletes.
// - Status: replicas, fullyLabeledReplicas (pods carrying every template label), readyReplicas,
//   availableReplicas (Ready for minReadySeconds; the controller re-checks by itself when a pod is due
//   to become available), observedGeneration, and a ReplicaFailure condition (FailedCreate /
//   FailedDelete) while creating or deleting fails.
// Events on the ReplicaSet: SuccessfulCreate, SuccessfulDelete, FailedCreate.
import { isDeepStrictEqual } from 'node:util';
import {
  type Condition,
  getCondition,
  kindFor,
  labelSelectorMatcher,
  isDeleting,
  isReady,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorMessage, ignoreNotFound } from '../lib/log.ts';
import { nowRfc3339 } from '../store/objects.ts';
import { OrphanIndex, claimObjects } from './claim.ts';
import { Expectations } from './expectations.ts';
import type { ControllerOptions } from './options.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRef,
  controllerRefTo,
  deleteOwnedPods,
  deletionOrder,
  generateNameFor,
  isActive,
  objectKeyOf,
  ownedPodHandlers,
} from './pods.ts';
import { QueuedController } from './queued-controller.ts';

const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;
const POD = kindFor('v1', 'Pod')!;
const COMPONENT = 'replicaset-controller';

/** Pods created or deleted per sync at most (Kubernetes' burstReplicas). */
export const BURST_REPLICAS = 500;

/** The longest a ReplicaSet waits to reconcile after a pod's update (kube's Job controller batches 1 s). */
export const POD_UPDATE_BATCH_MAX_MS = 1000;

/** The pod a ReplicaSet creates from its template (Kubernetes' GetPodFromTemplate). */
export function podFromTemplate(rs: any): any {
  const meta = rs.spec.template.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: generateNameFor(`${rs.metadata.name}-`),
      namespace: rs.metadata.namespace,
      ...(meta.labels ? { labels: { ...meta.labels } } : {}),
      ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
      ownerReferences: [controllerRefTo(rs)],
    },
    spec: structuredClone(rs.spec.template.spec),
  };
}

export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

/**
 * The status of a ReplicaSet owning `pods` (its active pods) at `nowMs`, after a sync that failed with
 * `manageError` (or did not): Kubernetes' calculateStatus (observedGeneration is the writer's to set).
 */
export function calculateReplicaSetStatus(
  rs: any,
  pods: readonly any[],
  manageError: unknown,
  nowMs = Date.now(),
): ReplicaSetStatus {
  const templateLabels: Record<string, string> = rs.spec.template?.metadata?.labels ?? {};
  const minReadySeconds: number = rs.spec.minReadySeconds ?? 0;
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const p of pods) {
    const labels = p.metadata.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isReady(p)) {
      ready++;
      if (availability(p, minReadySeconds, nowMs).available) available++;
    }
  }
  const prev = rs.status ?? {};
  let conditions: Condition[] | undefined = prev.conditions;
  const failure = getCondition(conditions, 'ReplicaFailure');
  if (manageError !== undefined && !failure) {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    conditions = [
      ...(conditions ?? []),
      {
        type: 'ReplicaFailure',
        status: 'True',
        reason: diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '',
        message: errorMessage(manageError),
        lastTransitionTime: nowRfc3339(),
      },
    ];
  } else if (manageError === undefined && failure) {
    conditions = conditions!.filter((c) => c.type !== 'ReplicaFailure');
  }
  return {
    replicas: pods.length,
    fullyLabeledReplicas: fullyLabeled,
    readyReplicas: ready,
    availableReplicas: available,
    ...(conditions?.length ? { conditions } : {}),
  };
}

export class ReplicaSetController extends QueuedController {
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('ReplicaSet');
  /** Pods controlled by a Deployment itself (only during an upgrade), by the Deployment's uid. */
  private readonly handover = new OwnedPodIndex('Deployment');
  /** Pods without a controller: the only ones a ReplicaSet may adopt. */
  private readonly orphans = new OrphanIndex();
  private replicaSets!: Informer<any>;
  /**
   * Resolves once start() has registered every handler: informers replay their caches into the handlers
   * one at a time, and a reconcile started by the first of them must not see the indexes half filled.
   */
  private readonly handlersReady = Promise.withResolvers<void>();

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.replicaSets = this.informers.informerFor(REPLICASET);
    const pods = this.informers.informerFor(POD);
    // A pod's updates (status, binding) are batched per ReplicaSet, as kube's Job controller batches pod
    // events (syncJobBatchPeriod): a reconcile walks all the ReplicaSet's pods, and with thousands of them
    // starting at once their updates made it run back to back (quadratic: the first cost of a 2,000-pod
    // ramp). The wait grows with the pods a reconcile walks (1 ms each, at most 1 s), so a small
    // ReplicaSet is reconciled at once as before. Adds, deletions and owner changes are never delayed.
    const owned = ownedPodHandlers(this.index, this.expectations, this.queue);
    const batched = ownedPodHandlers(this.index, this.expectations, {
      add: (key) => {
        const uid = this.replicaSets.get(key)?.metadata.uid;
        this.queue.addAfter(key, Math.min(POD_UPDATE_BATCH_MAX_MS, uid ? this.index.countOf(uid) : 0));
      },
    });
    this.removeHandlers.push(
      this.replicaSets.addHandler({
        onAdd: (rs) => this.queue.add(objectKeyOf(rs)),
        onUpdate: (_o, rs) => this.queue.add(objectKeyOf(rs)),
        onDelete: (rs) => this.expectations.delete(objectKeyOf(rs)),
      }),
      pods.addHandler({
        onAdd: (p) => {
          owned.onAdd(p);
          this.handover.set(p);
          this.trackOrphan(undefined, p);
        },
        onUpdate: (old, p) => {
          // Deletion (its expectation) and a change of owner still go through at once.
          if (isDeleting(p) !== isDeleting(old) || controllerRef(p)?.uid !== controllerRef(old)?.uid)
            owned.onUpdate(old, p);
          else batched.onUpdate(old, p);
          this.handover.delete(old);
          this.handover.set(p);
          this.trackOrphan(old, p);
        },
        onDelete: (p) => {
          owned.onDelete(p);
          this.handover.delete(p);
          this.trackOrphan(p, undefined);
        },
      }),
    );
    this.handlersReady.resolve();
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Keep the orphan index current, and wake the ReplicaSets that could adopt a (new) orphan. */
  private trackOrphan(old: any, pod: any): void {
    this.orphans.update(old, pod);
    if (!pod || controllerRef(pod) || !isActive(pod)) return;
    const ns: string = pod.metadata.namespace;
    for (const rs of this.replicaSets.values()) {
      if (rs.metadata.namespace === ns && labelSelectorMatcher(rs.spec.selector)(pod.metadata.labels))
        this.queue.add(objectKeyOf(rs));
    }
  }

  protected async reconcile(key: string): Promise<void> {
    await this.handlersReady.promise;
    const rs = this.replicaSets.get(key);
    if (!rs) return;
    const needsSync = this.expectations.satisfied(key);
    const matches = labelSelectorMatcher(rs.spec.selector);
    const candidates = [
      ...this.index.podsOf(rs.metadata.uid),
      ...this.orphans.in(rs.metadata.namespace),
    ].filter(isActive);
    const { claimed } = await claimObjects(this.objects, rs, POD, candidates, (p) =>
      matches(p.metadata.labels),
    );

    const owner = controllerRef(rs);
    const handingOver =
      owner?.kind === 'Deployment' &&
      this.handover.podsOf(owner.uid).some((p) => isActive(p) && matches(p.metadata.labels));
    let manageError: unknown;
    if (needsSync && !isDeleting(rs) && !handingOver) {
      try {
        await this.manageReplicas(key, rs, claimed);
      } catch (err) {
        manageError = err;
      }
    }
    const nowMs = Date.now();
    const status = calculateReplicaSetStatus(rs, claimed, manageError, nowMs);
    await this.writeStatus(rs, status);

    // A ready pod becomes available minReadySeconds later without any event: look again then.
    let recheckMs: number | undefined;
    for (const p of claimed) {
      const { waitMs } = availability(p, rs.spec.minReadySeconds ?? 0, nowMs);
      if (waitMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, waitMs);
    }
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
    if (manageError !== undefined) throw manageError;
  }

  private async manageReplicas(key: string, rs: any, pods: any[]): Promise<void> {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    if (diff < 0) await this.createPods(key, rs, Math.min(-diff, BURST_REPLICAS));
    else if (diff > 0) {
      const victims = [...pods].sort(deletionOrder).slice(0, Math.min(diff, BURST_REPLICAS));
      await deleteOwnedPods(
        { objects: this.objects, expectations: this.expectations, recorder: this.recorder },
        key,
        rs,
        victims,
      );
    }
  }

  /** Create `n` pods in batches of growing size (1, 2, 4, ...), stopping at the first failure. */
  private async createPods(key: string, rs: any, n: number): Promise<void> {
    const pod = podFromTemplate(rs);
    this.expectations.expect(key, n, 0);
    let created = 0;
    for (let batch = 1; created < n; batch *= 2) {
      const size = Math.min(batch, n - created);
      const results = await Promise.allSettled(
        Array.from({ length: size }, () => this.objects.create(pod, rs.metadata.namespace)),
      );
      let failure: PromiseRejectedResult | undefined;
      for (const r of results) {
        if (r.status === 'fulfilled')
          this.recorder.normal(rs, 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
        else failure ??= r;
      }
      created += results.filter((r) => r.status === 'fulfilled').length;
      if (failure) {
        // No event will come for pods that were not created, nor for the ones never attempted.
        for (let i = created; i < n; i++) this.expectations.creationObserved(key);
        this.recorder.warning(rs, 'FailedCreate', `Error creating: ${errorMessage(failure.reason)}`);
        throw failure.reason;
      }
    }
    this.log.info({ replicaset: key, created }, 'replicaset-controller: created pods');
  }

  private async writeStatus(rs: any, status: ReplicaSetStatus): Promise<void> {
    const { namespace, name, uid, generation } = rs.metadata;
    const next = { ...status, observedGeneration: generation };
    await ignoreNotFound(
      this.objects.mutate(
        REPLICASET,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          if (isDeepStrictEqual(obj.status ?? {}, next)) return undefined;
          obj.status = next;
          return obj;
        },
        'status',
      ),
    );
  }
}
