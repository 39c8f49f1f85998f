// StatefulSet controller, after kube-controller-manager's (stateful_set_control.go): pods with a stable
// identity, made and replaced in a fixed order.
//
// - Identity: the pod of ordinal i (from spec.ordinals.start) is NAME-i, with `hostname` = its name and
//   `subdomain` = spec.serviceName (so a headless Service's DNS answers NAME-i.SERVICE.NS.svc.cluster.local),
//   and labels statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
//   controller-revision-hash (the ControllerRevision the pod was made from). A pod that is deleted or fails
//   comes back under the same name, with the same claims.
// - Storage: for each volumeClaimTemplate, the claim TEMPLATE-NAME-i is created before the pod (never
//   replaced or changed afterwards) and mounted as the template's volume. persistentVolumeClaimRetentionPolicy
//   is kept in owner references, as Kubernetes does: whenDeleted=Delete gives each claim a reference to the
//   StatefulSet, whenScaled=Delete gives the claim of a pod removed by scaling down a reference to that pod,
//   so the garbage collector deletes the claim after its owner; Retain keeps no reference.
// - Order: OrderedReady creates the missing pods one at a time, lowest ordinal first, each only once the
//   ones before it are Running and Ready (for minReadySeconds), and removes pods beyond `replicas` one at a
//   time from the highest, only while every other pod is healthy; Parallel creates and deletes without waiting.
// - Revisions: each template is a ControllerRevision NAME-HASH (data: the template as a replacing
//   strategic merge patch, which `kubectl rollout undo` applies; the set's annotations, so change-cause
//   shows in `kubectl rollout history`). Going back to an earlier template reuses its revision with the next
//   number. Revisions that no pod uses beyond revisionHistoryLimit are deleted, oldest first.
// - Updates: RollingUpdate deletes the pod with the highest ordinal not at the update revision — never
//   below `partition` — and waits for its replacement to be healthy before the next one (with
//   maxUnavailable, up to that many pods may be unavailable at once); OnDelete replaces a pod only when the
//   user deletes it. Missing pods below the partition are recreated at the current revision.
// - Status: replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas, currentRevision,
//   updateRevision (current becomes update once every pod is updated and ready), observedGeneration,
//   collisionCount (bumped when a revision name is taken by another template).
// Events on the StatefulSet, in Kubernetes' wording: SuccessfulCreate / SuccessfulDelete / FailedCreate /
// FailedDelete ("create Pod web-0 in StatefulSet web successful", "create Claim data-web-0 Pod web-0 ...").
import {
  CONTROLLER_REVISION_HASH_LABEL,
  labelSelectorMatcher,
  POD_INDEX_LABEL,
  REVISION_HASH_LABEL,
  STATEFULSET_POD_NAME_LABEL,
  byRevisionNumber,
  controllerRevisionKind,
  kindFor,
  podOrdinal,
  resolveIntOrPercent,
  revisionData,
  revisionHash,
  revisionName,
  revisionTemplate,
  sameRevisionData,
  startOrdinal,
  statefulSetClaimName,
  statefulSetPodName,
  isDeleting,
  isReady,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorCode, errorMessage, ignoreNotFound } from '../lib/log.ts';
import { ApiError } from '../store/objects.ts';
import type { ControllerOptions } from './options.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRef,
  controllerRefTo,
  isFinished,
  objectKeyOf,
  ownedPodHandlers,
} from './pods.ts';
import { QueuedController } from './queued-controller.ts';
import { OrphanIndex, claimObjects } from './claim.ts';
import { claimOwnerRefs } from './statefulset-claims.ts';

const STATEFULSET = kindFor('apps/v1', 'StatefulSet')!;
const POD = kindFor('v1', 'Pod')!;
const COMPONENT = 'statefulset-controller';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Kubernetes' isRunningAndReady. */
export function isRunningAndReady(pod: any): boolean {
  return pod?.status?.phase === 'Running' && isReady(pod);
}

/** Running, Ready and not on its way out (Kubernetes' isHealthy). */
export function isHealthy(pod: any): boolean {
  return isRunningAndReady(pod) && !isDeleting(pod);
}

const revisionOfPod = (pod: any): string | undefined =>
  pod?.metadata?.labels?.[CONTROLLER_REVISION_HASH_LABEL];

