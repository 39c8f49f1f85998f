// metav1: ObjectMeta, owner references, conditions and label selectors — the parts every kind shares.
import { z } from 'zod';
import { addCause, msg, Reason } from './causes.ts';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
} from './names.ts';

/**
 * A string checked by a Kubernetes rule; each problem becomes one `Invalid value` cause. An empty
 * string is "Required value" (as kubectl reports an empty name) unless `allowEmpty`.
 */
export function checkedString(rule: (v: string) => string[], allowEmpty = false) {
  return z.string().superRefine((v, ctx) => {
    if (v === '' && !allowEmpty) return addCause(ctx, [], Reason.Required, msg.required());
    for (const e of rule(v)) addCause(ctx, [], Reason.Invalid, msg.invalid(v, e));
  });
}

export const DNSLabel = checkedString(dns1123LabelErrors);
export const DNSSubdomain = checkedString(dns1123SubdomainErrors);
export const QualifiedName = checkedString(qualifiedNameErrors);

/** RFC3339 time, with or without fractional seconds (Lease times carry microseconds). */
export const Timestamp = z.iso.datetime({ offset: true });

/** Label map; bad keys and values are reported on the map field itself, like Kubernetes does. */
export const Labels = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    for (const e of qualifiedNameErrors(k)) addCause(ctx, [], Reason.Invalid, msg.invalid(k, e));
    for (const e of labelValueErrors(v)) addCause(ctx, [], Reason.Invalid, msg.invalid(v, e));
  }
});
export type Labels = z.infer<typeof Labels>;

const MAX_ANNOTATIONS_BYTES = 256 * 1024;
export const Annotations = z.record(z.string(), z.string()).superRefine((annotations, ctx) => {
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const e of qualifiedNameErrors(k)) addCause(ctx, [], Reason.Invalid, msg.invalid(k, e));
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > MAX_ANNOTATIONS_BYTES) addCause(ctx, [], Reason.TooLong, msg.tooLong(MAX_ANNOTATIONS_BYTES));
});

export const OwnerReference = z.strictObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof OwnerReference>;

/** `generateName` is a prefix: a trailing '-' is fine because random characters follow it. */
function maskTrailingDash(prefix: string): string {
  return prefix.endsWith('-') ? `${prefix.slice(0, -1)}a` : prefix;
}

/** ObjectMeta whose `name` follows `nameRule` (most kinds: DNS subdomain; Namespace: DNS label). */
export function objectMetaWith(nameRule: (v: string) => string[]) {
  return z
    .strictObject({
      name: checkedString(nameRule).optional(),
      generateName: z.string().optional(),
      namespace: DNSLabel.optional(),
      uid: z.string().optional(),
      labels: Labels.optional(),
      annotations: Annotations.optional(),
      resourceVersion: z.string().optional(),
      generation: z.int().min(0).optional(),
      // null is what `kubectl create --dry-run=client -o yaml` writes; such manifests must just work.
      creationTimestamp: Timestamp.nullable().optional(),
      deletionTimestamp: Timestamp.optional(),
      deletionGracePeriodSeconds: z.int().min(0).optional(),
      ownerReferences: z.array(OwnerReference).optional(),
      finalizers: z.array(QualifiedName).optional(),
      // Server-side apply's field ownership; the store computes it (src/api/patch/managed-fields.ts) and drops
      // what a client sends, so it is declared here for `kubectl explain` and clients that send it back.
      managedFields: z
        .array(
          z.looseObject({
            manager: z.string().optional(),
            operation: z.enum(['Apply', 'Update']).optional(),
            apiVersion: z.string().optional(),
            time: Timestamp.optional(),
            fieldsType: z.literal('FieldsV1').optional(),
            fieldsV1: z.record(z.string(), z.unknown()).optional(),
            subresource: z.string().optional(),
          }),
        )
        .optional(),
    })
    .superRefine((m, ctx) => {
      if (!m.name && !m.generateName)
        addCause(ctx, ['name'], Reason.Required, msg.required('name or generateName is required'));
      if (m.generateName && !m.name)
        for (const e of nameRule(maskTrailingDash(m.generateName)))
          addCause(ctx, ['generateName'], Reason.Invalid, msg.invalid(m.generateName, e));
      const controllers = (m.ownerReferences ?? []).filter((r) => r.controller);
      if (controllers.length > 1)
        addCause(
          ctx,
          ['ownerReferences'],
          Reason.Invalid,
          msg.invalid(
            controllers.map((r) => `${r.kind}/${r.name}`),
            'Only one reference can have Controller set to true',
          ),
        );
    });
}

