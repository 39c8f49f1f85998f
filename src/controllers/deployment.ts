// Deployment controller, as kube-controller-manager's: a Deployment manages one ReplicaSet per pod
// template and rolls between them by scaling them; the ReplicaSet controller (replicaset.ts) makes the
// pods. The rules themselves — hashes, revisions, annotations, surge arithmetic, status — are in
// deployment-util.ts; this file reads the caches, decides, and writes.
//
// - ReplicaSets: `<deployment>-<pod-template-hash>`, with the hash in their labels, selector and
//   template (so their pods carry it), a controller reference to the Deployment, the Deployment's
//   annotations, `deployment.kubernetes.io/revision` (the Deployment carries its current one too),
//   `revision-history` when a rollback brings an old one back, and `desired-replicas`/`max-replicas`.
//   ReplicaSets the Deployment's selector matches are adopted; its own that no longer match are released.
// - A sync, in Kubernetes' order: a Deployment being deleted only gets its status; the paused condition
//   is kept (Progressing=Unknown DeploymentPaused / DeploymentResumed); a paused Deployment, or a change
//   of `replicas` (the desired-replicas annotation differs), is scaled without rolling (proportionally
//   over the ReplicaSets mid-rollout); otherwise the strategy rolls:
//   - RollingUpdate: the new ReplicaSet grows while all pods ≤ replicas + maxSurge (rounded up); old
//     ReplicaSets shrink while available pods stay ≥ replicas − maxUnavailable (rounded down), their
//     unavailable pods first.
//   - Recreate: old ReplicaSets go to 0, and the new one grows once none of their pods runs any more.
//   Old ReplicaSets with no pods beyond `revisionHistoryLimit` are deleted once a rollout completes.
// - Status: counts summed over the ReplicaSets, Available (MinimumReplicasAvailable /
//   MinimumReplicasUnavailable) and Progressing: NewReplicaSetCreated / FoundNewReplicaSet /
//   ReplicaSetUpdated while progressing, NewReplicaSetAvailable when complete, and False /
//   ProgressDeadlineExceeded when no progress was made for progressDeadlineSeconds (the rollout goes on;
//   `rollout status` gives up). A stuck Deployment is re-checked when its deadline is due. A ReplicaSet's
//   ReplicaFailure condition (pods it cannot create or delete) is shown on the Deployment too.
// - Events: ScalingReplicaSet ("Scaled up replica set web-5d4b8 from 1 to 2"), FailedCreate, and a
//   ProgressDeadlineExceeded warning when a rollout times out.
//
// Where Kubernetes reads ReplicaSet status that may lag behind, this controller counts the pods in its
// cache instead, for its decisions only (status is still summed from the ReplicaSets): a ReplicaSet
// counts as many pods as still run for it while it shrinks, and at most `replicas` available ones — so
// the surge and availability bounds hold at every moment, not only once every status caught up. Writes
// carry the resourceVersion they were decided on; a conflict ends the sync, and the change that caused it
// brings the Deployment back.
import { isDeepStrictEqual } from 'node:util';
import {
  type Condition,
  getCondition,
  kindFor,
  labelSelectorMatcher,
  PodTemplateSpec,
  defaultPodSpec,
  isDeleting,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorCode, errorMessage } from '../lib/log.ts';
import { nowRfc3339 } from '../store/objects.ts';
import { OrphanIndex, claimObjects } from './claim.ts';
import {
  DEPLOYMENT_REASONS,
  DESIRED_REPLICAS_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  type DeploymentStatus,
  byCreation,
  byRevision,
  calculateStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicas,
  equalIgnoreHash,
  findActiveOrLatest,
  isControlledBy,
  isSaturated,
  maxRevision,
  maxSurgeOf,
  newCondition,
  newRSNewReplicas,
  proportionalSizes,
  removeDeploymentCondition,
  replicaSetName,
  replicasAnnotationsNeedUpdate,
  revisionOf,
  scaleDownOldReplicaSets,
  setDeploymentCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  specReplicas,
  templateHash,
  templateWithHash,
} from '../api/deployment-rollout.ts';
import type { ControllerOptions } from './options.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRef,
  controllerRefTo,
  isActive,
  isFinished,
  objectKeyOf,
} from './pods.ts';
import { QueuedController } from './queued-controller.ts';

