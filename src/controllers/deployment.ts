// Deployment controller: keeps `spec.replicas` pods of the Deployment's template and rolls them to a new
// template paced by the strategy.
//
// No ReplicaSets: pods belong to the Deployment directly (controller ownerReference) and carry
// `pod-template-hash`, a short stable hash of the template they were made from; pods whose hash is the
// current template's are "new", the others "old". What a ReplicaSet adds in Kubernetes — a per-template
// replica count — is derived from the pods, and revision history lives in `apps/v1` ControllerRevisions
// (see deployment-history.ts), one per template: `<deployment>-<hash>`, numbered 1, 2, ... The Deployment
// carries its current number in annotation `deployment.kubernetes.io/revision`; a template that comes back
// (`rollout undo`) gets the next number; old revisions without pods beyond `revisionHistoryLimit` are pruned.
//
// Rollouts (the Kubernetes algorithm, with pods in place of ReplicaSet replicas):
// - RollingUpdate: maxSurge (rounded up) and maxUnavailable (rounded down) of `replicas`; both 0 means
//   maxUnavailable 1. New pods are created while all pods ≤ replicas + maxSurge; old pods are deleted
//   while the available pods stay ≥ replicas − maxUnavailable (unavailable old pods go first, and new
//   pods that are not available yet hold back as many deletions). So a rollout whose new pods never
//   become ready stalls within those bounds and the old pods keep serving.
// - Recreate: every old pod is deleted, and new ones are created once all are gone.
// - A pod is available once Ready for `minReadySeconds`. `spec.paused` halts rollouts (scaling an
//   unchanged template still works). A `kubectl.kubernetes.io/restartedAt` template annotation (how
//   `rollout restart` works) is just a template change.
//
// Status: observedGeneration, replicas (pods not finished or terminating), updatedReplicas,
// readyReplicas, availableReplicas, unavailableReplicas, and conditions:
// - Available: True/MinimumReplicasAvailable when available ≥ replicas − maxUnavailable, else
//   False/MinimumReplicasUnavailable.
// - Progressing (reasons named for revisions, as there are no ReplicaSets; see DEPLOYMENT_REASONS):
//   True/RolloutInProgress while pods are being replaced or scaled and progress is being made,
//   True/NewRevisionAvailable when the rollout is complete (the k8s NewReplicaSetAvailable),
//   Unknown/DeploymentPaused, True/DeploymentResumed, and False/ProgressDeadlineExceeded once no progress
//   was made for `progressDeadlineSeconds` (progress: more updated, ready or available pods, fewer old
//   ones, or a spec change). The rollout is not aborted; the condition tells `rollout status` to give up.
//
// Events: ScalingRevision ("Scaled up revision 3 (hash) to 2", "Scaled down revision 2 (hash) to 1"),
// DeploymentRollback when an earlier template comes back, ProgressDeadlineExceeded (Warning), FailedCreate.
//
// Finished pods (Failed, or Succeeded) and pods being deleted do not count and are replaced; finished ones
// are left for inspection, and the garbage collector removes them with their Deployment.
import { type Condition, getCondition, kindFor, resolveIntOrPercent, setCondition } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { nowRfc3339 } from '../store/objects.ts';
import {
  CHANGE_CAUSE_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  controllerRevisionKind,
  isControlledBy,
} from './deployment-history.ts';
import { Expectations } from './expectations.ts';
import { errorCode, ignoreNotFound } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRefTo,
  deletionOrder,
  generateNameFor,
  isActive,
  isDeleting,
  isFinished,
  isReady,
  objectKeyOf,
  ownedPodHandlers,
} from './pods.ts';

export type { ControllerOptions } from './options.ts';
export {
  CHANGE_CAUSE_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  deploymentRevisions,
  rollbackTemplate,
} from './deployment-history.ts';

const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const POD = kindFor('v1', 'Pod')!;