/** The pods of a set split by ordinal: `replicas[i]` is ordinal start+i; the rest are condemned, highest first. */
export function splitByOrdinal(
  set: any,
  pods: readonly any[],
): { replicas: (any | undefined)[]; condemned: any[] } {
  const start = startOrdinal(set);
  const count: number = set.spec.replicas ?? 1;
  const replicas: (any | undefined)[] = new Array(count).fill(undefined);
  const condemned: any[] = [];
  for (const p of pods) {
    const ord = podOrdinal(set.metadata.name, p.metadata.name);
    if (ord === undefined) continue;
    if (ord >= start && ord < start + count) replicas[ord - start] = p;
    else condemned.push(p);
  }
  condemned.sort(
    (a, b) =>
      podOrdinal(set.metadata.name, b.metadata.name)! - podOrdinal(set.metadata.name, a.metadata.name)!,
  );
  return { replicas, condemned };
}

/**
 * The pod of `ordinal` made from `set` (whose template is the revision's), Kubernetes' newStatefulSetPod
 * with setPodRevision: identity, the claims' volumes in place of same-named template volumes.
 */
export function newStatefulSetPod(set: any, ordinal: number, revision: string): any {
  const name = statefulSetPodName(set.metadata.name, ordinal);
  const template = set.spec.template;
  const spec = structuredClone(template.spec);
  const claims: any[] = set.spec.volumeClaimTemplates ?? [];
  if (claims.length) {
    const claimVolumes = claims.map((t) => ({
      name: t.metadata.name,
      persistentVolumeClaim: { claimName: statefulSetClaimName(t.metadata.name, set.metadata.name, ordinal) },
    }));
    const taken = new Set(claimVolumes.map((v) => v.name));
    spec.volumes = [...(spec.volumes ?? []).filter((v: any) => !taken.has(v.name)), ...claimVolumes];
  }
  spec.hostname = name;
  if (set.spec.serviceName) spec.subdomain = set.spec.serviceName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: set.metadata.namespace,
      labels: {
        ...template.metadata?.labels,
        [STATEFULSET_POD_NAME_LABEL]: name,
        [POD_INDEX_LABEL]: String(ordinal),
        [CONTROLLER_REVISION_HASH_LABEL]: revision,
      },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [controllerRefTo(set)],
    },
    spec,
  };
}

/** The set as it was at `revision`: its template replaced by the revision's (Kubernetes' ApplyRevision). */
function applyRevision(set: any, revision: any): any {
  return { ...set, spec: { ...set.spec, template: revisionTemplate(revision) } };
}

/** Counts over every pod of the set (Kubernetes' computeReplicaStatus). */
export function replicaStatus(
  pods: readonly any[],
  minReadySeconds: number,
  currentRevision: string,
  updateRevision: string,
  now = Date.now(),
): {
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  currentReplicas: number;
  updatedReplicas: number;
} {
  const s = { replicas: 0, readyReplicas: 0, availableReplicas: 0, currentReplicas: 0, updatedReplicas: 0 };
  for (const p of pods) {
    s.replicas++;
    if (isRunningAndReady(p)) {
      s.readyReplicas++;
      if (availability(p, minReadySeconds, now).available) s.availableReplicas++;
    }
    if (!isDeleting(p)) {
      if (revisionOfPod(p) === currentRevision) s.currentReplicas++;
      if (revisionOfPod(p) === updateRevision) s.updatedReplicas++;
    }
  }
  return s;
}