export type { ControllerOptions } from './options.ts';
export {
  CHANGE_CAUSE_ANNOTATION,
  DEPLOYMENT_REASONS,
  POD_TEMPLATE_HASH_LABEL,
  RESTARTED_AT_ANNOTATION,
  REVISION_ANNOTATION,
  resolveFenceposts,
  templateHash,
} from '../api/deployment-rollout.ts';
export { deploymentRevisions, rollbackTemplate } from '../api/deployment-history.ts';

const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;
const POD = kindFor('v1', 'Pod')!;
const COMPONENT = 'deployment-controller';

/** Ends a sync without an error: the object moved on, and its event brings the Deployment back. */
class Superseded extends Error {}

const isConflict = (err: unknown): boolean => errorCode(err) === 409;

/** The template as the API server would store it (defaults applied), or undefined if it is invalid. */
const defaultedTemplates = new WeakMap<object, unknown>();
function defaulted(template: any): unknown {
  if (!template || typeof template !== 'object') return template;
  if (defaultedTemplates.has(template)) return defaultedTemplates.get(template);
  const parsed = PodTemplateSpec.safeParse(structuredClone(template));
  let out: unknown = template;
  if (parsed.success) {
    defaultPodSpec(parsed.data.spec, 'Always');
    out = JSON.parse(JSON.stringify(parsed.data));
  }
  defaultedTemplates.set(template, out);
  return out;
}

/**
 * Kubernetes' EqualIgnoreHash, but also true when the two differ only in defaults: a ReplicaSet made
 * by an older Strata lacks defaults added since, and must not look like a different template (which
 * would start a rollout, or loop on name collisions).
 */
function sameTemplate(a: any, b: any): boolean {
  return equalIgnoreHash(a, b) || equalIgnoreHash(defaulted(a), defaulted(b));
}

function findNewReplicaSet(d: any, rss: readonly any[]): any | undefined {
  return [...rss].sort(byCreation).find((rs) => sameTemplate(rs.spec?.template, d.spec.template));
}

/** What one sync works on: the Deployment as last written, and its ReplicaSets. */
interface Sync {
  key: string;
  d: any;
  rss: any[];
}

