// apps/v1 StatefulSet: pods with a stable identity — names NAME-0..N-1 (from `ordinals.start`), a host
// name under a headless Service (`hostname`/`subdomain`), and their own PersistentVolumeClaims made from
// `volumeClaimTemplates` (named TEMPLATE-NAME-ORDINAL) that outlive the pods. Pods are created in order and
// removed in reverse (OrderedReady) or all at once (Parallel); updates go from the highest ordinal down
// to `partition` (RollingUpdate) or wait for the user to delete pods (OnDelete).
import { z } from 'zod';
import { addCause, type Cause, msg, Reason } from '../causes.ts';
import { Condition, DNSLabel, LabelSelector, ObjectMeta } from '../meta.ts';
import { IntOrPercent } from './deployment.ts';
import { defaultPodSpec, PodTemplateSpec } from './pod.ts';
import { validateWorkloadTemplate } from './workload-template.ts';
import { StatefulSetClaimTemplate } from './statefulset-claims.ts';

export const StatefulSetPodManagementPolicy = z.enum(['OrderedReady', 'Parallel']);

export const RollingUpdateStatefulSetStrategy = z.strictObject({
  /** Pods with an ordinal index (counted from ordinals.start) below this keep the current revision. */
  partition: z.int().min(0).optional(),
  /** Pods (or a percentage of replicas, rounded down, at least 1) that may be unavailable during an update. */
  maxUnavailable: IntOrPercent.optional(),
});

export const StatefulSetUpdateStrategy = z.strictObject({
  type: z.enum(['RollingUpdate', 'OnDelete']).default('RollingUpdate'),
  rollingUpdate: RollingUpdateStatefulSetStrategy.optional(),
});
export type StatefulSetUpdateStrategy = z.infer<typeof StatefulSetUpdateStrategy>;

const RetentionPolicyType = z.enum(['Retain', 'Delete']);
export const StatefulSetPersistentVolumeClaimRetentionPolicy = z.strictObject({
  /** What happens to the claims when the StatefulSet is deleted. */
  whenDeleted: RetentionPolicyType.default('Retain'),
  /** What happens to the claims of pods removed by scaling down. */
  whenScaled: RetentionPolicyType.default('Retain'),
});

export const StatefulSetOrdinals = z.strictObject({
  /** The ordinal of the first replica (pod names START..START+replicas-1). */
  start: z.int().min(0).default(0),
});

