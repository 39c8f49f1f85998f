// v1 PersistentVolume (cluster-scoped): a piece of storage a claim binds to. Strata's local-path
// provisioner makes them as `csi` volumes of driver `strata.dev/local-path` (the volumeHandle names an
// ext4 image file in the node's data dir) with node affinity to the node that holds the file; an
// administrator may also create `local` or `hostPath` volumes (a directory on a node). Validation follows
// kube-apiserver's ValidatePersistentVolume(Update) and its messages.
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type Cause, addCause, exactlyOne, msg, Reason } from '../causes.ts';
import { ObjectMeta, ObjectReference, Timestamp } from '../meta.ts';
import { MemoryQuantity } from '../quantity.ts';
import {
  accessModeCauses,
  PersistentVolumeAccessMode,
  PersistentVolumeMode,
  quantityBytes,
} from './persistentvolumeclaim.ts';
import { HOST_PATH_TYPES, NodeSelector } from './pod.ts';
import { PersistentVolumeReclaimPolicy } from './storageclass.ts';

/** The CSI driver name of volumes made by Strata's local-path provisioner. */
export const LOCAL_PATH_DRIVER = 'strata.dev/local-path';
/** On a PV: which provisioner made it (the PV controller deletes only its own volumes on reclaim). */
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
/** The finalizer that keeps a bound volume from going away under its claim. */
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';

export const CSIPersistentVolumeSource = z.strictObject({
  driver: z.string().min(1),
  volumeHandle: z.string().min(1),
  readOnly: z.boolean().optional(),
  fsType: z.string().optional(),
  volumeAttributes: z.record(z.string(), z.string()).optional(),
});
export type CSIPersistentVolumeSource = z.infer<typeof CSIPersistentVolumeSource>;

export const LocalVolumeSource = z.strictObject({
  path: z.string().startsWith('/'),
  fsType: z.string().optional(),
});

export const HostPathPersistentVolumeSource = z.strictObject({
  path: z.string().startsWith('/'),
  type: z.enum(HOST_PATH_TYPES).optional(),
});

export const VolumeNodeAffinity = z.strictObject({ required: NodeSelector.optional() });

const VOLUME_SOURCES = ['csi', 'local', 'hostPath'] as const;

export const PersistentVolumeSpec = z
  .strictObject({
    capacity: z.strictObject({ storage: MemoryQuantity.optional() }).optional(),
    accessModes: z.array(PersistentVolumeAccessMode).optional(),
    csi: CSIPersistentVolumeSource.optional(),
    local: LocalVolumeSource.optional(),
    hostPath: HostPathPersistentVolumeSource.optional(),
    /** The claim this volume is bound (or reserved) to. */
    claimRef: ObjectReference.optional(),
    persistentVolumeReclaimPolicy: PersistentVolumeReclaimPolicy.default('Retain'),
    storageClassName: z.string().optional(),
    mountOptions: z.array(z.string()).optional(),
    volumeMode: PersistentVolumeMode.default('Filesystem'),
    nodeAffinity: VolumeNodeAffinity.optional(),
  })
  .superRefine((spec, ctx) => {
    accessModeCauses(spec.accessModes, ['accessModes'], ctx);
    const storage = spec.capacity?.storage;
    if (storage === undefined) addCause(ctx, ['capacity'], Reason.Required, msg.required());
    else if (quantityBytes(storage) === 0)
      addCause(
        ctx,
        ['capacity', 'storage'],
        Reason.Invalid,
        msg.invalid(storage, 'must be greater than zero'),
      );
    exactlyOne(VOLUME_SOURCES, 'volume type')(spec, ctx);
    if (spec.local && !spec.nodeAffinity?.required)
      addCause(ctx, ['nodeAffinity'], Reason.Required, msg.required('Local volume requires node affinity'));
    if (spec.persistentVolumeReclaimPolicy === 'Recycle')
      addCause(
        ctx,
        ['persistentVolumeReclaimPolicy'],
        Reason.NotSupported,
        msg.notSupported(spec.persistentVolumeReclaimPolicy, ['Retain', 'Delete']),
      );
    if (spec.volumeMode === 'Block')
      addCause(ctx, ['volumeMode'], Reason.NotSupported, msg.notSupported(spec.volumeMode, ['Filesystem']));
  });
export type PersistentVolumeSpec = z.infer<typeof PersistentVolumeSpec>;

export const PersistentVolumePhase = z.enum(['Pending', 'Available', 'Bound', 'Released', 'Failed']);
export type PersistentVolumePhase = z.infer<typeof PersistentVolumePhase>;

export const PersistentVolumeStatus = z.strictObject({
  phase: PersistentVolumePhase.optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  lastPhaseTransitionTime: Timestamp.optional(),
});
export type PersistentVolumeStatus = z.infer<typeof PersistentVolumeStatus>;