export class DeploymentController extends QueuedController {
  private deployments!: Informer<any>;
  private replicaSets!: Informer<any>;
  /**
   * Resolves once start() has registered every handler: informers replay their caches into the handlers
   * one at a time, and a reconcile started by the first of them must not see the indexes half filled.
   */
  private readonly handlersReady = Promise.withResolvers<void>();
  /** ReplicaSets by the uid of the Deployment controlling them. */
  private readonly rsIndex = new OwnedPodIndex('Deployment');
  /** ReplicaSets without a controller: the only ones a Deployment may adopt. */
  private readonly orphans = new OrphanIndex();
  /** Pods by the uid of the ReplicaSet controlling them: what still runs for each. */
  private readonly podIndex = new OwnedPodIndex('ReplicaSet');
  /** ReplicaSets this controller wrote (by uid), until the cache shows that version or a later one. */
  private readonly written = new Map<string, any>();

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.deployments = this.informers.informerFor(DEPLOYMENT);
    this.replicaSets = this.informers.informerFor(REPLICASET);
    const pods = this.informers.informerFor(POD);
    this.removeHandlers.push(
      this.deployments.addHandler({
        onAdd: (d) => this.queue.add(objectKeyOf(d)),
        onUpdate: (_o, d) => this.queue.add(objectKeyOf(d)),
      }),
      this.replicaSets.addHandler({
        onAdd: (rs) => this.replicaSetChanged(undefined, rs),
        onUpdate: (old, rs) => this.replicaSetChanged(old, rs),
        onDelete: (rs) => this.replicaSetChanged(rs, undefined),
      }),
      pods.addHandler({
        onAdd: (p) => this.podIndex.set(p),
        onUpdate: (old, p) => {
          this.podIndex.delete(old);
          this.podIndex.set(p);
          if (!isDeleting(old) && isDeleting(p)) this.queueOwnerOfPod(p);
        },
        // A Recreate rollout waits for the old pods to be gone; a shrinking ReplicaSet stops counting them.
        onDelete: (p) => {
          this.podIndex.delete(p);
          this.queueOwnerOfPod(p);
        },
      }),
    );
    this.handlersReady.resolve();
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  private replicaSetChanged(old: any, rs: any): void {
    if (old) this.rsIndex.delete(old);
    this.orphans.update(old, rs);
    if (rs) {
      this.rsIndex.set(rs);
      const mine = this.written.get(rs.metadata.uid);
      if (mine && Number(rs.metadata.resourceVersion) >= Number(mine.metadata.resourceVersion))
        this.written.delete(rs.metadata.uid);
    } else this.written.delete(old.metadata.uid);
    for (const obj of [old, rs]) {
      if (!obj) continue;
      const ref = controllerRef(obj);
      if (ref?.kind === 'Deployment') this.queue.add(`${obj.metadata.namespace}/${ref.name}`);
      else if (!ref && rs === obj) {
        // An orphan: the Deployments whose selector matches it may adopt it.
        for (const d of this.deployments.values()) {
          if (
            d.metadata.namespace === obj.metadata.namespace &&
            labelSelectorMatcher(d.spec.selector)(obj.metadata.labels)
          )
            this.queue.add(objectKeyOf(d));
        }
      }
    }
  }

  private queueOwnerOfPod(p: any): void {
    const ref = controllerRef(p);
    if (ref?.kind !== 'ReplicaSet') return;
    const rs = this.replicaSets.get(`${p.metadata.namespace}/${ref.name}`);
    const owner = rs && controllerRef(rs);
    if (owner?.kind === 'Deployment') this.queue.add(`${p.metadata.namespace}/${owner.name}`);
  }

  /** A ReplicaSet as this controller last knows it: its own write when the cache has not caught up. */
  private latest(rs: any): any {
    const mine = this.written.get(rs.metadata.uid);
    return mine && Number(mine.metadata.resourceVersion) > Number(rs.metadata.resourceVersion) ? mine : rs;
  }

  protected async reconcile(key: string): Promise<void> {
    await this.handlersReady.promise;
    const cached = this.deployments.get(key);
    if (!cached) return;
    try {
      const s: Sync = { key, d: cached, rss: await this.claimReplicaSets(cached) };
      if (isDeleting(s.d)) return await this.syncStatusOnly(s);
      await this.checkPausedConditions(s);
      if (s.d.spec.paused) return await this.syncScaling(s);
      if (await this.isScalingEvent(s)) return await this.syncScaling(s);
      if (s.d.spec.strategy?.type === 'Recreate') await this.rolloutRecreate(s);
      else await this.rolloutRolling(s);
    } catch (err) {
      if (!(err instanceof Superseded) && !isConflict(err)) throw err;
      // Someone wrote in between: their change is on its way through the informers and queues us; look
      // again shortly anyway in case it was our own write the cache has not shown yet.
      this.queue.addAfter(key, 50);
    }
  }

  /** The Deployment's ReplicaSets, after adopting matching orphans and releasing its non-matching ones. */
  private async claimReplicaSets(d: any): Promise<any[]> {
    const ns: string = d.metadata.namespace;
    const candidates = [...this.rsIndex.podsOf(d.metadata.uid), ...this.orphans.in(ns)];
    const matches = labelSelectorMatcher(d.spec.selector);
    const { claimed } = await claimObjects(
      this.objects,
      d,
      REPLICASET,
      candidates.map(this.latest, this),
      (rs) => matches(rs.metadata.labels),
    );
    return claimed;
  }

