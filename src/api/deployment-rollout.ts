// The pure rules of Deployments over ReplicaSets, after kube-controller-manager's deployment/util
// package: the pod-template-hash, which ReplicaSet is "new", revision numbers and the annotations that
// carry them, maxSurge/maxUnavailable, how many replicas the new ReplicaSet may have, proportional
// scaling, and the rollout's status and progress. No I/O and nothing of Strata beyond the api, so the CLI
// (`strata rollout`, `strata describe`) reads ReplicaSets by the same rules the controller writes them.
import { isDeepStrictEqual } from 'node:util';
import { type Condition, getCondition, resolveIntOrPercent } from './index.ts';

/** On a Deployment's ReplicaSets, their selectors, templates and pods: which template they run. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** On the Deployment (its current revision) and on each ReplicaSet (the revision it is). */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** On a ReplicaSet brought back by a rollback: the revisions it was before, comma-separated. */
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
/** On each ReplicaSet: the Deployment's replicas, and replicas + maxSurge, when it was last scaled. */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
/** Copied from the Deployment onto its ReplicaSets like every other annotation (`rollout history`). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/** `rollout restart` sets this template annotation to the current time. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const ROLLBACK_TO_ANNOTATION = 'deprecated.deployment.rollback.to';

/** Deployment annotations that are not copied onto ReplicaSets (and not back by `rollout undo`). */
export const ANNOTATIONS_NOT_COPIED: ReadonlySet<string> = new Set([
  LAST_APPLIED_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  ROLLBACK_TO_ANNOTATION,
]);

/** Kubernetes caps the revision-history annotation at this many characters. */
const MAX_REVISION_HISTORY_CHARS = 2000;

