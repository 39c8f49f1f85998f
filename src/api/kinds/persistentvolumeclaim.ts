// v1 PersistentVolumeClaim: a namespaced request for storage (size, access modes, class) that pods mount
// by name. The PV controller binds it to a PersistentVolume (one made by the class's provisioner, or a
// matching one an administrator created); its spec is fixed once created except that a bound claim's
// requested size may grow when its class allows expansion. Validation follows kube-apiserver's
// ValidatePersistentVolumeClaim(Update) and its messages.
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type Cause, addCause, msg, Reason } from '../causes.ts';
import { Condition, LabelSelector, ObjectMeta, TemplateMeta } from '../meta.ts';
import { parseMemory, MemoryQuantity } from '../quantity.ts';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
export const PersistentVolumeAccessMode = z.string();
export type PersistentVolumeAccessMode = (typeof ACCESS_MODES)[number];

/** Only filesystems: Strata hands a volume to a pod as a mounted directory (or, to a microVM, a disk with one). */
export const PersistentVolumeMode = z.enum(['Filesystem', 'Block']);

/** The annotation the scheduler sets on a WaitForFirstConsumer claim: provision on this node. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
/** Set by the PV controller on claims a provisioner must make a volume for (as Kubernetes does). */
export const STORAGE_PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
/** Set on a claim once the PV controller has bound it (pv.kubernetes.io/bind-completed). */
export const BIND_COMPLETED_ANNOTATION = 'pv.kubernetes.io/bind-completed';
/** The finalizer that keeps a claim in use by a pod from going away under it. */
export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';

/** Access modes checked as kube-apiserver does: at least one, known ones, ReadWriteOncePod alone. */
export function accessModeCauses(
  modes: readonly string[] | undefined,
  path: PropertyKey[],
  ctx: z.RefinementCtx<any>,
) {
  if (!modes || modes.length === 0) {
    addCause(ctx, path, Reason.Required, msg.required('at least 1 access mode is required'));
    return;
  }
  modes.forEach((m, i) => {
    if (!(ACCESS_MODES as readonly string[]).includes(m))
      addCause(ctx, [...path, i], Reason.NotSupported, msg.notSupported(m, ACCESS_MODES));
  });
  if (modes.includes('ReadWriteOncePod') && modes.length > 1)
    addCause(
      ctx,
      path,
      Reason.Forbidden,
      msg.forbidden('may not use ReadWriteOncePod with other access modes'),
    );
}

const StorageResources = z.strictObject({
  storage: MemoryQuantity.optional(),
});

export const VolumeResourceRequirements = z.strictObject({
  requests: StorageResources.optional(),
  limits: StorageResources.optional(),
});

export const PersistentVolumeClaimSpec = z
  .strictObject({
    accessModes: z.array(PersistentVolumeAccessMode).optional(),
    selector: LabelSelector.optional(),
    resources: VolumeResourceRequirements.optional(),
    /** Bind to this PersistentVolume only (set by the PV controller once bound). */
    volumeName: z.string().optional(),
    /** The class; absent: the default class; "": only volumes without a class (no provisioning). */
    storageClassName: z.string().optional(),
    volumeMode: PersistentVolumeMode.default('Filesystem'),
  })
  .superRefine((spec, ctx) => {
    accessModeCauses(spec.accessModes, ['accessModes'], ctx);
    const storage = spec.resources?.requests?.storage;
    if (storage === undefined)
      addCause(ctx, ['resources', 'requests', 'storage'], Reason.Required, msg.required());
    else if (quantityBytes(storage) === 0)
      addCause(
        ctx,
        ['resources', 'requests', 'storage'],
        Reason.Invalid,
        msg.invalid(storage, 'must be greater than zero'),
      );
    if (spec.volumeMode === 'Block')
      addCause(ctx, ['volumeMode'], Reason.NotSupported, msg.notSupported(spec.volumeMode, ['Filesystem']));
  });
export type PersistentVolumeClaimSpec = z.infer<typeof PersistentVolumeClaimSpec>;

export const PersistentVolumeClaimPhase = z.enum(['Pending', 'Bound', 'Lost']);
export type PersistentVolumeClaimPhase = z.infer<typeof PersistentVolumeClaimPhase>;

export const PersistentVolumeClaimStatus = z.strictObject({
  phase: PersistentVolumeClaimPhase.optional(),
  accessModes: z.array(PersistentVolumeAccessMode).optional(),
  /** What the bound volume holds (grows once an expansion has finished on the node). */
  capacity: StorageResources.optional(),
  /** Resizing / FileSystemResizePending while an expansion is in progress. */
  conditions: z.array(Condition).optional(),
  allocatedResources: StorageResources.optional(),
  allocatedResourceStatuses: z.record(z.string(), z.string()).optional(),
});
export type PersistentVolumeClaimStatus = z.infer<typeof PersistentVolumeClaimStatus>;