export class StatefulSetController extends QueuedController {
  private readonly index = new OwnedPodIndex('StatefulSet');
  /** Pods without a controller: a set adopts those its selector matches and whose name is one of its own. */
  private readonly orphans = new OrphanIndex();
  private sets!: Informer<any>;
  private revisionCache!: Informer<any>;
  /** Informers replay their caches into the handlers one at a time: reconcile once all are registered. */
  private readonly handlersReady = Promise.withResolvers<void>();

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.sets = this.informers.informerFor(STATEFULSET);
    this.revisionCache = this.informers.informerFor(controllerRevisionKind());
    const pods = this.informers.informerFor(POD);
    // Pod names are fixed, so a lagging cache cannot make the controller create twice (the second
    // create is AlreadyExists): no expectations to keep.
    const noExpectations = { creationObserved() {}, deletionObserved() {} };
    const owned = ownedPodHandlers(this.index, noExpectations, this.queue);
    this.removeHandlers.push(
      this.sets.addHandler({
        onAdd: (s) => this.queue.add(objectKeyOf(s)),
        onUpdate: (_o, s) => this.queue.add(objectKeyOf(s)),
      }),
      pods.addHandler({
        onAdd: (p) => {
          owned.onAdd(p);
          this.trackOrphan(undefined, p);
        },
        onUpdate: (old, p) => {
          owned.onUpdate(old, p);
          this.trackOrphan(old, p);
        },
        onDelete: (p) => {
          owned.onDelete(p);
          this.trackOrphan(p, undefined);
        },
      }),
    );
    this.handlersReady.resolve();
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Keep the orphan index current, and wake the sets that could adopt a (new) orphan. */
  private trackOrphan(old: any, pod: any): void {
    this.orphans.update(old, pod);
    if (!pod || controllerRef(pod) || isDeleting(pod)) return;
    for (const set of this.sets.values()) if (this.isMember(set, pod)) this.queue.add(objectKeyOf(set));
  }

  /** The set's selector matches the pod and the pod's name is NAME-ORDINAL (Kubernetes' isMemberOf). */
  private isMember(set: any, pod: any): boolean {
    return (
      pod.metadata.namespace === set.metadata.namespace &&
      podOrdinal(set.metadata.name, pod.metadata.name) !== undefined &&
      labelSelectorMatcher(set.spec.selector)(pod.metadata.labels)
    );
  }

  protected async reconcile(key: string): Promise<void> {
    await this.handlersReady.promise;
    const set = this.sets.get(key);
    if (!set) return;
    // Adopt orphans (e.g. left by `kubectl delete sts --cascade=orphan`), release pods that stopped matching.
    const candidates = [...this.index.podsOf(set.metadata.uid), ...this.orphans.in(set.metadata.namespace)];
    const { claimed } = await claimObjects(this.objects, set, POD, candidates, (p) => this.isMember(set, p));
    const pods = claimed;
    const { current, update, collisionCount } = await this.revisions(set, pods);
    const minReadySeconds: number = set.spec.minReadySeconds ?? 0;
    let recheckMs: number | undefined;
    let syncError: unknown;
    if (!isDeleting(set)) {
      try {
        recheckMs = await this.sync(set, pods, current, update);
      } catch (err) {
        // Status is still written below; the error goes to the queue, which retries with back-off.
        this.log.warn({ statefulset: key, err: errorMessage(err) }, 'statefulset-controller: sync failed');
        syncError = err;
      }
    }
    const counts = replicaStatus(pods, minReadySeconds, current.metadata.name, update.metadata.name);
    const status: Record<string, unknown> = {
      ...counts,
      currentRevision: current.metadata.name,
      updateRevision: update.metadata.name,
      collisionCount,
    };
    // completeRollingUpdate: once every pod runs the update revision and is ready, it is the current one.
    if (
      set.spec.updateStrategy?.type !== 'OnDelete' &&
      counts.updatedReplicas === counts.replicas &&
      counts.readyReplicas === counts.replicas
    ) {
      status.currentReplicas = counts.updatedReplicas;
      status.currentRevision = update.metadata.name;
    }
    await this.writeStatus(set, status);
    await this.truncateHistory(set, pods, status.currentRevision as string, update.metadata.name);
    if (syncError !== undefined) throw syncError;
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }

  // ---- revisions ------------------------------------------------------------------------------------

  /**
   * The set's ControllerRevisions, lowest first, from the cache. A cache behind the controller's own writes
   * is harmless: creating a revision that exists finds it (409), and a rollback's renumbering is idempotent.
   */
  private revisionsOf(set: any): any[] {
    return [...this.revisionCache.values()]
      .filter(
        (r) => r.metadata.namespace === set.metadata.namespace && controllerRef(r)?.uid === set.metadata.uid,
      )
      .sort(byRevisionNumber);
  }

