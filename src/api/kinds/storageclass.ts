// storage.k8s.io/v1 StorageClass (cluster-scoped): how claims that name it get their volumes — which
// provisioner makes them, when (Immediate, or WaitForFirstConsumer: once a pod using the claim is
// scheduled, on that pod's node), what happens to them when released, and whether they may grow.
// Every cluster starts with one default class, `local-path` (Strata's built-in provisioner).
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type Cause, msg, Reason } from '../causes.ts';
import { ObjectMeta, QualifiedName } from '../meta.ts';

export const RECLAIM_POLICIES = ['Retain', 'Delete', 'Recycle'] as const;
export const PersistentVolumeReclaimPolicy = z.enum(RECLAIM_POLICIES);
export type PersistentVolumeReclaimPolicy = z.infer<typeof PersistentVolumeReclaimPolicy>;

export const VolumeBindingMode = z.enum(['Immediate', 'WaitForFirstConsumer']);
export type VolumeBindingMode = z.infer<typeof VolumeBindingMode>;

/** The annotation that marks the class claims without a storageClassName get (as in Kubernetes). */
export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
/** Strata's built-in provisioner: an ext4 image file on the node that runs the first consumer. */
export const LOCAL_PATH_PROVISIONER = 'strata.dev/local-path';
export const LOCAL_PATH_STORAGE_CLASS = 'local-path';

const TopologySelectorTerm = z.strictObject({
  matchLabelExpressions: z
    .array(z.strictObject({ key: QualifiedName, values: z.array(z.string()).min(1) }))
    .optional(),
});

export const StorageClass = z.strictObject({
  apiVersion: z.literal('storage.k8s.io/v1'),
  kind: z.literal('StorageClass'),
  metadata: ObjectMeta,
  /** Who makes the volumes: `strata.dev/local-path`, or an external name (claims then wait for it). */
  provisioner: QualifiedName,
  parameters: z.record(z.string(), z.string()).optional(),
  reclaimPolicy: z.enum(['Retain', 'Delete']).default('Delete'),
  mountOptions: z.array(z.string()).optional(),
  allowVolumeExpansion: z.boolean().optional(),
  volumeBindingMode: VolumeBindingMode.default('Immediate'),
  allowedTopologies: z.array(TopologySelectorTerm).optional(),
});
export type StorageClass = z.infer<typeof StorageClass>;

/** Whether `sc` is marked default (the annotation's value is "true", as Kubernetes reads it). */
export function isDefaultStorageClass(sc: Pick<StorageClass, 'metadata'>): boolean {
  return sc.metadata.annotations?.[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true';
}

/**
 * The class a claim without storageClassName gets: among default-marked classes the newest, as
 * Kubernetes (1.26+) picks when several are marked; undefined when none is.
 */
export function defaultStorageClass<T extends Pick<StorageClass, 'metadata'>>(
  classes: readonly T[],
): T | undefined {
  let best: T | undefined;
  for (const c of classes) {
    if (!isDefaultStorageClass(c)) continue;
    const ts = (x: T) => x.metadata.creationTimestamp ?? '';
    if (
      !best ||
      ts(c) > ts(best) ||
      (ts(c) === ts(best) && (c.metadata.name ?? '') < (best.metadata.name ?? ''))
    )
      best = c;
  }
  return best;
}

/** The class every cluster starts with (created at server start when missing; users may change or delete it). */
export function builtinLocalPathStorageClass(): StorageClass {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: {
      name: LOCAL_PATH_STORAGE_CLASS,
      annotations: { [DEFAULT_STORAGE_CLASS_ANNOTATION]: 'true' },
    },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: true,
  };
}

/** kube-apiserver's ValidateStorageClassUpdate: what may not change once the class exists. */
export function storageClassUpdateCauses(next: StorageClass, current: StorageClass): Cause[] {
  const causes: Cause[] = [];
  const same = (a: unknown, b: unknown) =>
    isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
  if (!same(next.parameters ?? {}, current.parameters ?? {}))
    causes.push({
      field: 'parameters',
      reason: Reason.Forbidden,
      message: msg.forbidden('updates to parameters are forbidden.'),
    });
  if (next.provisioner !== current.provisioner)
    causes.push({
      field: 'provisioner',
      reason: Reason.Forbidden,
      message: msg.forbidden('updates to provisioner are forbidden.'),
    });
  if (next.reclaimPolicy !== current.reclaimPolicy)
    causes.push({
      field: 'reclaimPolicy',
      reason: Reason.Forbidden,
      message: msg.forbidden('updates to reclaimPolicy are forbidden.'),
    });
  if (next.volumeBindingMode !== current.volumeBindingMode)
    causes.push({
      field: 'volumeBindingMode',
      reason: Reason.Forbidden,
      message: msg.forbidden('field is immutable'),
    });
  return causes;
}