  // ---- what the pods say -----------------------------------------------------------------------------

  /** Pods of a ReplicaSet that still run (not finished, not being deleted). */
  private activePods(rs: any): any[] {
    return this.podIndex.podsOf(rs.metadata.uid).filter(isActive);
  }

  /** What a ReplicaSet counts toward the surge limit: its replicas, or its pods while extra ones remain. */
  private podCount = (rs: any): number => Math.max(specReplicas(rs), this.activePods(rs).length);

  /** Available pods of a ReplicaSet, never more than its replicas (extra ones are on their way out). */
  private available(rs: any): number {
    const now = Date.now();
    const minReady: number = rs.spec.minReadySeconds ?? 0;
    const n = this.activePods(rs).filter((p) => availability(p, minReady, now).available).length;
    return Math.min(specReplicas(rs), n);
  }

  // ---- writes -----------------------------------------------------------------------------------------

  /** Update a ReplicaSet from the version it was decided on (a conflict supersedes the sync). */
  private async updateReplicaSet(rs: any): Promise<any> {
    const updated = await this.objects.update(rs, rs.metadata.namespace);
    this.written.set(updated.metadata.uid, updated);
    return updated;
  }

  private async writeStatus(s: Sync, status: DeploymentStatus): Promise<void> {
    const d = s.d;
    s.d = await this.objects.updateStatus(DEPLOYMENT, d.metadata.namespace, d.metadata.name, {
      metadata: { resourceVersion: d.metadata.resourceVersion },
      status: JSON.parse(JSON.stringify(status)),
    });
  }

  /** SetDeploymentRevision: the Deployment's revision annotation follows its new ReplicaSet's. */
  private async setDeploymentRevision(s: Sync, revision: number): Promise<void> {
    const d = s.d;
    if (d.metadata.annotations?.[REVISION_ANNOTATION] === String(revision)) return;
    s.d = await this.objects.patch(DEPLOYMENT, d.metadata.namespace, d.metadata.name, {
      metadata: {
        resourceVersion: d.metadata.resourceVersion,
        annotations: { [REVISION_ANNOTATION]: String(revision) },
      },
    });
  }

  private async setProgressing(
    s: Sync,
    status: 'True' | 'False' | 'Unknown',
    reason: string,
    message: string,
  ): Promise<void> {
    const next: DeploymentStatus = structuredClone(s.d.status ?? {});
    setDeploymentCondition(next, newCondition('Progressing', status, reason, message, nowRfc3339()));
    if (!isDeepStrictEqual(next, s.d.status ?? {})) await this.writeStatus(s, next);
  }

  // ---- the sync's steps, in Kubernetes' names -----------------------------------------------------------

  private async checkPausedConditions(s: Sync): Promise<void> {
    const cond = getCondition(s.d.status?.conditions, 'Progressing');
    if (cond?.reason === DEPLOYMENT_REASONS.ProgressDeadlineExceeded) return;
    const pausedNoted = cond?.reason === DEPLOYMENT_REASONS.DeploymentPaused;
    if (s.d.spec.paused && !pausedNoted)
      await this.setProgressing(s, 'Unknown', DEPLOYMENT_REASONS.DeploymentPaused, 'Deployment is paused');
    else if (!s.d.spec.paused && pausedNoted)
      await this.setProgressing(s, 'Unknown', DEPLOYMENT_REASONS.DeploymentResumed, 'Deployment is resumed');
  }