  /** Kubernetes' getStatefulSetRevisions: find or make the update revision, and find the current one. */
  private async revisions(
    set: any,
    _pods: any[],
  ): Promise<{ current: any; update: any; collisionCount: number }> {
    const CR = controllerRevisionKind();
    const revisions = this.revisionsOf(set);
    const collisionCount: number = set.status?.collisionCount ?? 0;
    const data = revisionData(set);
    const next = Math.max(0, ...revisions.map((r) => r.revision ?? 0)) + 1;
    const equal = revisions.filter((r) => sameRevisionData(r.data, data));
    let update: any;
    if (equal.length && equal[equal.length - 1] === revisions[revisions.length - 1]) {
      update = revisions[revisions.length - 1];
    } else if (equal.length) {
      // Back to an earlier template (a rollback): that revision becomes the newest.
      const target = equal[equal.length - 1];
      update = await this.objects.mutate(CR, set.metadata.namespace, target.metadata.name, (r) => {
        r.revision = next;
        return r;
      });
    } else {
      update = await this.createRevision(set, data, next, collisionCount);
    }
    const current = revisions.find((r) => r.metadata.name === set.status?.currentRevision) ?? update;
    return { current, update, collisionCount };
  }

  private async createRevision(set: any, data: any, revision: number, collisionCount: number): Promise<any> {
    const CR = controllerRevisionKind();
    const hash = revisionHash(data, collisionCount || undefined);
    const name = revisionName(set.metadata.name, hash);
    const annotations = { ...set.metadata.annotations };
    delete annotations[LAST_APPLIED];
    try {
      return await this.objects.create(
        {
          apiVersion: 'apps/v1',
          kind: 'ControllerRevision',
          metadata: {
            name,
            namespace: set.metadata.namespace,
            labels: { ...set.spec.template.metadata?.labels, [REVISION_HASH_LABEL]: hash },
            ...(Object.keys(annotations).length ? { annotations } : {}),
            ownerReferences: [controllerRefTo(set)],
          },
          data,
          revision,
        },
        set.metadata.namespace,
      );
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
      const existing = await this.objects.get(CR, set.metadata.namespace, name);
      if (
        existing &&
        controllerRef(existing)?.uid === set.metadata.uid &&
        sameRevisionData(existing.data, data)
      )
        return existing;
      // The name is someone else's: a new collision count gives the next attempt another name.
      await this.writeStatus(set, { collisionCount: collisionCount + 1 });
      throw new Error(
        `controller revision ${name} exists with other data; collisionCount is now ${collisionCount + 1}`,
      );
    }
  }

  /** Keep the revisions pods use, the current and update ones, and revisionHistoryLimit others. */
  private async truncateHistory(set: any, pods: any[], current: string, update: string): Promise<void> {
    const CR = controllerRevisionKind();
    const live = new Set([current, update, ...pods.map(revisionOfPod).filter(Boolean)]);
    const history = this.revisionsOf(set).filter((r) => !live.has(r.metadata.name));
    const limit: number = set.spec.revisionHistoryLimit ?? 10;
    for (const r of history.slice(0, Math.max(0, history.length - limit)))
      await ignoreNotFound(
        this.objects.delete(CR, r.metadata.namespace, r.metadata.name, {
          preconditions: { uid: r.metadata.uid },
        }),
      );
  }

  // ---- pods -------------------------------------------------------------------------------------------