export const StatefulSetSpec = z
  .strictObject({
    replicas: z.int().min(0).default(1),
    selector: LabelSelector,
    template: PodTemplateSpec,
    volumeClaimTemplates: z.array(StatefulSetClaimTemplate).optional(),
    /** The (headless) Service whose domain the pods' host names live in: NAME-i.SERVICE.NS.svc.cluster.local. */
    serviceName: DNSLabel.optional(),
    podManagementPolicy: StatefulSetPodManagementPolicy.default('OrderedReady'),
    updateStrategy: StatefulSetUpdateStrategy.prefault({}),
    revisionHistoryLimit: z.int().min(0).default(10),
    minReadySeconds: z.int().min(0).default(0),
    persistentVolumeClaimRetentionPolicy: StatefulSetPersistentVolumeClaimRetentionPolicy.prefault({}),
    ordinals: StatefulSetOrdinals.optional(),
  })
  .superRefine((spec, ctx) => {
    allowClaimMounts(spec, ctx as unknown as { issues: z.core.$ZodRawIssue[] });
    validateWorkloadTemplate(spec, ctx, 'statefulset');
    const deadline = spec.template.spec.activeDeadlineSeconds;
    if (deadline !== undefined)
      addCause(
        ctx,
        ['template', 'spec', 'activeDeadlineSeconds'],
        Reason.Forbidden,
        msg.forbidden('activeDeadlineSeconds in StatefulSet is not Supported'),
      );
    const strategy = spec.updateStrategy;
    if (strategy.type === 'OnDelete' && strategy.rollingUpdate)
      addCause(
        ctx,
        ['updateStrategy', 'rollingUpdate'],
        Reason.Invalid,
        msg.invalid(strategy.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"),
      );
    const mu = strategy.rollingUpdate?.maxUnavailable;
    if (mu !== undefined && (mu === 0 || mu === '0%'))
      addCause(
        ctx,
        ['updateStrategy', 'rollingUpdate', 'maxUnavailable'],
        Reason.Invalid,
        msg.invalid(mu, 'must be greater than 0'),
      );
    else if (typeof mu === 'string' && Number.parseInt(mu, 10) > 100)
      addCause(
        ctx,
        ['updateStrategy', 'rollingUpdate', 'maxUnavailable'],
        Reason.Invalid,
        msg.invalid(mu, 'must not be greater than 100%'),
      );
    const seen = new Set<string>();
    (spec.volumeClaimTemplates ?? []).forEach((t, i) => {
      const name = t.metadata?.name;
      if (!name) return;
      if (seen.has(name))
        addCause(ctx, ['volumeClaimTemplates', i, 'metadata', 'name'], Reason.Duplicate, msg.duplicate(name));
      seen.add(name);
    });
  });
export type StatefulSetSpec = z.infer<typeof StatefulSetSpec>;

/**
 * A container may mount a volumeClaimTemplate by its name: every pod gets that volume (a claim of its own),
 * though the template's own `volumes` do not list it. The pod template's check reported such mounts as
 * "Not found"; they are taken back here (Kubernetes does not check a StatefulSet's mounts at all).
 */
function allowClaimMounts(spec: StatefulSetSpec, ctx: { issues: z.core.$ZodRawIssue[] }): void {
  const claims = new Set((spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
  if (!claims.size || !Array.isArray(ctx.issues)) return;
  const containers: Record<string, { volumeMounts?: { name: string }[] }[] | undefined> = {
    initContainers: spec.template.spec.initContainers,
    containers: spec.template.spec.containers,
  };
  const isClaimMount = (issue: z.core.$ZodRawIssue): boolean => {
    const p = issue.path ?? [];
    if (
      p.length !== 7 ||
      p[0] !== 'template' ||
      p[1] !== 'spec' ||
      p[4] !== 'volumeMounts' ||
      p[6] !== 'name'
    )
      return false;
    const mount = containers[String(p[2])]?.[Number(p[3])]?.volumeMounts?.[Number(p[5])];
    return mount !== undefined && claims.has(mount.name) && String(issue.message).startsWith('Not found');
  };
  const kept = ctx.issues.filter((i) => !isClaimMount(i));
  ctx.issues.splice(0, ctx.issues.length, ...kept);
}

const Count = z.int().min(0).optional();
export const StatefulSetStatus = z.strictObject({
  observedGeneration: Count,
  /** Pods created by the controller (in range or condemned). */
  replicas: z.int().min(0).default(0),
  readyReplicas: Count,
  /** Ready for at least minReadySeconds. */
  availableReplicas: Count,
  /** Pods at currentRevision. */
  currentReplicas: Count,
  /** Pods at updateRevision. */
  updatedReplicas: Count,
  /** The ControllerRevision the pods below the update are at. */
  currentRevision: z.string().optional(),
  /** The ControllerRevision of the current template. */
  updateRevision: z.string().optional(),
  /** Bumped when a ControllerRevision name is taken by a different template, to make a new name. */
  collisionCount: Count,
  conditions: z.array(Condition).optional(),
});
export type StatefulSetStatus = z.infer<typeof StatefulSetStatus>;

export const StatefulSet = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('StatefulSet'),
  metadata: ObjectMeta,
  spec: StatefulSetSpec,
  status: StatefulSetStatus.optional(),
});
export type StatefulSet = z.infer<typeof StatefulSet>;

export function defaultStatefulSet(sts: StatefulSet): void {
  defaultPodSpec(sts.spec.template.spec, 'Always');
  // Kubernetes' SetDefaults_StatefulSet: a RollingUpdate strategy always carries its partition.
  if (sts.spec.updateStrategy.type === 'RollingUpdate') {
    const ru = (sts.spec.updateStrategy.rollingUpdate ??= {});
    ru.partition ??= 0;
  }
}

/** The spec fields a StatefulSet may change after creation (Kubernetes' ValidateStatefulSetUpdate). */
const MUTABLE_SPEC_FIELDS = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'revisionHistoryLimit',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
] as const;

/**
 * Why an update from `current` to `next` (both defaulted) is refused, if it is: a StatefulSet's selector,
 * serviceName, podManagementPolicy and volumeClaimTemplates are fixed at creation, as in Kubernetes.
 */
export function statefulSetUpdateCauses(current: StatefulSet, next: StatefulSet): Cause[] {
  const strip = (spec: StatefulSetSpec) => {
    const rest: Record<string, unknown> = { ...spec };
    for (const f of MUTABLE_SPEC_FIELDS) delete rest[f];
    return JSON.stringify(canonical(rest));
  };
  if (strip(current.spec) === strip(next.spec)) return [];
  return [
    {
      field: 'spec',
      reason: Reason.Forbidden,
      message: msg.forbidden(
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    },
  ];
}

/** Key order does not matter when comparing specs. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
  );
}