  /**
   * The new ReplicaSet (created when `create` and missing) and the old ones, with the new one's revision
   * and annotations and the Deployment's revision annotation brought up to date.
   */
  private async replicaSetsAndSyncRevision(
    s: Sync,
    create: boolean,
  ): Promise<{ newRS: any | undefined; olds: any[] }> {
    const found = findNewReplicaSet(s.d, s.rss);
    const olds = s.rss.filter((rs) => rs !== found);
    const newRevision = maxRevision(olds) + 1;
    if (found) {
      const copy = structuredClone(found);
      const annotated = setNewReplicaSetAnnotations(s.d, copy, newRevision, true);
      let newRS = found;
      if (annotated || (copy.spec.minReadySeconds ?? 0) !== (s.d.spec.minReadySeconds ?? 0)) {
        copy.spec.minReadySeconds = s.d.spec.minReadySeconds ?? 0;
        newRS = await this.updateReplicaSet(copy);
        this.replace(s, found, newRS);
      }
      await this.setDeploymentRevision(s, revisionOf(newRS));
      if (!getCondition(s.d.status?.conditions, 'Progressing'))
        await this.setProgressing(
          s,
          'True',
          DEPLOYMENT_REASONS.FoundNewReplicaSet,
          `Found new replica set ${JSON.stringify(newRS.metadata.name)}`,
        );
      return { newRS, olds };
    }
    if (!create) return { newRS: undefined, olds };
    const newRS = await this.createNewReplicaSet(s, olds, newRevision);
    return { newRS, olds };
  }