  /**
   * One pass of Kubernetes' updateStatefulSet: create, repair, scale down, then update — stopping at the
   * first step OrderedReady must wait on. Returns when to look again (a pod due to become available).
   */
  private async sync(set: any, pods: any[], currentRev: any, updateRev: any): Promise<number | undefined> {
    const monotonic = set.spec.podManagementPolicy !== 'Parallel';
    const minReadySeconds: number = set.spec.minReadySeconds ?? 0;
    const start = startOrdinal(set);
    const now = Date.now();
    const currentSet = applyRevision(set, currentRev);
    const { replicas, condemned } = splitByOrdinal(set, pods);
    let recheckMs: number | undefined;
    const available = (p: any) => {
      const a = availability(p, minReadySeconds, now);
      if (!a.available && a.waitMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, a.waitMs);
      return a.available;
    };

    // The first unhealthy pod: the only condemned pod OrderedReady may remove while some pod is unhealthy.
    let firstUnhealthy: any;
    for (const p of replicas)
      if (p && !isHealthy(p)) {
        firstUnhealthy ??= p;
      }
    for (let i = condemned.length - 1; i >= 0; i--)
      if (!isHealthy(condemned[i])) firstUnhealthy ??= condemned[i];

    const partition = set.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    const rolling = set.spec.updateStrategy?.type !== 'OnDelete';
    /** newVersionedStatefulSetPod: below the partition, a missing pod comes back at the current revision. */
    const versionedPod = (i: number) =>
      rolling && i < partition
        ? newStatefulSetPod(currentSet, start + i, currentRev.metadata.name)
        : newStatefulSetPod(set, start + i, updateRev.metadata.name);

    for (let i = 0; i < replicas.length; i++) {
      const pod = replicas[i];
      if (pod && isFinished(pod) && !isDeleting(pod)) {
        // A pod that failed (or exited) is replaced under the same name once it is gone.
        await this.deletePod(set, pod);
        if (monotonic) return recheckMs;
        continue;
      }
      if (!pod) {
        await this.createPod(set, versionedPod(i), start + i);
        if (monotonic) return recheckMs;
        continue;
      }
      if (isDeleting(pod)) {
        if (monotonic) return recheckMs;
        continue;
      }
      if (monotonic && !(isRunningAndReady(pod) && available(pod))) return recheckMs;
      // The identity labels and the claims (and their owners) follow the set even for pods made before.
      await this.repairPod(set, pod, start + i);
    }

    for (const pod of condemned) {
      if (isDeleting(pod)) {
        if (monotonic) return recheckMs;
        continue;
      }
      if (monotonic && !isRunningAndReady(pod) && pod !== firstUnhealthy) return recheckMs;
      await this.deletePod(set, pod, true);
      if (monotonic) return recheckMs;
    }

    if (!rolling) return recheckMs;
    const maxUnavailableSetting = set.spec.updateStrategy?.rollingUpdate?.maxUnavailable;
    const update = updateRev.metadata.name;
    if (maxUnavailableSetting === undefined) {
      for (let target = replicas.length - 1; target >= partition; target--) {
        const pod = replicas[target];
        if (!pod) continue;
        if (revisionOfPod(pod) !== update && !isDeleting(pod)) {
          this.log.info({ pod: pod.metadata.name }, 'statefulset-controller: terminating pod for update');
          await this.deletePod(set, pod);
          return recheckMs;
        }
        if (!isHealthy(pod) || !available(pod)) return recheckMs;
      }
      return recheckMs;
    }
    // maxUnavailable: up to that many pods of the set may be unavailable while they are replaced.
    const maxUnavailable = Math.max(1, resolveIntOrPercent(maxUnavailableSetting, replicas.length, false));
    const unavailable = replicas.filter((p) => !p || !isHealthy(p) || !available(p)).length;
    let budget = maxUnavailable - unavailable;
    for (let target = replicas.length - 1; target >= partition && budget > 0; target--) {
      const pod = replicas[target];
      if (pod && revisionOfPod(pod) !== update && !isDeleting(pod)) {
        await this.deletePod(set, pod);
        budget--;
      }
    }
    return recheckMs;
  }

  private async createPod(set: any, pod: any, ordinal: number): Promise<void> {
    const setName = set.metadata.name;
    await this.ensureClaims(set, pod, ordinal);
    try {
      await this.objects.create(pod, set.metadata.namespace);
    } catch (err) {
      if (errorCode(err) === 409) return; // made by an earlier pass the cache has not shown yet
      this.recorder.warning(
        set,
        'FailedCreate',
        `create Pod ${pod.metadata.name} in StatefulSet ${setName} failed error: ${errorMessage(err)}`,
      );
      throw err;
    }
    this.recorder.normal(
      set,
      'SuccessfulCreate',
      `create Pod ${pod.metadata.name} in StatefulSet ${setName} successful`,
    );
  }

