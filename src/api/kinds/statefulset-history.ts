// The pure rules a StatefulSet's pods, claims and revisions follow, shared by the controller and the CLI:
// pod and claim names, the identity labels, and ControllerRevisions in Kubernetes' shape — each revision's
// `data` is the strategic merge patch `{spec: {template: {..., $patch: replace}}}` that `kubectl rollout
// undo statefulset` applies as it is, and `kubectl rollout history` lists the revisions the StatefulSet
// controls. Where a pod's template stands in a rollout is read as kubectl's StatefulSetStatusViewer does.
import { isDeepStrictEqual } from 'node:util';
import { isControlledBy, templateHash } from '../deployment-rollout.ts';
import { kindFor, type KindInfo } from '../registry.ts';

/** On each pod: its own name, so a Service can select one pod of the set. */
export const STATEFULSET_POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** On each pod: its ordinal. */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
/** On each pod: the name of the ControllerRevision it was made from. */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
/** On each ControllerRevision: the hash in its name (Kubernetes' ControllerRevisionHashLabel). */
export const REVISION_HASH_LABEL = 'controller.kubernetes.io/hash';
/** On a ControllerRevision, as on a ReplicaSet: why it was made (`kubectl rollout history`). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** NAME-ORDINAL. */
export function statefulSetPodName(setName: string, ordinal: number): string {
  return `${setName}-${ordinal}`;
}

/** The ordinal of a pod named NAME-ORDINAL of the set `setName`; undefined for any other name. */
export function podOrdinal(setName: string, podName: string): number | undefined {
  const m = /^(.*)-(\d+)$/.exec(podName);
  if (!m || m[1] !== setName) return undefined;
  const n = Number(m[2]);
  return Number.isSafeInteger(n) && String(n) === m[2] ? n : undefined;
}

/** TEMPLATE-SETNAME-ORDINAL: the claim a pod gets from one of the set's volumeClaimTemplates. */
export function statefulSetClaimName(templateName: string, setName: string, ordinal: number): string {
  return `${templateName}-${statefulSetPodName(setName, ordinal)}`;
}

/** The first ordinal (spec.ordinals.start, default 0). */
export function startOrdinal(set: any): number {
  return set?.spec?.ordinals?.start ?? 0;
}

// ---- revisions --------------------------------------------------------------------------------------

export function controllerRevisionKind(): KindInfo {
  const kind = kindFor('apps/v1', 'ControllerRevision');
  if (!kind) throw new Error('the apps/v1 ControllerRevision kind is not registered');
  return kind;
}

/** What a revision records: the set's template, as a patch that replaces the template whole. */
export function revisionData(set: any): Record<string, unknown> {
  return { spec: { template: { ...structuredClone(set.spec.template), $patch: 'replace' } } };
}

/** The pod template a revision records. */
export function revisionTemplate(revision: any): any {
  const t = structuredClone(revision?.data?.spec?.template ?? {});
  delete t.$patch;
  return t;
}

/** Kubernetes' HashControllerRevision: the data, and the set's collisionCount when it has one. */
export function revisionHash(data: unknown, collisionCount?: number): string {
  return templateHash(data, collisionCount);
}

/** NAME-HASH, the set name shortened so the whole is a valid object name (ControllerRevisionName). */
export function revisionName(setName: string, hash: string): string {
  const prefix = setName.length > 223 ? setName.slice(0, 223) : setName;
  return `${prefix}-${hash}`;
}

/** Empty maps and lists are as good as absent ones (Go's semantic equality of decoded templates). */
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

/** Two revisions record the same template (Kubernetes' EqualRevision). */
export function sameRevisionData(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(pruneEmpty(a), pruneEmpty(b));
}

/** Lowest revision first; names break ties. */
export function byRevisionNumber(a: any, b: any): number {
  return (a.revision ?? 0) - (b.revision ?? 0) || (a.metadata.name < b.metadata.name ? -1 : 1);
}

/** Anything that lists objects of a kind in a namespace: ObjectStore, the API client. */
export interface RevisionLister {
  list(kind: KindInfo, namespace?: string): Promise<{ items: any[] }>;
}

/** The ControllerRevisions a StatefulSet controls, lowest revision first (what kubectl's history lists). */
export async function statefulSetRevisions(objects: RevisionLister, set: any): Promise<any[]> {
  const { items } = await objects.list(controllerRevisionKind(), set.metadata.namespace);
  return items.filter((r) => isControlledBy(r, set)).sort(byRevisionNumber);
}

/**
 * The revision `rollout undo` goes back to: `toRevision`, or by default the one before the latest
 * (kubectl's StatefulSetRollbacker). Throws kubectl's messages when there is none.
 */
export function rollbackRevision(revisions: readonly any[], toRevision?: number): any {
  if (toRevision) {
    const r = revisions.find((x) => x.revision === toRevision);
    if (!r) throw new Error(`unable to find specified revision ${toRevision} in history`);
    return r;
  }
  if (revisions.length < 2) throw new Error('no last revision to roll back to');
  return [...revisions].sort(byRevisionNumber)[revisions.length - 2];
}

export interface StatefulSetProgress {
  done: boolean;
  message: string;
  /** Status cannot be followed (OnDelete): kubectl fails with the message. */
  failed?: boolean;
}

/** kubectl 1.32's StatefulSetStatusViewer, word for word. */
export function statefulSetProgress(sts: any): StatefulSetProgress {
  const spec = sts.spec ?? {};
  const s = sts.status ?? {};
  const strategy = spec.updateStrategy ?? { type: 'RollingUpdate' };
  if ((strategy.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return {
      done: true,
      failed: true,
      message: 'rollout status is only available for RollingUpdate strategy type',
    };
  if (!s.observedGeneration || (sts.metadata.generation ?? 0) > s.observedGeneration)
    return { done: false, message: 'Waiting for statefulset spec update to be observed...' };
  const replicas = spec.replicas ?? 1;
  if ((s.readyReplicas ?? 0) < replicas)
    return { done: false, message: `Waiting for ${replicas - (s.readyReplicas ?? 0)} pods to be ready...` };
  const partition = strategy.rollingUpdate?.partition;
  if (strategy.rollingUpdate) {
    if (partition !== undefined && (s.updatedReplicas ?? 0) < replicas - partition)
      return {
        done: false,
        message: `Waiting for partitioned roll out to finish: ${s.updatedReplicas ?? 0} out of ${replicas - partition} new pods have been updated...`,
      };
    return {
      done: true,
      message: `partitioned roll out complete: ${s.updatedReplicas ?? 0} new pods have been updated...`,
    };
  }
  if (s.updateRevision !== s.currentRevision)
    return {
      done: false,
      message: `waiting for statefulset rolling update to complete ${s.updatedReplicas ?? 0} pods at revision ${s.updateRevision}...`,
    };
  return {
    done: true,
    message: `statefulset rolling update complete ${s.currentReplicas ?? 0} pods at revision ${s.currentRevision}...`,
  };
}