/** Condition reasons of a Deployment, Kubernetes' (deployment/util). */
export const DEPLOYMENT_REASONS = {
  /** Progressing=True: the ReplicaSet of a new template was created. */
  NewReplicaSetCreated: 'NewReplicaSetCreated',
  /** Progressing=True: the ReplicaSet of the template existed (first seen without a condition). */
  FoundNewReplicaSet: 'FoundNewReplicaSet',
  /** Progressing=True: replicas are being created, deleted or becoming available. */
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  /** Progressing=True: every replica runs the current template and is available. */
  NewReplicaSetAvailable: 'NewReplicaSetAvailable',
  /** Progressing=False: no progress for progressDeadlineSeconds. */
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** Progressing=False: the new ReplicaSet could not be created. */
  ReplicaSetCreateError: 'ReplicaSetCreateError',
  /** Progressing=Unknown while spec.paused. */
  DeploymentPaused: 'DeploymentPaused',
  /** Progressing=Unknown right after spec.paused is cleared (the deadline starts again). */
  DeploymentResumed: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

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

function fnv1a32(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Kubernetes' rand.SafeEncodeString alphabet: no vowels (no words), no look-alikes (0/o, 1/l, 3/e).
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * A short stable hash of a pod template (FNV-1a of its canonical JSON, safe-encoded like Kubernetes'
 * ComputeHash). A Deployment's `status.collisionCount`, when set, is hashed in too (as Kubernetes does),
 * so a name collision with a foreign ReplicaSet yields a different name next time. Strata's hashes are
 * not Kubernetes' (those hash Go's in-memory layout) but have the same shape and the same stability.
 */
export function templateHash(template: unknown, collisionCount?: number): string {
  let h = fnv1a32(Buffer.from(canonicalJson(template), 'utf8'));
  if (collisionCount !== undefined && collisionCount !== null) {
    // Kubernetes writes the count as 8 bytes, the low 4 little-endian.
    const le = Buffer.alloc(8);
    le.writeUInt32LE(collisionCount >>> 0);
    h = fnv1a32(le, h);
  }
  const digits = String(h);
  let out = '';
  for (let i = 0; i < digits.length; i++) out += SAFE_ALPHABET[digits.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** `<deployment>-<hash>`, the deployment name shortened so the whole fits a 253-character name. */
export function replicaSetName(deploymentName: string, hash: string): string {
  const room = 253 - hash.length - 1;
  return `${deploymentName.length > room ? deploymentName.slice(0, room) : deploymentName}-${hash}`;
}

/**
 * Drop nulls, empty objects and empty lists, recursively: in Go an empty map, list or struct is the same
 * as an absent one, so kubectl's `"resources":{}` or `"creationTimestamp":null` must compare equal to a
 * template without them.
 */
function pruneEmpty(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(pruneEmpty).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = pruneEmpty(x);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v === null ? undefined : v;
}

function withoutHash(template: any): unknown {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  return pruneEmpty(t);
}

/**
 * Kubernetes' EqualIgnoreHash: the templates are equal once the pod-template-hash label is ignored (and,
 * as Go's semantic equality has it, empty maps, lists and structs are as good as absent ones).
 */
export function equalIgnoreHash(a: any, b: any): boolean {
  return isDeepStrictEqual(withoutHash(a), withoutHash(b));
}

/** A copy of `template` with the pod-template-hash label set (the template a ReplicaSet runs). */
export function templateWithHash(template: any, hash: string): any {
  const t = structuredClone(template);
  t.metadata = { ...t.metadata, labels: { ...t.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash } };
  return t;
}

/** A copy of `template` without the pod-template-hash label (what `rollout undo` writes back). */
export function templateWithoutHash(template: any): any {
  const t = structuredClone(template);
  if (t.metadata?.labels) delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  return t;
}

// ---- ownership and ordering ------------------------------------------------------------------------

/** True when `obj` has a controller ownerReference to `owner` (by uid). */
export function isControlledBy(obj: any, owner: any): boolean {
  return (obj?.metadata?.ownerReferences ?? []).some(
    (r: any) => r.controller === true && r.uid === owner?.metadata?.uid,
  );
}

const created = (o: any): string => o.metadata?.creationTimestamp ?? '';

/** Oldest first; names break ties (Kubernetes' ReplicaSetsByCreationTimestamp). */
export function byCreation(a: any, b: any): number {
  if (created(a) !== created(b)) return created(a) < created(b) ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** The revision a ReplicaSet (or Deployment) is, from its annotation; 0 when absent or unreadable. */
export function revisionOf(obj: any): number {
  const v = obj?.metadata?.annotations?.[REVISION_ANNOTATION];
  const n = Number.parseInt(v ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/** Lowest revision first; creation breaks ties (ReplicaSetsByRevision). */
export function byRevision(a: any, b: any): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

export function maxRevision(rss: readonly any[]): number {
  return Math.max(0, ...rss.map(revisionOf));
}

export const specReplicas = (rs: any): number => rs?.spec?.replicas ?? 1;

/**
 * The new ReplicaSet: the oldest whose template equals the Deployment's, ignoring the hash label
 * (FindNewReplicaSet — the oldest, should an upgrade ever leave two).
 */
export function findNewReplicaSet(d: any, rss: readonly any[]): any | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec.template));
}

/** Every other ReplicaSet (`all`), and those of them that still have replicas (`withReplicas`). */
export function findOldReplicaSets(
  d: any,
  rss: readonly any[],
  newRS = findNewReplicaSet(d, rss),
): { withReplicas: any[]; all: any[] } {
  const all = rss.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
  return { withReplicas: all.filter((rs) => specReplicas(rs) !== 0), all };
}

// ---- strategy --------------------------------------------------------------------------------------

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

const isRollingUpdate = (d: any): boolean => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
export const desiredReplicas = (d: any): number => d.spec.replicas ?? 1;

/** Kubernetes' MaxSurge: 0 unless RollingUpdate. */
export function maxSurgeOf(d: any): number {
  if (!isRollingUpdate(d)) return 0;
  return resolveFenceposts(d.spec.strategy, desiredReplicas(d)).maxSurge;
}

/** Kubernetes' MaxUnavailable: 0 unless RollingUpdate with replicas, and never above replicas. */
export function maxUnavailableOf(d: any): number {
  const replicas = desiredReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(replicas, resolveFenceposts(d.spec.strategy, replicas).maxUnavailable);
}

// ---- annotations -----------------------------------------------------------------------------------

/** Copy the Deployment's annotations (but the skipped ones) onto the ReplicaSet; true when any changed. */
function copyDeploymentAnnotations(d: any, rs: any): boolean {
  rs.metadata.annotations ??= {};
  let changed = false;
  for (const [k, v] of Object.entries<string>(d.metadata.annotations ?? {})) {
    if (ANNOTATIONS_NOT_COPIED.has(k) || rs.metadata.annotations[k] === v) continue;
    rs.metadata.annotations[k] = v;
    changed = true;
  }
  return changed;
}

/** desired-replicas and max-replicas; true when they changed. */
export function setReplicasAnnotations(rs: any, desired: number, max: number): boolean {
  rs.metadata.annotations ??= {};
  const a = rs.metadata.annotations;
  if (a[DESIRED_REPLICAS_ANNOTATION] === String(desired) && a[MAX_REPLICAS_ANNOTATION] === String(max))
    return false;
  a[DESIRED_REPLICAS_ANNOTATION] = String(desired);
  a[MAX_REPLICAS_ANNOTATION] = String(max);
  return true;
}

export function replicasAnnotationsNeedUpdate(rs: any, desired: number, max: number): boolean {
  const a = rs.metadata.annotations ?? {};
  return a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
}

/**
 * SetNewReplicaSetAnnotations: the Deployment's annotations, the revision `newRevision` when it is
 * higher than the ReplicaSet's (a rollback to this ReplicaSet: its old number goes to revision-history),
 * and, for a ReplicaSet about to be created, desired/max replicas. Mutates `rs`; true when it changed.
 */
export function setNewReplicaSetAnnotations(d: any, rs: any, newRevision: number, exists: boolean): boolean {
  let changed = copyDeploymentAnnotations(d, rs);
  const a = rs.metadata.annotations;
  const oldRevision: string | undefined = a[REVISION_ANNOTATION];
  const oldNumber = oldRevision === undefined ? 0 : Number.parseInt(oldRevision, 10);
  if (oldRevision !== undefined && !Number.isFinite(oldNumber)) return changed;
  if (oldNumber < newRevision) {
    a[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (oldRevision !== undefined) {
      const history: string = a[REVISION_HISTORY_ANNOTATION] ?? '';
      if (!history) a[REVISION_HISTORY_ANNOTATION] = oldRevision;
      else {
        const olds = history.split(',');
        let total = history.length + oldRevision.length + 1;
        let start = 0;
        while (total > MAX_REVISION_HISTORY_CHARS && start < olds.length) total -= olds[start++].length + 1;
        if (total <= MAX_REVISION_HISTORY_CHARS)
          a[REVISION_HISTORY_ANNOTATION] = [...olds.slice(start), oldRevision].join(',');
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, desiredReplicas(d), desiredReplicas(d) + maxSurgeOf(d)))
    changed = true;
  return changed;
}

// ---- scaling ---------------------------------------------------------------------------------------

/**
 * How many replicas the new ReplicaSet may have now (NewRSNewReplicas): for RollingUpdate, up to
 * replicas + maxSurge pods in all and never more than replicas; for Recreate, replicas.
 * `podCount(rs)` is what a ReplicaSet counts toward the total (its replicas, or more while its extra
 * pods are still going away).
 */
export function newRSNewReplicas(
  d: any,
  all: readonly any[],
  newRS: any,
  podCount: (rs: any) => number = specReplicas,
): number {
  if (!isRollingUpdate(d)) return desiredReplicas(d);
  const replicas = desiredReplicas(d);
  const current = all.reduce((n, rs) => n + podCount(rs), 0);
  const maxTotal = replicas + maxSurgeOf(d);
  if (current >= maxTotal) return specReplicas(newRS);
  return specReplicas(newRS) + Math.min(maxTotal - current, replicas - specReplicas(newRS));
}

/**
 * reconcileOldReplicaSets' arithmetic, one step: the sizes old ReplicaSets go down to. Nothing while all
 * pods − (replicas − maxUnavailable) − unavailable new pods ≤ 0; otherwise unavailable old replicas
 * go first (oldest ReplicaSet first, within that room: they would otherwise hold the rollout back,
 * kubernetes#16737), then available ones while the available pods stay ≥ replicas − maxUnavailable.
 * `available(rs)` is how many of a ReplicaSet's replicas are available. Returns only the sizes that change.
 */
export function scaleDownOldReplicaSets(
  d: any,
  all: readonly any[],
  olds: readonly any[],
  newRS: any | undefined,
  available: (rs: any) => number,
): Map<any, number> {
  const sizes = new Map<any, number>();
  if (olds.reduce((n, rs) => n + specReplicas(rs), 0) === 0) return sizes;
  const minAvailable = desiredReplicas(d) - maxUnavailableOf(d);
  const newUnavailable = newRS ? Math.max(0, specReplicas(newRS) - available(newRS)) : 0;
  const maxScaledDown = all.reduce((n, rs) => n + specReplicas(rs), 0) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return sizes;
  const sorted = [...olds].sort(byCreation);
  const size = (rs: any): number => sizes.get(rs) ?? specReplicas(rs);
  let cleaned = 0;
  for (const rs of sorted) {
    if (cleaned >= maxScaledDown) break;
    const unavailable = specReplicas(rs) - Math.min(specReplicas(rs), available(rs));
    if (specReplicas(rs) === 0 || unavailable <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unavailable);
    sizes.set(rs, specReplicas(rs) - n);
    cleaned += n;
  }
  const availableNow = [...sorted, ...(newRS ? [newRS] : [])].reduce(
    (n, rs) => n + Math.min(size(rs), available(rs)),
    0,
  );
  const budget = availableNow - minAvailable;
  let scaled = 0;
  for (const rs of sorted) {
    if (scaled >= budget) break;
    if (size(rs) === 0) continue;
    const n = Math.min(size(rs), budget - scaled);
    sizes.set(rs, size(rs) - n);
    scaled += n;
  }
  return sizes;
}

/** FindActiveOrLatest: the only ReplicaSet with replicas, or the newest when none has any. */
export function findActiveOrLatest(newRS: any | undefined, olds: readonly any[]): any | undefined {
  if (!newRS && olds.length === 0) return undefined;
  const newestFirst = [...olds].sort((a, b) => byCreation(b, a));
  const active = [...newestFirst, newRS].filter((rs) => rs && specReplicas(rs) > 0);
  if (active.length === 0) return newRS ?? newestFirst[0];
  return active.length === 1 ? active[0] : undefined;
}

/** The new ReplicaSet has all the Deployment's replicas, available. */
export function isSaturated(d: any, rs: any | undefined): boolean {
  if (!rs) return false;
  const desired = Number(rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION]);
  const replicas = desiredReplicas(d);
  return (
    desired === replicas && specReplicas(rs) === replicas && (rs.status?.availableReplicas ?? 0) === replicas
  );
}

/** Go's math.Round: halves away from zero. */
const roundHalfAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/**
 * GetProportion: this ReplicaSet's share of `toAdd` replicas when the Deployment is resized mid-rollout,
 * in proportion to its size against the Deployment's size when last scaled (max-replicas annotation).
 */
export function proportionOf(d: any, rs: any, toAdd: number, added: number): number {
  if (!rs || specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  let fraction: number;
  if (desiredReplicas(d) === 0) fraction = -specReplicas(rs);
  else {
    const max = desiredReplicas(d) + maxSurgeOf(d);
    let before = Number.parseInt(rs.metadata.annotations?.[MAX_REPLICAS_ANNOTATION] ?? '', 10);
    if (!Number.isFinite(before) || before === 0) before = d.status?.replicas ?? 0;
    fraction = before ? roundHalfAway((specReplicas(rs) * max) / before) - specReplicas(rs) : 0;
  }
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/**
 * The sizes of every active ReplicaSet after spreading `replicas + maxSurge − Σ replicas` over them in
 * proportion (Kubernetes' scale() for a resized RollingUpdate Deployment mid-rollout): larger ones first,
 * newer first when scaling up and older first when scaling down; leftovers go to the first.
 */
export function proportionalSizes(
  d: any,
  active: readonly any[],
): { sizes: Map<string, number>; direction: 'up' | 'down' | '' } {
  const total = active.reduce((n, rs) => n + specReplicas(rs), 0);
  const allowed = desiredReplicas(d) > 0 ? desiredReplicas(d) + maxSurgeOf(d) : 0;
  const toAdd = allowed - total;
  const direction = toAdd > 0 ? 'up' : toAdd < 0 ? 'down' : '';
  const ordered = [...active];
  if (direction)
    ordered.sort((a, b) => {
      if (specReplicas(a) !== specReplicas(b)) return specReplicas(b) - specReplicas(a);
      return direction === 'up' ? byCreation(b, a) : byCreation(a, b);
    });
  const sizes = new Map<string, number>();
  let added = 0;
  for (const rs of ordered) {
    const p = toAdd !== 0 ? proportionOf(d, rs, toAdd, added) : 0;
    sizes.set(rs.metadata.uid, specReplicas(rs) + p);
    added += p;
  }
  if (toAdd !== 0 && ordered.length > 0) {
    const first = ordered[0].metadata.uid;
    sizes.set(first, Math.max(0, sizes.get(first)! + toAdd - added));
  }
  return { sizes, direction };
}

// ---- status ----------------------------------------------------------------------------------------

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
  collisionCount?: number;
  conditions?: Condition[];
}

const sum = (rss: readonly any[], f: (rs: any) => number): number => rss.reduce((n, rs) => n + f(rs), 0);

/**
 * SetDeploymentCondition: a condition of the same status and reason is left as it is (message and
 * times included); the transition time is kept while the status stays.
 */
export function setDeploymentCondition(status: DeploymentStatus, c: Condition): void {
  const prev = getCondition(status.conditions, c.type);
  if (prev && prev.status === c.status && prev.reason === c.reason) return;
  const next = { ...c };
  if (prev && prev.status === c.status) next.lastTransitionTime = prev.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== c.type), next];
}

export function removeDeploymentCondition(status: DeploymentStatus, type: string): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((c) => c.type !== type);
}

export function newCondition(
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  now: string,
): Condition {
  return { type, status, reason, message, lastUpdateTime: now, lastTransitionTime: now };
}

/** calculateStatus: counts summed over the ReplicaSets, and the Available condition. */
export function calculateStatus(
  d: any,
  all: readonly any[],
  newRS: any | undefined,
  now: string,
): DeploymentStatus {
  const available = sum(all, (rs) => rs.status?.availableReplicas ?? 0);
  const total = sum(all, specReplicas);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: sum(all, (rs) => rs.status?.replicas ?? 0),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum(all, (rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
    ...(d.status?.collisionCount !== undefined ? { collisionCount: d.status.collisionCount } : {}),
    conditions: [...(d.status?.conditions ?? [])],
  };
  if (available >= desiredReplicas(d) - maxUnavailableOf(d))
    setDeploymentCondition(
      status,
      newCondition(
        'Available',
        'True',
        DEPLOYMENT_REASONS.MinimumReplicasAvailable,
        'Deployment has minimum availability.',
        now,
      ),
    );
  else
    setDeploymentCondition(
      status,
      newCondition(
        'Available',
        'False',
        DEPLOYMENT_REASONS.MinimumReplicasUnavailable,
        'Deployment does not have minimum availability.',
        now,
      ),
    );
  return status;
}

/** Every replica is updated and available, and the latest spec has been observed. */
export function deploymentComplete(d: any, s: DeploymentStatus): boolean {
  const replicas = desiredReplicas(d);
  return (
    s.updatedReplicas === replicas &&
    s.replicas === replicas &&
    s.availableReplicas === replicas &&
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** Progress since the last status: more updated, ready or available replicas, or fewer old ones. */
export function deploymentProgressing(d: any, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldBefore = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const oldNow = s.replicas - s.updatedReplicas;
  return (
    s.updatedReplicas > (old.updatedReplicas ?? 0) ||
    oldNow < oldBefore ||
    s.readyReplicas > (old.readyReplicas ?? 0) ||
    s.availableReplicas > (old.availableReplicas ?? 0)
  );
}

/** The Progressing condition was last updated longer than progressDeadlineSeconds ago. */
export function deploymentTimedOut(d: any, s: DeploymentStatus, nowMs: number): boolean {
  const c = getCondition(s.conditions, 'Progressing');
  if (!c) return false;
  if (c.reason === DEPLOYMENT_REASONS.NewReplicaSetAvailable) return false;
  if (c.reason === DEPLOYMENT_REASONS.ProgressDeadlineExceeded) return true;
  const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
  if (!Number.isFinite(from)) return false;
  return from + (d.spec.progressDeadlineSeconds ?? 600) * 1000 < nowMs;
}
