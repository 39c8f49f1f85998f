// persistentVolumeClaimRetentionPolicy as owner references on a StatefulSet pod's claims, the way
// Kubernetes' updateClaimOwnerRefForSetAndPod keeps them (the garbage collector then deletes a claim after
// its owner):
//
//   whenDeleted  whenScaled  pod in range             pod scaled down (ordinal >= start + replicas)
//   Retain       Retain      none                     none
//   Delete       Retain      the StatefulSet          the StatefulSet
//   Retain       Delete      none                     the pod
//   Delete       Delete      the StatefulSet          the pod
//
// References are matched by kind and name (not uid), as Kubernetes does since 1.28, so a reference to an
// earlier pod of the same name is replaced rather than left to make the collector delete a claim in use.
import { startOrdinal } from '../api/index.ts';
import type { OwnerRef } from './pods.ts';

const refTo = (obj: any, apiVersion: string, kind: string): OwnerRef => ({
  apiVersion,
  kind,
  name: obj.metadata.name,
  uid: obj.metadata.uid,
});

/** Whether `ordinal` is one of the set's replicas (not condemned by a scale-down). */
export function ordinalInRange(set: any, ordinal: number): boolean {
  const start = startOrdinal(set);
  return ordinal >= start && ordinal < start + (set.spec.replicas ?? 1);
}

/**
 * The owner references a claim of `pod` (ordinal `ordinal`) should carry: `existing` without references to
 * the set or the pod, plus those the policy asks for. A pod not created yet (no uid) gets no reference.
 */
export function claimOwnerRefs(
  existing: readonly OwnerRef[] | undefined,
  set: any,
  pod: any,
  ordinal: number,
): OwnerRef[] | undefined {
  const policy = set.spec.persistentVolumeClaimRetentionPolicy ?? {};
  const deleteWithSet = policy.whenDeleted === 'Delete';
  const deleteWhenScaled = policy.whenScaled === 'Delete';
  const scaledDown = !ordinalInRange(set, ordinal);
  const others = (existing ?? []).filter(
    (r) =>
      !(r.kind === 'StatefulSet' && r.name === set.metadata.name) &&
      !(r.kind === 'Pod' && r.name === pod?.metadata?.name),
  );
  const refs = [...others];
  if (deleteWithSet && !(deleteWhenScaled && scaledDown)) refs.push(refTo(set, 'apps/v1', 'StatefulSet'));
  if (deleteWhenScaled && scaledDown && pod?.metadata?.uid) refs.push(refTo(pod, 'v1', 'Pod'));
  return refs.length ? refs : undefined;
}