/** `rollout restart` sets this template annotation to the current time. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/** Condition reasons of a Deployment (Progressing and Available). */
export const DEPLOYMENT_REASONS = {
  /** Progressing=True: pods are being created/deleted toward the template and progress is being made. */
  RolloutInProgress: 'RolloutInProgress',
  /** Progressing=True: every pod is of the current template and available (k8s: NewReplicaSetAvailable). */
  NewRevisionAvailable: 'NewRevisionAvailable',
  /** Progressing=False: no progress for progressDeadlineSeconds. */
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** Progressing=Unknown while spec.paused. */
  DeploymentPaused: 'DeploymentPaused',
  /** Progressing=True right after spec.paused is cleared (the deadline starts again). */
  DeploymentResumed: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

const COMPONENT = 'deployment-controller';

// ---- template hash ---------------------------------------------------------------------------------

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Kubernetes' rand.SafeEncodeString alphabet: no vowels (no words), no look-alikes (0/o, 1/l, 3/e).
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A short stable hash of a pod template (FNV-1a of its canonical JSON, safe-encoded like Kubernetes). */
export function templateHash(template: unknown): string {
  const digits = String(fnv1a32(canonicalJson(template)));
  let out = '';
  for (let i = 0; i < digits.length; i++) out += SAFE_ALPHABET[digits.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

// ---- rollout planning (pure) -----------------------------------------------------------------------

/** maxSurge (rounded up) and maxUnavailable (rounded down) for `replicas`; both 0 → maxUnavailable 1. */
export function resolveFenceposts(
  strategy: any,
  replicas: number,
): { maxSurge: number; maxUnavailable: number } {
  if (strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: replicas };
  const ru = strategy?.rollingUpdate ?? {};
  const maxSurge = resolveIntOrPercent(ru.maxSurge ?? '25%', replicas, true);
  let maxUnavailable = resolveIntOrPercent(ru.maxUnavailable ?? '25%', replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

export interface RolloutPlan {
  /** New-template pods to create. */
  create: number;
  /** Pods to delete (old ones, or surplus new ones). */
  remove: any[];
}

/**
 * One step of a RollingUpdate: Kubernetes' reconcileNewReplicaSet + reconcileOldReplicaSets with pods
 * (`current`: active pods of the new template, `old`: active pods of older ones). Scaling up takes
 * precedence; the caller applies a step and plans again once its cache has seen the result.
 */
export function planRollingUpdate(p: {
  replicas: number;
  maxSurge: number;
  maxUnavailable: number;
  current: readonly any[];
  old: readonly any[];
  isAvailable: (pod: any) => boolean;
}): RolloutPlan {
  const { replicas, maxSurge, maxUnavailable, current, old, isAvailable } = p;
  if (old.length === 0 || current.length > replicas) return scaleTo(current, replicas);
  const total = current.length + old.length;
  if (current.length < replicas) {
    const up = Math.min(replicas + maxSurge - total, replicas - current.length);
    if (up > 0) return { create: up, remove: [] };
  }
  const minAvailable = replicas - maxUnavailable;
  const newUnavailable = current.filter((pod) => !isAvailable(pod)).length;
  const maxScaledDown = total - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { create: 0, remove: [] };
  // Old pods that are not available cost nothing to remove: they go first (up to maxScaledDown).
  const unhealthy = old
    .filter((pod) => !isAvailable(pod))
    .sort(deletionOrder)
    .slice(0, maxScaledDown);
  const rest = old.filter((pod) => !unhealthy.includes(pod)).sort(deletionOrder);
  const availableNow = [...current, ...old].filter(isAvailable).length;
  const more = Math.max(0, Math.min(rest.length, availableNow - minAvailable));
  return { create: 0, remove: [...unhealthy, ...rest.slice(0, more)] };
}

function scaleTo(pods: readonly any[], replicas: number): RolloutPlan {
  if (pods.length < replicas) return { create: replicas - pods.length, remove: [] };
  if (pods.length > replicas)
    return { create: 0, remove: [...pods].sort(deletionOrder).slice(0, pods.length - replicas) };
  return { create: 0, remove: [] };
}

// ---- status ----------------------------------------------------------------------------------------

interface Counts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return !!a && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

/** Set a condition, moving lastUpdateTime only when it changed (or `touched`). */
function putCondition(
  list: Condition[] | undefined,
  next: Condition,
  now: string,
  touched = false,
): Condition[] {
  const prev = getCondition(list, next.type);
  if (sameCondition(prev, next) && !touched) return list ?? [];
  return setCondition(list, { ...next, lastUpdateTime: now }, now);
}

/** `<deployment>-<hash>`, shortened to fit a 253-character name. */
function revisionName(deploymentName: string, hash: string): string {
  const room = 253 - hash.length - 1;
  return `${deploymentName.length > room ? deploymentName.slice(0, room) : deploymentName}-${hash}`;
}

const hashOf = (obj: any): string | undefined => obj?.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];

export class DeploymentController extends QueuedController {
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('Deployment');
  private readonly revisionIndex = new OwnedPodIndex('Deployment');
  /**
   * Revision numbers this controller wrote (Deployment uid → hash → revision), trusted over a cache
   * that may not show the write yet, so two writes never hand out the same number.
   */
  private readonly revisionsWritten = new Map<string, Map<string, number>>();
  private deployments!: Informer<any>;

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.deployments = this.informers.informerFor(DEPLOYMENT);
    const pods = this.informers.informerFor(POD);
    const revisions = this.informers.informerFor(controllerRevisionKind());
    this.removeHandlers.push(
      this.deployments.addHandler({
        onAdd: (d) => this.queue.add(objectKeyOf(d)),
        onUpdate: (_o, d) => this.queue.add(objectKeyOf(d)),
        onDelete: (d) => {
          this.expectations.delete(objectKeyOf(d));
          this.revisionsWritten.delete(d.metadata.uid);
        },
      }),
      pods.addHandler(ownedPodHandlers(this.index, this.expectations, this.queue)),
      revisions.addHandler({
        onAdd: (cr) => this.revisionIndex.set(cr),
        onUpdate: (old, cr) => {
          this.revisionIndex.delete(old);
          this.revisionIndex.set(cr);
        },
        onDelete: (cr) => {
          const ref = this.revisionIndex.delete(cr);
          // A revision deleted by someone else: recreate it if it is the current one.
          if (ref) this.queue.add(`${cr.metadata.namespace}/${ref.name}`);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Resolves when no reconcile is queued or running (for tests and orderly shutdown). */
  protected async reconcile(key: string): Promise<void> {
    const d = this.deployments.get(key);
    if (!d || isDeleting(d)) return;
    const spec = d.spec;
    const replicas: number = spec.replicas ?? 1;
    const minReadySeconds: number = spec.minReadySeconds ?? 0;
    const hash = templateHash(spec.template);
    const owned = this.index.podsOf(d.metadata.uid);
    const active = owned.filter(isActive);
    const current = active.filter((p) => hashOf(p) === hash);
    const old = active.filter((p) => hashOf(p) !== hash);
    const now = Date.now();
    const isAvailable = (p: any) => availability(p, minReadySeconds, now).available;

    const revisions = await this.syncRevisions(d, hash, owned);

    let created = 0;
    let deleted = 0;
    if (this.expectations.satisfied(key)) {
      let plan: RolloutPlan = { create: 0, remove: [] };
      if (spec.paused) {
        // Paused: no rollout step, but an unchanged template still follows `replicas`.
        if (old.length === 0) plan = scaleTo(current, replicas);
      } else if (spec.strategy?.type === 'Recreate') {
        // Every old pod is gone (not just terminating) before any new one starts.
        const oldRunning = owned.filter((p) => hashOf(p) !== hash && !isFinished(p));
        if (old.length > 0) plan = { create: 0, remove: old };
        else if (oldRunning.length === 0) plan = scaleTo(current, replicas);
      } else {
        const { maxSurge, maxUnavailable } = resolveFenceposts(spec.strategy, replicas);
        plan = planRollingUpdate({ replicas, maxSurge, maxUnavailable, current, old, isAvailable });
      }
      if (plan.create > 0) {
        created = await this.createPods(key, d, hash, plan.create);
        this.recorder.normal(
          d,
          'ScalingRevision',
          `Scaled up revision ${revisions.get(hash) ?? '?'} (${hash}) to ${current.length + created}`,
        );
      }
      if (plan.remove.length > 0) {
        deleted = await this.deletePods(key, plan.remove);
        this.recordScaleDown(d, active, plan.remove, revisions);
      }
    }

    let readyReplicas = 0;
    let availableReplicas = 0;
    let recheckMs: number | undefined;
    for (const p of active) {
      if (isReady(p)) readyReplicas++;
      const a = availability(p, minReadySeconds, now);
      if (a.available) availableReplicas++;
      else if (a.waitMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, a.waitMs);
    }
    const counts: Counts = {
      replicas: active.length,
      updatedReplicas: current.length,
      readyReplicas,
      availableReplicas,
    };
    const complete =
      created === 0 &&
      deleted === 0 &&
      old.length === 0 &&
      current.length === replicas &&
      current.filter(isAvailable).length >= replicas;
    const deadlineMs = await this.writeStatus(d, counts, replicas, complete);
    if (deadlineMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, deadlineMs);
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }

  private recordScaleDown(d: any, active: any[], removed: any[], revisions: Map<string, number>): void {
    const byHash = new Map<string, number>();
    for (const p of removed) byHash.set(hashOf(p) ?? '', (byHash.get(hashOf(p) ?? '') ?? 0) + 1);
    for (const [hash, n] of byHash) {
      const left = active.filter((p) => hashOf(p) === hash).length - n;
      this.recorder.normal(
        d,
        'ScalingRevision',
        `Scaled down revision ${revisions.get(hash) ?? '?'} (${hash}) to ${left}`,
      );
    }
  }

  // ---- revision history ------------------------------------------------------------------------------

  /**
   * Make sure the current template has a ControllerRevision with the highest number (unless paused), the
   * Deployment's revision annotation says so, and old revisions beyond revisionHistoryLimit are pruned.
   * Returns hash → revision number of every known revision.
   */
  private async syncRevisions(d: any, hash: string, owned: any[]): Promise<Map<string, number>> {
    const uid: string = d.metadata.uid;
    const written = this.revisionsWritten.get(uid) ?? new Map<string, number>();
    this.revisionsWritten.set(uid, written);
    const crs = this.revisionIndex.podsOf(uid).filter((cr) => !isDeleting(cr));
    const numbers = new Map<string, number>();
    for (const cr of crs) {
      const h = hashOf(cr);
      if (h) numbers.set(h, Math.max(cr.revision ?? 0, written.get(h) ?? 0));
    }
    for (const [h, n] of written) if (!numbers.has(h)) numbers.set(h, n);
    const max = Math.max(0, ...numbers.values());
    let currentRevision = numbers.get(hash);

    if (!d.spec.paused && (currentRevision === undefined || currentRevision < max)) {
      const next = max + 1;
      const rolledBackFrom = currentRevision;
      currentRevision = await this.writeRevision(d, hash, next, crs);
      if (currentRevision !== undefined) {
        written.set(hash, currentRevision);
        numbers.set(hash, currentRevision);
        if (rolledBackFrom !== undefined && currentRevision === next) {
          this.recorder.normal(
            d,
            'DeploymentRollback',
            `Rolled back deployment "${d.metadata.name}" to revision ${rolledBackFrom} (now revision ${next})`,
          );
        }
      }
    }

    if (
      currentRevision !== undefined &&
      d.metadata.annotations?.[REVISION_ANNOTATION] !== String(currentRevision)
    ) {
      const value = String(currentRevision);
      await ignoreNotFound(
        this.objects.mutate(DEPLOYMENT, d.metadata.namespace, d.metadata.name, (obj) => {
          if (obj.metadata.uid !== uid || obj.metadata.annotations?.[REVISION_ANNOTATION] === value)
            return undefined;
          obj.metadata.annotations = { ...obj.metadata.annotations, [REVISION_ANNOTATION]: value };
          return obj;
        }),
      );
    }

    await this.pruneRevisions(d, hash, crs, numbers, owned);
    return numbers;
  }

  /** Create the revision of `hash` as number `revision`, or renumber the existing one. Returns its number. */
  private async writeRevision(
    d: any,
    hash: string,
    revision: number,
    crs: any[],
  ): Promise<number | undefined> {
    const kind = controllerRevisionKind();
    const { namespace } = d.metadata;
    const name = revisionName(d.metadata.name, hash);
    const existing = crs.find((cr) => hashOf(cr) === hash);
    if (!existing) {
      const cause = d.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
      try {
        await this.objects.create(
          {
            apiVersion: 'apps/v1',
            kind: 'ControllerRevision',
            metadata: {
              name,
              namespace,
              labels: { ...d.spec.template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
              ...(cause ? { annotations: { [CHANGE_CAUSE_ANNOTATION]: cause } } : {}),
              ownerReferences: [controllerRefTo(d)],
            },
            data: { spec: { template: d.spec.template } },
            revision,
          },
          namespace,
        );
        return revision;
      } catch (err) {
        if (errorCode(err) !== 409) throw err;
        // Already there (our cache lags): renumber it below if it is ours.
      }
    }
    const updated = await this.objects.mutate(kind, namespace, existing?.metadata.name ?? name, (cr) => {
      if (!isControlledBy(cr, d)) {
        throw new Error(
          `controllerrevision ${cr.metadata.name} exists and is not owned by deployment ${d.metadata.name}`,
        );
      }
      if (cr.revision >= revision) return undefined;
      cr.revision = revision;
      const cause = d.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
      if (cause) cr.metadata.annotations = { ...cr.metadata.annotations, [CHANGE_CAUSE_ANNOTATION]: cause };
      return cr;
    });
    return updated?.revision;
  }

  /** Delete the oldest revisions beyond revisionHistoryLimit that no pod uses any more. */
  private async pruneRevisions(
    d: any,
    hash: string,
    crs: any[],
    numbers: Map<string, number>,
    owned: any[],
  ): Promise<void> {
    const limit: number = d.spec.revisionHistoryLimit ?? 10;
    const olds = crs
      .filter((cr) => hashOf(cr) !== hash)
      .sort((a, b) => (numbers.get(hashOf(a)!) ?? a.revision) - (numbers.get(hashOf(b)!) ?? b.revision));
    let excess = olds.length - limit;
    if (excess <= 0) return;
    const inUse = new Set(owned.filter((p) => !isFinished(p)).map(hashOf));
    const written = this.revisionsWritten.get(d.metadata.uid);
    for (const cr of olds) {
      if (excess <= 0) break;
      if (inUse.has(hashOf(cr))) continue;
      excess--;
      try {
        await this.objects.delete(controllerRevisionKind(), cr.metadata.namespace, cr.metadata.name, {
          preconditions: { uid: cr.metadata.uid },
        });
        written?.delete(hashOf(cr)!);
      } catch (err) {
        if (errorCode(err) !== 404) throw err;
      }
    }
  }

  // ---- pods ------------------------------------------------------------------------------------------

  /** Create `n` pods in batches of growing size (1, 2, 4, ...), stopping at the first failure. */
  private async createPods(key: string, d: any, hash: string, n: number): Promise<number> {
    const template = d.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: generateNameFor(`${d.metadata.name}-${hash}-`),
        namespace: d.metadata.namespace,
        labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [controllerRefTo(d)],
      },
      spec: template.spec,
    };
    this.expectations.expect(key, n, 0);
    let created = 0;
    for (let batch = 1; created < n; batch *= 2) {
      const size = Math.min(batch, n - created);
      const results = await Promise.allSettled(
        Array.from({ length: size }, () => this.objects.create(pod, d.metadata.namespace)),
      );
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      created += size - failed.length;
      if (failed.length > 0) {
        // No event will come for pods that were not created, nor for the ones never attempted.
        for (let i = 0; i < n - created; i++) this.expectations.creationObserved(key);
        this.recorder.warning(
          d,
          'FailedCreate',
          `Error creating pod: ${String(failed[0].reason?.message ?? failed[0].reason)}`,
        );
        throw failed[0].reason;
      }
    }
    this.log.info({ deployment: key, created }, 'deployment-controller: created pods');
    return created;
  }

  private async deletePods(key: string, pods: any[]): Promise<number> {
    if (pods.length === 0) return 0;
    this.expectations.expect(key, 0, pods.length);
    const results = await Promise.allSettled(
      pods.map((p) =>
        this.objects.delete(POD, p.metadata.namespace, p.metadata.name, {
          preconditions: { uid: p.metadata.uid },
        }),
      ),
    );
    let firstError: unknown;
    results.forEach((r) => {
      if (r.status === 'fulfilled') return;
      this.expectations.deletionObserved(key);
      if (errorCode(r.reason) !== 404 && firstError === undefined) firstError = r.reason;
    });
    if (firstError !== undefined) throw firstError;
    this.log.info({ deployment: key, deleted: pods.length }, 'deployment-controller: deleted pods');
    return pods.length;
  }

  /**
   * Write status when it changed. Returns ms until the progress deadline would pass, when the rollout is
   * still in progress, so the caller re-checks then.
   */
  private async writeStatus(
    d: any,
    counts: Counts,
    replicas: number,
    complete: boolean,
  ): Promise<number | undefined> {
    const { namespace, name, uid, generation } = d.metadata;
    const spec = d.spec;
    let deadlineMs: number | undefined;
    let timedOut = false;
    await ignoreNotFound(
      this.objects.mutate(
        DEPLOYMENT,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          deadlineMs = undefined;
          timedOut = false;
          const prev = obj.status ?? {};
          const nowMs = Date.now();
          const now = nowRfc3339();
          const maxUnavailable =
            spec.strategy?.type === 'Recreate' || replicas === 0
              ? 0
              : Math.min(replicas, resolveFenceposts(spec.strategy, replicas).maxUnavailable);
          let conditions: Condition[] | undefined = prev.conditions;
          conditions = putCondition(
            conditions,
            counts.availableReplicas >= replicas - maxUnavailable
              ? {
                  type: 'Available',
                  status: 'True',
                  reason: DEPLOYMENT_REASONS.MinimumReplicasAvailable,
                  message: 'Deployment has minimum availability.',
                }
              : {
                  type: 'Available',
                  status: 'False',
                  reason: DEPLOYMENT_REASONS.MinimumReplicasUnavailable,
                  message: 'Deployment does not have minimum availability.',
                },
            now,
          );
          // Forward progress only (Kubernetes' DeploymentProgressing), or a new spec.
          const oldBefore = (prev.replicas ?? 0) - (prev.updatedReplicas ?? 0);
          const oldNow = counts.replicas - counts.updatedReplicas;
          const progressed =
            prev.observedGeneration !== generation ||
            counts.updatedReplicas > (prev.updatedReplicas ?? 0) ||
            counts.readyReplicas > (prev.readyReplicas ?? 0) ||
            counts.availableReplicas > (prev.availableReplicas ?? 0) ||
            oldNow < oldBefore;
          const prevProgressing = getCondition(conditions, 'Progressing');
          const deadline = (spec.progressDeadlineSeconds ?? 600) * 1000;
          let progressing: Condition | undefined;
          let touched = false;
          if (spec.paused) {
            progressing = {
              type: 'Progressing',
              status: 'Unknown',
              reason: DEPLOYMENT_REASONS.DeploymentPaused,
              message: 'Deployment is paused',
            };
          } else if (complete) {
            progressing = {
              type: 'Progressing',
              status: 'True',
              reason: DEPLOYMENT_REASONS.NewRevisionAvailable,
              message: `Deployment ${JSON.stringify(name)} has successfully progressed.`,
            };
          } else if (!prevProgressing || prevProgressing.reason === DEPLOYMENT_REASONS.DeploymentPaused) {
            const resumed = prevProgressing?.reason === DEPLOYMENT_REASONS.DeploymentPaused;
            progressing = {
              type: 'Progressing',
              status: 'True',
              reason: resumed ? DEPLOYMENT_REASONS.DeploymentResumed : DEPLOYMENT_REASONS.RolloutInProgress,
              message: resumed
                ? 'Deployment is resumed'
                : `Deployment ${JSON.stringify(name)} is progressing.`,
            };
            touched = true;
            deadlineMs = deadline;
          } else if (progressed) {
            progressing = {
              type: 'Progressing',
              status: 'True',
              reason: DEPLOYMENT_REASONS.RolloutInProgress,
              message: `Deployment ${JSON.stringify(name)} is progressing.`,
            };
            touched = true;
            deadlineMs = deadline;
          } else if (prevProgressing.reason === DEPLOYMENT_REASONS.NewRevisionAvailable) {
            // Complete before and nothing changed since but a pod going away: not a stalled rollout.
            progressing = undefined;
          } else if (prevProgressing.status === 'True') {
            const lastUpdate = Date.parse(
              prevProgressing.lastUpdateTime ?? prevProgressing.lastTransitionTime ?? '',
            );
            const left = Number.isFinite(lastUpdate) ? lastUpdate + deadline - nowMs : deadline;
            if (left <= 0) {
              progressing = {
                type: 'Progressing',
                status: 'False',
                reason: DEPLOYMENT_REASONS.ProgressDeadlineExceeded,
                message: `Deployment ${JSON.stringify(name)} has timed out progressing.`,
              };
              timedOut = true;
            } else deadlineMs = left;
          }
          if (progressing) conditions = putCondition(conditions, progressing, now, touched);
          const status = {
            observedGeneration: generation,
            replicas: counts.replicas,
            updatedReplicas: counts.updatedReplicas,
            readyReplicas: counts.readyReplicas,
            availableReplicas: counts.availableReplicas,
            unavailableReplicas: Math.max(0, Math.max(replicas, counts.replicas) - counts.availableReplicas),
            conditions,
          };
          if (JSON.stringify(status) === JSON.stringify(prev)) {
            timedOut = false;
            return undefined;
          }
          obj.status = status;
          return obj;
        },
        'status',
      ),
    );
    if (timedOut) {
      this.recorder.warning(
        d,
        DEPLOYMENT_REASONS.ProgressDeadlineExceeded,
        `Deployment ${JSON.stringify(name)} has timed out progressing: ${counts.updatedReplicas} of ${replicas} updated pods, ${counts.availableReplicas} available`,
      );
    }
    return deadlineMs;
  }
}