  private async deletePod(set: any, pod: any, scaledDown = false): Promise<void> {
    const setName = set.metadata.name;
    // whenScaled=Delete: the claims of a pod removed by scaling down are handed to the pod first, so they go with it.
    if (scaledDown) await this.syncClaimOwners(set, pod, podOrdinal(setName, pod.metadata.name)!);
    try {
      await this.objects.delete(POD, pod.metadata.namespace, pod.metadata.name, {
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (err) {
      if (errorCode(err) === 404 || errorCode(err) === 409) return;
      this.recorder.warning(
        set,
        'FailedDelete',
        `delete Pod ${pod.metadata.name} in StatefulSet ${setName} failed error: ${errorMessage(err)}`,
      );
      throw err;
    }
    this.recorder.normal(
      set,
      'SuccessfulDelete',
      `delete Pod ${pod.metadata.name} in StatefulSet ${setName} successful`,
    );
  }

  /** Identity labels a user removed come back; missing claims are made; claim owners follow the policy. */
  private async repairPod(set: any, pod: any, ordinal: number): Promise<void> {
    const name = pod.metadata.name;
    const labels = pod.metadata.labels ?? {};
    if (labels[STATEFULSET_POD_NAME_LABEL] !== name || labels[POD_INDEX_LABEL] !== String(ordinal)) {
      await ignoreNotFound(
        this.objects.mutate(POD, pod.metadata.namespace, name, (p) => {
          if (p.metadata.uid !== pod.metadata.uid) return undefined;
          p.metadata.labels = {
            ...p.metadata.labels,
            [STATEFULSET_POD_NAME_LABEL]: name,
            [POD_INDEX_LABEL]: String(ordinal),
          };
          return p;
        }),
      );
    }
    if ((set.spec.volumeClaimTemplates ?? []).length) {
      await this.ensureClaims(set, pod, ordinal);
      await this.syncClaimOwners(set, pod, ordinal);
    }
  }

  // ---- claims -----------------------------------------------------------------------------------------

  /** Create the pod's claims that do not exist (Kubernetes' createPersistentVolumeClaims). */
  private async ensureClaims(set: any, pod: any, ordinal: number): Promise<void> {
    const templates: any[] = set.spec.volumeClaimTemplates ?? [];
    if (!templates.length) return;
    const PVC = kindFor('v1', 'PersistentVolumeClaim');
    if (!PVC)
      throw new Error('volumeClaimTemplates need the v1 PersistentVolumeClaim kind, which this server lacks');
    const ns = set.metadata.namespace;
    for (const t of templates) {
      const name = statefulSetClaimName(t.metadata.name, set.metadata.name, ordinal);
      const existing = await this.objects.get(PVC, ns, name);
      if (existing) {
        if (isDeleting(existing)) throw new Error(`pvc ${name} is being deleted`);
        continue;
      }
      const claim = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name,
          namespace: ns,
          labels: { ...t.metadata.labels, ...set.spec.selector.matchLabels },
          ...(t.metadata.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
          ...ownerRefsField(claimOwnerRefs(undefined, set, pod, ordinal)),
        },
        spec: structuredClone(t.spec),
      };
      try {
        await this.objects.create(claim, ns);
      } catch (err) {
        if (errorCode(err) === 409) continue;
        this.recorder.warning(
          set,
          'FailedCreate',
          `create Claim ${name} for Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} failed error: ${errorMessage(err)}`,
        );
        throw err;
      }
      this.recorder.normal(
        set,
        'SuccessfulCreate',
        `create Claim ${name} Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} success`,
      );
    }
  }

  /** Owner references on the pod's claims as the retention policy wants them (updateClaimOwnerRefForSetAndPod). */
  private async syncClaimOwners(set: any, pod: any, ordinal: number): Promise<void> {
    const templates: any[] = set.spec.volumeClaimTemplates ?? [];
    const PVC = kindFor('v1', 'PersistentVolumeClaim');
    if (!templates.length || !PVC || !pod.metadata.uid) return;
    for (const t of templates) {
      const name = statefulSetClaimName(t.metadata.name, set.metadata.name, ordinal);
      await ignoreNotFound(
        this.objects.mutate(PVC, set.metadata.namespace, name, (c) => {
          if (isDeleting(c)) return undefined;
          const refs = claimOwnerRefs(c.metadata.ownerReferences, set, pod, ordinal);
          if (JSON.stringify(refs ?? []) === JSON.stringify(c.metadata.ownerReferences ?? []))
            return undefined;
          c.metadata.ownerReferences = refs;
          if (!refs?.length) delete c.metadata.ownerReferences;
          return c;
        }),
      );
    }
  }

  private async writeStatus(set: any, s: Record<string, unknown>): Promise<void> {
    const { namespace, name, uid, generation } = set.metadata;
    await ignoreNotFound(
      this.objects.mutate(
        STATEFULSET,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          const prev = obj.status ?? {};
          const next = { ...prev, ...s, observedGeneration: generation };
          if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
          obj.status = next;
          return obj;
        },
        'status',
      ),
    ).catch((err) => {
      if (err instanceof ApiError && err.code === 409) return undefined;
      throw err;
    });
  }
}

const ownerRefsField = (refs: any[] | undefined) => (refs?.length ? { ownerReferences: refs } : {});
