// Pod facts the workload controllers share: ownership, activity, readiness, and which pods to delete
// first when there are too many.
import { getCondition, kindFor, isDeleting, isReady } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import type { ObjectStore } from '../store/objects.ts';

const POD_KIND = kindFor('v1', 'Pod')!;

export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The ownerReference with controller: true, if any. */
export function controllerRef(obj: any): OwnerRef | undefined {
  return (obj?.metadata?.ownerReferences as OwnerRef[] | undefined)?.find((r) => r.controller === true);
}

export function controllerRefTo(owner: any): OwnerRef {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isFinished(pod: any): boolean {
  const phase = pod?.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Counts toward a controller's replicas: not finished and not on its way out. */
export function isActive(pod: any): boolean {
  return !isFinished(pod) && !isDeleting(pod);
}

/** Ready for at least `minReadySeconds` at `now`; with the ms still to wait when ready but not yet available. */
export function availability(
  pod: any,
  minReadySeconds: number,
  now: number,
): { available: boolean; waitMs?: number } {
  const ready = getCondition(pod?.status?.conditions, 'Ready');
  if (ready?.status !== 'True') return { available: false };
  if (!minReadySeconds) return { available: true };
  const since = Date.parse(ready.lastTransitionTime ?? '');
  if (!Number.isFinite(since)) return { available: true };
  const due = since + minReadySeconds * 1000;
  return due <= now ? { available: true } : { available: false, waitMs: due - now };
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Order for deletion when scaling down, best victims first (Kubernetes' ActivePods ordering, short):
 * unscheduled before scheduled, pending before running, not ready before ready, newer before older.
 */
export function deletionOrder(a: any, b: any): number {
  const boundA = a.spec?.nodeName ? 1 : 0;
  const boundB = b.spec?.nodeName ? 1 : 0;
  if (boundA !== boundB) return boundA - boundB;
  const phaseA = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const phaseB = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (phaseA !== phaseB) return phaseA - phaseB;
  const readyA = isReady(a) ? 1 : 0;
  const readyB = isReady(b) ? 1 : 0;
  if (readyA !== readyB) return readyA - readyB;
  const createdA = a.metadata?.creationTimestamp ?? '';
  const createdB = b.metadata?.creationTimestamp ?? '';
  if (createdA !== createdB) return createdA < createdB ? 1 : -1;
  return a.metadata.name < b.metadata.name ? 1 : -1;
}

/** The API server trims generateName so the random suffix still fits a 63-character name. */
const MAX_GENERATE_NAME = 58;
export function generateNameFor(prefix: string): string {
  return prefix.length > MAX_GENERATE_NAME ? prefix.slice(0, MAX_GENERATE_NAME) : prefix;
}

export const objectKeyOf = (obj: any): string =>
  obj?.metadata?.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj?.metadata?.name;

/**
 * Pods indexed by the uid of their controller of one kind, kept from informer events, so a reconcile
 * looks at its own pods rather than scanning every pod in the cluster.
 */
export class OwnedPodIndex {
  private readonly ownerKind: string;
  private readonly byOwner = new Map<string, Map<string, any>>();

  constructor(ownerKind: string) {
    this.ownerKind = ownerKind;
  }

  /** Record the latest version of a pod; returns its controller ref (of our kind) if it has one. */
  set(pod: any): OwnerRef | undefined {
    const ref = controllerRef(pod);
    const key = objectKeyOf(pod);
    if (!ref || ref.kind !== this.ownerKind) return undefined;
    let pods = this.byOwner.get(ref.uid);
    if (!pods) this.byOwner.set(ref.uid, (pods = new Map()));
    pods.set(key, pod);
    return ref;
  }

  delete(pod: any): OwnerRef | undefined {
    const ref = controllerRef(pod);
    if (!ref || ref.kind !== this.ownerKind) return undefined;
    const pods = this.byOwner.get(ref.uid);
    pods?.delete(objectKeyOf(pod));
    if (pods && pods.size === 0) this.byOwner.delete(ref.uid);
    return ref;
  }

  podsOf(uid: string): any[] {
    return [...(this.byOwner.get(uid)?.values() ?? [])];
  }

  countOf(uid: string): number {
    return this.byOwner.get(uid)?.size ?? 0;
  }
}

/**
 * Informer handlers that keep an OwnedPodIndex current and queue the owning controller's key for every
 * change of one of its pods, telling the controller's expectations about observed creations and deletions
 * (the same bookkeeping for Deployments, Jobs and DaemonSets).
 */
export function ownedPodHandlers(
  index: OwnedPodIndex,
  expectations: { creationObserved(key: string): void; deletionObserved(key: string): void },
  queue: { add(key: string): void },
): { onAdd(p: any): void; onUpdate(old: any, p: any): void; onDelete(p: any): void } {
  return {
    onAdd: (p) => {
      const ref = index.set(p);
      if (!ref) return;
      const key = `${p.metadata.namespace}/${ref.name}`;
      expectations.creationObserved(key);
      queue.add(key);
    },
    onUpdate: (old, p) => {
      const oldRef = index.delete(old);
      const ref = index.set(p);
      if (oldRef && oldRef.uid !== ref?.uid) queue.add(`${old.metadata.namespace}/${oldRef.name}`);
      if (!ref) return;
      const key = `${p.metadata.namespace}/${ref.name}`;
      if (!isDeleting(old) && isDeleting(p)) expectations.deletionObserved(key);
      queue.add(key);
    },
    onDelete: (p) => {
      const ref = index.delete(p);
      if (!ref) return;
      const key = `${p.metadata.namespace}/${ref.name}`;
      if (!isDeleting(p)) expectations.deletionObserved(key);
      queue.add(key);
    },
  };
}

/**
 * Deletes an owner's pods (uid-preconditioned, so a replacement of the same name is never hit), telling
 * the owner's expectations and recording SuccessfulDelete events; a pod already gone counts as deleted.
 * Throws the first other failure after every delete has been tried.
 */
export async function deleteOwnedPods(
  c: {
    objects: ObjectStore;
    expectations: {
      expect(key: string, adds: number, dels: number): void;
      deletionObserved(key: string): void;
    };
    recorder: { normal(obj: any, reason: string, message: string): void };
  },
  key: string,
  owner: any,
  pods: any[],
): Promise<void> {
  c.expectations.expect(key, 0, pods.length);
  const results = await Promise.allSettled(
    pods.map((p) =>
      c.objects.delete(POD_KIND, p.metadata.namespace, p.metadata.name, {
        preconditions: { uid: p.metadata.uid },
      }),
    ),
  );
  let firstError: unknown;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      c.recorder.normal(owner, 'SuccessfulDelete', `Deleted pod: ${pods[i].metadata.name}`);
      return;
    }
    c.expectations.deletionObserved(key);
    if (errorCode(r.reason) !== 404) firstError ??= r.reason;
  });
  if (firstError !== undefined) throw firstError;
}