  private async createNewReplicaSet(s: Sync, olds: any[], newRevision: number): Promise<any> {
    const d = s.d;
    const hash = templateHash(d.spec.template, d.status?.collisionCount);
    const template = templateWithHash(d.spec.template, hash);
    const rs: any = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: replicaSetName(d.metadata.name, hash),
        namespace: d.metadata.namespace,
        labels: { ...template.metadata.labels },
        annotations: {},
        ownerReferences: [controllerRefTo(d)],
      },
      spec: {
        replicas: 0,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...d.spec.selector.matchLabels, [POD_TEMPLATE_HASH_LABEL]: hash },
        },
        template,
      },
    };
    rs.spec.replicas = newRSNewReplicas(d, [...olds, rs], rs, this.podCount);
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    let created: any;
    try {
      created = await this.objects.create(rs, d.metadata.namespace);
      this.written.set(created.metadata.uid, created);
      s.rss.push(created);
    } catch (err) {
      if (errorCode(err) === 409) {
        const existing = await this.objects.get(REPLICASET, d.metadata.namespace, rs.metadata.name);
        // Our own, not in the cache yet: use it.
        if (
          existing &&
          isControlledBy(existing, d) &&
          sameTemplate(existing.spec.template, d.spec.template)
        ) {
          s.rss.push(existing);
          return existing;
        }
        // Someone else's ReplicaSet has the name: hash again with a higher collisionCount.
        const status = structuredClone(d.status ?? {});
        status.collisionCount = (status.collisionCount ?? 0) + 1;
        await this.writeStatus(s, status);
        throw new Superseded(
          `replicaset ${rs.metadata.name} exists; collisionCount now ${status.collisionCount}`,
        );
      }
      const message = `Failed to create new replica set ${JSON.stringify(rs.metadata.name)}: ${errorMessage(err)}`;
      this.recorder.warning(d, 'FailedCreate', message);
      await this.setProgressing(s, 'False', DEPLOYMENT_REASONS.ReplicaSetCreateError, message);
      throw err;
    }
    if (rs.spec.replicas > 0)
      this.recorder.normal(
        d,
        'ScalingReplicaSet',
        `Scaled up replica set ${created.metadata.name} from 0 to ${rs.spec.replicas}`,
      );
    await this.setDeploymentRevision(s, newRevision);
    await this.setProgressing(
      s,
      'True',
      DEPLOYMENT_REASONS.NewReplicaSetCreated,
      `Created new replica set ${JSON.stringify(created.metadata.name)}`,
    );
    return created;
  }

  private replace(s: Sync, old: any, next: any): void {
    const i = s.rss.indexOf(old);
    if (i >= 0) s.rss[i] = next;
  }

  /** Scale a ReplicaSet (recording it) unless it already has `replicas`. */
  private async scaleAndRecord(s: Sync, rs: any, replicas: number): Promise<{ scaled: boolean; rs: any }> {
    if (specReplicas(rs) === replicas) return { scaled: false, rs };
    return this.scaleReplicaSet(s, rs, replicas, specReplicas(rs) < replicas ? 'up' : 'down');
  }

  private async scaleReplicaSet(
    s: Sync,
    rs: any,
    replicas: number,
    direction: string,
  ): Promise<{ scaled: boolean; rs: any }> {
    const desired = desiredReplicas(s.d);
    const max = desired + maxSurgeOf(s.d);
    const sizeChanges = specReplicas(rs) !== replicas;
    if (!sizeChanges && !replicasAnnotationsNeedUpdate(rs, desired, max)) return { scaled: false, rs };
    const from = specReplicas(rs);
    const copy = structuredClone(rs);
    copy.spec.replicas = replicas;
    setReplicasAnnotations(copy, desired, max);
    const updated = await this.updateReplicaSet(copy);
    this.replace(s, rs, updated);
    if (sizeChanges)
      this.recorder.normal(
        s.d,
        'ScalingReplicaSet',
        `Scaled ${direction ? `${direction} ` : ''}replica set ${rs.metadata.name} from ${from} to ${replicas}`,
      );
    return { scaled: sizeChanges, rs: updated };
  }

  /** A change of spec.replicas that the ReplicaSets' desired-replicas annotation does not reflect yet. */
  private async isScalingEvent(s: Sync): Promise<boolean> {
    const { newRS, olds } = await this.replicaSetsAndSyncRevision(s, false);
    for (const rs of [...olds, newRS]) {
      if (!rs || specReplicas(rs) === 0) continue;
      const desired = rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION];
      if (desired !== undefined && Number(desired) !== desiredReplicas(s.d)) return true;
    }
    return false;
  }

  /** Scaling events and paused Deployments: resize without rolling. */
  private async syncScaling(s: Sync): Promise<void> {
    const { newRS, olds } = await this.replicaSetsAndSyncRevision(s, false);
    await this.scale(s, newRS, olds);
    if (s.d.spec.paused) await this.cleanup(s, olds);
    await this.syncDeploymentStatus(s);
  }

  private async syncStatusOnly(s: Sync): Promise<void> {
    await this.replicaSetsAndSyncRevision(s, false);
    await this.syncDeploymentStatus(s);
  }

  private async scale(s: Sync, newRS: any | undefined, olds: any[]): Promise<void> {
    const d = s.d;
    const only = findActiveOrLatest(newRS, olds);
    if (only) {
      if (specReplicas(only) !== desiredReplicas(d)) await this.scaleAndRecord(s, only, desiredReplicas(d));
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of olds.filter((rs) => specReplicas(rs) > 0)) await this.scaleAndRecord(s, old, 0);
      return;
    }
    if (d.spec.strategy?.type === 'Recreate') return;
    const active = [...olds, newRS].filter((rs) => rs && specReplicas(rs) > 0);
    const { sizes, direction } = proportionalSizes(d, active);
    for (const rs of active) await this.scaleReplicaSet(s, rs, sizes.get(rs.metadata.uid)!, direction);
  }

  private async rolloutRolling(s: Sync): Promise<void> {
    const { newRS, olds } = await this.replicaSetsAndSyncRevision(s, true);
    const current = (rs: any) => s.rss.find((x) => x.metadata.uid === rs.metadata.uid) ?? rs;
    if (await this.reconcileNewReplicaSet(s, current(newRS))) return this.syncRolloutStatus(s);
    const activeOlds = olds.map(current).filter((rs) => specReplicas(rs) > 0);
    if (await this.reconcileOldReplicaSets(s, activeOlds, current(newRS))) return this.syncRolloutStatus(s);
    if (s.d.status && deploymentComplete(s.d, s.d.status)) await this.cleanup(s, olds.map(current));
    await this.syncRolloutStatus(s);
  }

  private async reconcileNewReplicaSet(s: Sync, newRS: any): Promise<boolean> {
    const replicas = desiredReplicas(s.d);
    if (specReplicas(newRS) === replicas) return false;
    if (specReplicas(newRS) > replicas) return (await this.scaleAndRecord(s, newRS, replicas)).scaled;
    const next = newRSNewReplicas(s.d, s.rss, newRS, this.podCount);
    return (await this.scaleAndRecord(s, newRS, next)).scaled;
  }

  private async reconcileOldReplicaSets(s: Sync, olds: any[], newRS: any): Promise<boolean> {
    const available = (rs: any) => this.available(rs);
    let scaled = false;
    for (const [rs, size] of scaleDownOldReplicaSets(s.d, s.rss, olds, newRS, available))
      if ((await this.scaleAndRecord(s, rs, size)).scaled) scaled = true;
    return scaled;
  }

  private async rolloutRecreate(s: Sync): Promise<void> {
    let { newRS, olds } = await this.replicaSetsAndSyncRevision(s, false);
    let scaledDown = false;
    for (const old of olds.filter((rs) => specReplicas(rs) > 0))
      if ((await this.scaleAndRecord(s, old, 0)).scaled) scaledDown = true;
    if (scaledDown) return this.syncRolloutStatus(s);
    if (this.oldPodsRunning(newRS, olds)) return this.syncRolloutStatus(s);
    if (!newRS) ({ newRS, olds } = await this.replicaSetsAndSyncRevision(s, true));
    const current = s.rss.find((x) => x.metadata.uid === newRS.metadata.uid) ?? newRS;
    await this.scaleAndRecord(s, current, desiredReplicas(s.d));
    if (s.d.status && deploymentComplete(s.d, s.d.status)) await this.cleanup(s, olds);
    await this.syncRolloutStatus(s);
  }

  /** Any pod of an old ReplicaSet not finished yet, being deleted or not (Recreate waits for them). */
  private oldPodsRunning(newRS: any | undefined, olds: any[]): boolean {
    if (olds.some((rs) => (rs.status?.replicas ?? 0) > 0)) return true;
    return olds.some(
      (rs) =>
        rs.metadata.uid !== newRS?.metadata.uid &&
        this.podIndex.podsOf(rs.metadata.uid).some((p) => !isFinished(p)),
    );
  }

  /** Delete the oldest old ReplicaSets beyond revisionHistoryLimit that have no pods left. */
  private async cleanup(s: Sync, olds: any[]): Promise<void> {
    const limit: number | undefined = s.d.spec.revisionHistoryLimit;
    if (limit === undefined) return;
    const alive = olds.filter((rs) => !isDeleting(rs));
    const excess = alive.length - limit;
    if (excess <= 0) return;
    for (const rs of alive.sort(byRevision).slice(0, excess)) {
      if (
        (rs.status?.replicas ?? 0) !== 0 ||
        specReplicas(rs) !== 0 ||
        (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)
      )
        continue;
      try {
        await this.objects.delete(REPLICASET, rs.metadata.namespace, rs.metadata.name, {
          preconditions: { uid: rs.metadata.uid },
        });
      } catch (err) {
        if (errorCode(err) !== 404) throw err;
      }
    }
  }

  // ---- status ------------------------------------------------------------------------------------------

  private async syncDeploymentStatus(s: Sync): Promise<void> {
    const newRS = findNewReplicaSet(s.d, s.rss);
    const status = calculateStatus(s.d, s.rss, newRS, nowRfc3339());
    if (!isDeepStrictEqual(normalize(status), normalize(s.d.status))) await this.writeStatus(s, status);
  }

  private async syncRolloutStatus(s: Sync): Promise<void> {
    const d = s.d;
    const newRS = findNewReplicaSet(d, s.rss);
    const now = nowRfc3339();
    const nowMs = Date.now();
    const status = calculateStatus(d, s.rss, newRS, now);
    const current = getCondition(d.status?.conditions, 'Progressing');
    const complete =
      status.replicas === status.updatedReplicas &&
      current?.reason === DEPLOYMENT_REASONS.NewReplicaSetAvailable;
    const subject = newRS
      ? `ReplicaSet ${JSON.stringify(newRS.metadata.name)}`
      : `Deployment ${JSON.stringify(d.metadata.name)}`;
    let timedOut = false;
    if (!complete) {
      if (deploymentComplete(d, status)) {
        setDeploymentCondition(
          status,
          newCondition(
            'Progressing',
            'True',
            DEPLOYMENT_REASONS.NewReplicaSetAvailable,
            `${subject} has successfully progressed.`,
            now,
          ),
        );
      } else if (deploymentProgressing(d, status)) {
        // Progress moves lastUpdateTime (the deadline's start) even when the reason stays the same.
        const c: Condition = newCondition(
          'Progressing',
          'True',
          DEPLOYMENT_REASONS.ReplicaSetUpdated,
          `${subject} is progressing.`,
          now,
        );
        if (current?.status === 'True') c.lastTransitionTime = current.lastTransitionTime;
        status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== 'Progressing'), c];
      } else if (deploymentTimedOut(d, status, nowMs)) {
        timedOut = current?.reason !== DEPLOYMENT_REASONS.ProgressDeadlineExceeded;
        setDeploymentCondition(
          status,
          newCondition(
            'Progressing',
            'False',
            DEPLOYMENT_REASONS.ProgressDeadlineExceeded,
            `${subject} has timed out progressing.`,
            now,
          ),
        );
      }
    }
    // A ReplicaSet failing to create or delete pods: its condition becomes the Deployment's (the new
    // ReplicaSet's first), and goes away with it.
    const failure = replicaFailure(newRS, s.rss);
    if (failure) setDeploymentCondition(status, failure);
    else removeDeploymentCondition(status, 'ReplicaFailure');
    if (isDeepStrictEqual(normalize(status), normalize(d.status))) {
      this.requeueStuckDeployment(s, status, nowMs);
      return;
    }
    await this.writeStatus(s, status);
    if (timedOut)
      this.recorder.warning(
        d,
        DEPLOYMENT_REASONS.ProgressDeadlineExceeded,
        `${subject} has timed out progressing: ${status.updatedReplicas} of ${desiredReplicas(d)} updated replicas, ${status.availableReplicas} available`,
      );
  }

  /** No progress seen: look again when the progress deadline is due (kubernetes#34458). */
  private requeueStuckDeployment(s: Sync, status: DeploymentStatus, nowMs: number): void {
    const c = getCondition(s.d.status?.conditions, 'Progressing');
    if (!c || deploymentComplete(s.d, status) || c.reason === DEPLOYMENT_REASONS.ProgressDeadlineExceeded)
      return;
    const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
    if (!Number.isFinite(from)) return;
    const after = from + (s.d.spec.progressDeadlineSeconds ?? 600) * 1000 - nowMs;
    this.queue.addAfter(s.key, Math.max(after, 0) + 100);
  }
}

/** getReplicaFailures: the ReplicaFailure condition of the new ReplicaSet, else of any, as a Deployment's. */
function replicaFailure(newRS: any | undefined, rss: readonly any[]): Condition | undefined {
  for (const rs of newRS ? [newRS, ...rss] : rss) {
    const c = getCondition(rs?.status?.conditions, 'ReplicaFailure');
    if (c)
      return {
        type: 'ReplicaFailure',
        status: c.status,
        reason: c.reason,
        message: c.message,
        lastUpdateTime: c.lastTransitionTime,
        lastTransitionTime: c.lastTransitionTime,
      };
  }
  return undefined;
}

/** Status as JSON would carry it (no undefined members), for comparisons. */
function normalize(status: unknown): unknown {
  return JSON.parse(JSON.stringify(status ?? {}));
}
