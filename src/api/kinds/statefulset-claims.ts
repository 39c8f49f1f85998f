// The PersistentVolumeClaims a StatefulSet's volumeClaimTemplates describe: one per template and pod,
// named TEMPLATE-STATEFULSET-ORDINAL, carrying the template's spec (validated as any claim's) and the
// set's selector labels.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { TemplateMeta } from '../meta.ts';
import { dns1123LabelErrors } from '../names.ts';
import { PersistentVolumeClaimSpec } from './persistentvolumeclaim.ts';

/** One entry of spec.volumeClaimTemplates: a claim without namespace, whose name is the volume's name. */
export const StatefulSetClaimTemplate = z
  .strictObject({
    apiVersion: z.literal('v1').optional(),
    kind: z.literal('PersistentVolumeClaim').optional(),
    metadata: TemplateMeta,
    spec: PersistentVolumeClaimSpec,
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