export const ObjectMeta = objectMetaWith(dns1123SubdomainErrors);
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/**
 * The metadata a template may carry (Deployment/Job `spec.template.metadata`, CronJob `jobTemplate.metadata`).
 * Kubernetes types it as a whole ObjectMeta; a name or namespace there is accepted and not used (objects made
 * from the template get their own), as kube-controller-manager does — `kubectl create cronjob` sets one.
 */
export const TemplateMeta = z.strictObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  labels: Labels.optional(),
  annotations: Annotations.optional(),
  creationTimestamp: Timestamp.nullable().optional(),
});

/** Fields of a list response (`PodList.metadata`). */
export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
}

/** A v1 ObjectReference: every field optional, as Kubernetes types it (EndpointSlice targetRef, CronJob active). */
export const ObjectReference = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});
export type ObjectReference = z.infer<typeof ObjectReference>;

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);
export type ConditionStatus = z.infer<typeof ConditionStatus>;

/** One condition shape for every kind; the per-kind timestamps are all optional. */
export const Condition = z.strictObject({
  type: z.string().min(1),
  status: ConditionStatus,
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: Timestamp.optional(),
  lastProbeTime: Timestamp.nullable().optional(),
  lastHeartbeatTime: Timestamp.optional(),
  lastUpdateTime: Timestamp.optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type Condition = z.infer<typeof Condition>;

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** On its way out: a deletion was asked for (finalizers or a grace period keep it a while). */
export function isDeleting(obj: any): boolean {
  return !!obj?.metadata?.deletionTimestamp;
}

/** A pod whose Ready condition is True. */
export function isReady(pod: any): boolean {
  return getCondition(pod?.status?.conditions, 'Ready')?.status === 'True';
}

/**
 * Return `conditions` with `next` set in place of the condition of the same type. lastTransitionTime
 * only moves when the status changes, so "since when" stays meaningful across repeated reconciles.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  next: Condition,
  now: string = new Date().toISOString(),
): Condition[] {
  const list = conditions ?? [];
  const prev = getCondition(list, next.type);
  const transition = prev && prev.status === next.status ? prev.lastTransitionTime : now;
  const merged: Condition = { ...next, lastTransitionTime: next.lastTransitionTime ?? transition ?? now };
  return prev ? list.map((c) => (c === prev ? merged : c)) : [...list, merged];
}

export const LabelSelectorOperator = z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']);

export const LabelSelectorRequirement = z
  .strictObject({
    key: QualifiedName,
    operator: LabelSelectorOperator,
    values: z.array(z.string()).optional(),
  })
  .superRefine((r, ctx) => {
    const n = r.values?.length ?? 0;
    if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0)
      addCause(
        ctx,
        ['values'],
        Reason.Required,
        msg.required('must be specified when `operator` is In or NotIn'),
      );
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0)
      addCause(
        ctx,
        ['values'],
        Reason.Forbidden,
        msg.forbidden('may not be specified when `operator` is Exists or DoesNotExist'),
      );
    r.values?.forEach((v, i) => {
      for (const e of labelValueErrors(v)) addCause(ctx, ['values', i], Reason.Invalid, msg.invalid(v, e));
    });
  });
export type LabelSelectorRequirement = z.infer<typeof LabelSelectorRequirement>;

export const LabelSelector = z.strictObject({
  matchLabels: Labels.optional(),
  matchExpressions: z.array(LabelSelectorRequirement).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;