export const PersistentVolumeClaim = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('PersistentVolumeClaim'),
  metadata: ObjectMeta,
  spec: PersistentVolumeClaimSpec,
  status: PersistentVolumeClaimStatus.optional(),
});
export type PersistentVolumeClaim = z.infer<typeof PersistentVolumeClaim>;

/** A claim inside another object (a pod's ephemeral volume, a StatefulSet's volumeClaimTemplates). */
export const PersistentVolumeClaimTemplate = z.strictObject({
  metadata: TemplateMeta.optional(),
  spec: PersistentVolumeClaimSpec,
});
export type PersistentVolumeClaimTemplate = z.infer<typeof PersistentVolumeClaimTemplate>;

/** A quantity in bytes; 0 for what does not parse (schemas have reported it already). */
export function quantityBytes(q: string | number | undefined): number {
  if (q === undefined) return 0;
  try {
    return parseMemory(q);
  } catch {
    return 0;
  }
}

/** The size a claim asks for, in bytes. */
export function claimRequestBytes(pvc: { spec: Pick<PersistentVolumeClaimSpec, 'resources'> }): number {
  return quantityBytes(pvc.spec.resources?.requests?.storage);
}

/**
 * kube-apiserver's ValidatePersistentVolumeClaimUpdate, plus the PersistentVolumeClaimResize admission:
 * the spec is immutable except that volumeName and storageClassName may be set once when empty (binding,
 * retroactive default class), and a bound claim's requests.storage may grow — only when its class allows
 * expansion (`allowVolumeExpansion`) — and never shrink. `classAllowsExpansion` is undefined when the
 * class is unknown.
 */
export function persistentVolumeClaimUpdateCauses(
  next: PersistentVolumeClaim,
  current: PersistentVolumeClaim,
  classAllowsExpansion: boolean | undefined,
): Cause[] {
  const causes: Cause[] = [];
  const a = structuredClone(current.spec);
  const b = structuredClone(next.spec);
  if (!a.volumeName) a.volumeName = b.volumeName;
  if (a.storageClassName === undefined) a.storageClassName = b.storageClassName;
  const oldSize = claimRequestBytes(current);
  const newSize = claimRequestBytes(next);
  const bound = current.status?.phase === 'Bound';
  if (bound && b.resources?.requests) {
    b.resources.requests.storage = a.resources?.requests?.storage;
    if (b.resources.limits === undefined && a.resources?.limits === undefined) delete b.resources.limits;
  }
  // Key order differs between a stored object and a re-validated one: compare structurally.
  const norm = (s: unknown) => JSON.parse(JSON.stringify(s));
  if (!isDeepStrictEqual(norm(a), norm(b))) {
    causes.push({
      field: 'spec',
      reason: Reason.Forbidden,
      message: msg.forbidden(
        'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      ),
    });
    return causes;
  }
  if (newSize === oldSize) return causes;
  const field = 'spec.resources.requests.storage';
  if (newSize < oldSize) {
    causes.push({
      field,
      reason: Reason.Forbidden,
      message: msg.forbidden('field can not be less than previous value'),
    });
    return causes;
  }
  if (classAllowsExpansion !== true)
    causes.push({
      field,
      reason: Reason.Forbidden,
      message: msg.forbidden(
        'only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize',
      ),
    });
  return causes;
}

/** What `kubectl get pvc` shows as the claim's capacity, and the PV controller reads as "bound size". */
export function claimCapacityBytes(pvc: Pick<PersistentVolumeClaim, 'status'>): number {
  return quantityBytes(pvc.status?.capacity?.storage);
}

/** A pod volume that mounts a claim by name (`volumes[].persistentVolumeClaim`). */
export const PersistentVolumeClaimVolumeSource = z.strictObject({
  claimName: z.string().min(1),
  readOnly: z.boolean().optional(),
});
export type PersistentVolumeClaimVolumeSource = z.infer<typeof PersistentVolumeClaimVolumeSource>;

/**
 * A generic ephemeral volume (`volumes[].ephemeral`): a claim made from the template for the pod, named
 * POD-VOLUME and owned by the pod, so it goes when the pod goes.
 */
export const EphemeralVolumeSource = z.strictObject({
  volumeClaimTemplate: PersistentVolumeClaimTemplate,
});
export type EphemeralVolumeSource = z.infer<typeof EphemeralVolumeSource>;

/** The claim a pod volume uses: its claimName, or POD-VOLUME for an ephemeral one; undefined for others. */
export function podVolumeClaimName(
  podName: string,
  volume: { name: string; persistentVolumeClaim?: { claimName: string }; ephemeral?: unknown },
): string | undefined {
  if (volume.persistentVolumeClaim) return volume.persistentVolumeClaim.claimName;
  if (volume.ephemeral) return `${podName}-${volume.name}`;
  return undefined;
}