export const PersistentVolume = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('PersistentVolume'),
  metadata: ObjectMeta,
  spec: PersistentVolumeSpec,
  status: PersistentVolumeStatus.optional(),
});
export type PersistentVolume = z.infer<typeof PersistentVolume>;

/** kube-apiserver's ValidatePersistentVolumeUpdate: the volume source and volumeMode are fixed. */
export function persistentVolumeUpdateCauses(next: PersistentVolume, current: PersistentVolume): Cause[] {
  const causes: Cause[] = [];
  const source = (pv: PersistentVolume) =>
    JSON.parse(JSON.stringify(VOLUME_SOURCES.map((k) => pv.spec[k] ?? null)));
  if (!isDeepStrictEqual(source(next), source(current)))
    causes.push({
      field: 'spec.persistentvolumesource',
      reason: Reason.Forbidden,
      message: msg.forbidden('spec.persistentvolumesource is immutable after creation'),
    });
  if (next.spec.volumeMode !== current.spec.volumeMode)
    causes.push({
      field: 'spec.volumeMode',
      reason: Reason.Invalid,
      message: msg.invalid(next.spec.volumeMode, 'field is immutable'),
    });
  if (
    current.spec.nodeAffinity?.required &&
    !isDeepStrictEqual(
      JSON.parse(JSON.stringify(next.spec.nodeAffinity ?? null)),
      JSON.parse(JSON.stringify(current.spec.nodeAffinity)),
    )
  )
    causes.push({
      field: 'spec.nodeAffinity',
      reason: Reason.Invalid,
      message: msg.invalid('', 'field is immutable'),
    });
  return causes;
}

/** The size a volume holds, in bytes. */
export function volumeCapacityBytes(pv: Pick<PersistentVolume, 'spec'>): number {
  return quantityBytes(pv.spec.capacity?.storage);
}

/**
 * The node a local volume lives on: the single `kubernetes.io/hostname In [node]` term Strata's
 * provisioner writes (and that administrators write for `local` volumes). Undefined when the affinity is
 * anything else (the scheduler then evaluates it as a node selector).
 */
export function volumeNodeName(pv: Pick<PersistentVolume, 'spec'>): string | undefined {
  const terms = pv.spec.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  if (terms.length !== 1) return undefined;
  const exprs = terms[0].matchExpressions ?? [];
  const host = exprs.find((e) => e.key === 'kubernetes.io/hostname' && e.operator === 'In');
  return host?.values?.length === 1 ? host.values[0] : undefined;
}

/** Node affinity pinning a volume to one node. */
export function nodeAffinityFor(node: string): z.input<typeof VolumeNodeAffinity> {
  return {
    required: {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
      ],
    },
  };
}

/**
 * On a Node: the bytes of local volumes the node can hold (written by the node's volume manager from the
 * size of the filesystem under its data dir). The scheduler subtracts the volumes already on the node.
 */
export const LOCAL_STORAGE_CAPACITY_ANNOTATION = 'storage.strata.dev/local-capacity';

/** Whether `pv` is a volume of Strata's local-path provisioner (an ext4 image file on its node). */
export function isLocalPathVolume(pv: Pick<PersistentVolume, 'spec'>): boolean {
  return pv.spec.csi?.driver === LOCAL_PATH_DRIVER;
}

/**
 * Whether an unbound volume can serve a claim (the PV controller's findMatchingVolume rules): same class
 * ("" matches ""), every access mode the claim asks for, enough capacity, the claim's selector, and not
 * reserved for another claim.
 */
export function volumeMatchesClaim(
  pv: PersistentVolume,
  claim: {
    metadata: { name?: string; namespace?: string; uid?: string };
    spec: {
      storageClassName?: string;
      accessModes?: string[];
      resources?: { requests?: { storage?: string | number } };
      selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    };
  },
  selectorMatches: (labels: Record<string, string> | undefined) => boolean,
): boolean {
  const ref = pv.spec.claimRef;
  if (ref && (ref.name !== claim.metadata.name || ref.namespace !== claim.metadata.namespace)) return false;
  if (ref?.uid && ref.uid !== claim.metadata.uid) return false;
  if ((pv.spec.storageClassName ?? '') !== (claim.spec.storageClassName ?? '')) return false;
  const modes = new Set(pv.spec.accessModes ?? []);
  if (!(claim.spec.accessModes ?? []).every((m) => modes.has(m))) return false;
  if (volumeCapacityBytes(pv) < quantityBytes(claim.spec.resources?.requests?.storage)) return false;
  if (claim.spec.selector && !selectorMatches(pv.metadata.labels)) return false;
  return true;
}
