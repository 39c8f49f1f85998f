// The PersistentVolumeClaims a StatefulSet's volumeClaimTemplates describe: one per template and pod,
// named TEMPLATE-STATEFULSET-ORDINAL, carrying the template's spec and the pod's selector labels.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { LabelSelector, TemplateMeta } from '../meta.ts';
import { dns1123LabelErrors } from '../names.ts';
import { Quantity } from '../quantity.ts';

const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;

const ResourceList = z.record(z.string(), Quantity);

/** A claim's spec as a template gives it (core/v1 PersistentVolumeClaimSpec). */
export const StatefulSetClaimTemplateSpec = z
  .strictObject({
    accessModes: z.array(z.enum(ACCESS_MODES)).optional(),
    selector: LabelSelector.optional(),
    resources: z
      .strictObject({ requests: ResourceList.optional(), limits: ResourceList.optional() })
      .optional(),
    volumeName: z.string().optional(),
    storageClassName: z.string().optional(),
    volumeMode: z.enum(['Filesystem', 'Block']).optional(),
    dataSource: z
      .strictObject({ apiGroup: z.string().optional(), kind: z.string(), name: z.string() })
      .optional(),
    dataSourceRef: z
      .strictObject({
        apiGroup: z.string().optional(),
        kind: z.string(),
        name: z.string(),
        namespace: z.string().optional(),
      })
      .optional(),
    volumeAttributesClassName: z.string().optional(),
  })
  .superRefine((spec, ctx) => {
    // Kubernetes' ValidatePersistentVolumeClaimSpec: a claim must say how it is used and how big it is.
    if (!spec.accessModes?.length)
      addCause(ctx, ['accessModes'], Reason.Required, msg.required('at least 1 access mode is required'));
    if (spec.accessModes?.includes('ReadWriteOncePod') && spec.accessModes.length > 1)
      addCause(
        ctx,
        ['accessModes'],
        Reason.Forbidden,
        msg.forbidden('may not use ReadWriteOncePod with other access modes'),
      );
    if (spec.resources?.requests?.storage === undefined)
      addCause(ctx, ['resources', 'requests', 'storage'], Reason.Required, msg.required());
  });

/** One entry of spec.volumeClaimTemplates: a claim without namespace, whose name is the volume's name. */
export const StatefulSetClaimTemplate = z
  .strictObject({
    apiVersion: z.literal('v1').optional(),
    kind: z.literal('PersistentVolumeClaim').optional(),
    metadata: TemplateMeta,
    spec: StatefulSetClaimTemplateSpec,
    /** kubectl and client libraries send the (empty) status of the template they build. */
    status: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((t, ctx) => {
    // The template's name becomes a pod volume's name, so it must be a DNS label (not just a subdomain).
    const name = t.metadata.name;
    if (!name) return addCause(ctx, ['metadata', 'name'], Reason.Required, msg.required());
    for (const e of dns1123LabelErrors(name))
      addCause(ctx, ['metadata', 'name'], Reason.Invalid, msg.invalid(name, e));
  });
export type StatefulSetClaimTemplate = z.infer<typeof StatefulSetClaimTemplate>;
