// apps/v1 Deployment: keeps `replicas` pods of a template running and rolls them to a new template.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, LabelSelector, ObjectMeta } from '../meta.ts';
import { defaultPodSpec, PodTemplateSpec } from './pod.ts';
import { validateWorkloadTemplate } from './workload-template.ts';

/** `maxSurge`/`maxUnavailable`: an absolute count or a percentage of replicas. */
export const IntOrPercent = z.union([z.int().min(0), z.string()]).superRefine((v, ctx) => {
  if (typeof v === 'string' && !/^\d+%$/.test(v))
    addCause(ctx, [], Reason.Invalid, msg.invalid(v, "must be an integer or percentage (e.g. 5 or '25%')"));
});
export type IntOrPercent = z.infer<typeof IntOrPercent>;

/** Resolve an IntOrPercent against `total`; percentages round up for surge and down for unavailable, as in k8s. */
export function resolveIntOrPercent(v: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const n = (Number.parseInt(v, 10) * total) / 100;
  return roundUp ? Math.ceil(n) : Math.floor(n);
}

function isZero(v: IntOrPercent | undefined): boolean {
  return v === 0 || v === '0%';
}

export const DeploymentStrategy = z.strictObject({
  type: z.enum(['RollingUpdate', 'Recreate']).default('RollingUpdate'),
  rollingUpdate: z
    .strictObject({ maxSurge: IntOrPercent.optional(), maxUnavailable: IntOrPercent.optional() })
    .optional(),
});
export type DeploymentStrategy = z.infer<typeof DeploymentStrategy>;

export const DeploymentSpec = z
  .strictObject({
    replicas: z.int().min(0).default(1),
    selector: LabelSelector,
    template: PodTemplateSpec,
    strategy: DeploymentStrategy.prefault({}),
    minReadySeconds: z.int().min(0).default(0),
    revisionHistoryLimit: z.int().min(0).default(10),
    progressDeadlineSeconds: z.int().min(1).default(600),
    paused: z.boolean().optional(),
  })
  .superRefine((spec, ctx) => {
    validateWorkloadTemplate(spec, ctx, 'deployment');
    const ru = spec.strategy.rollingUpdate;
    if (spec.strategy.type === 'Recreate' && ru)
      addCause(
        ctx,
        ['strategy', 'rollingUpdate'],
        Reason.Forbidden,
        msg.forbidden("may not be specified when strategy `type` is 'Recreate'"),
      );
    if (ru && isZero(ru.maxSurge) && isZero(ru.maxUnavailable))
      addCause(
        ctx,
        ['strategy', 'rollingUpdate', 'maxUnavailable'],
        Reason.Invalid,
        msg.invalid(ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'),
      );
    if (typeof ru?.maxUnavailable === 'string' && Number.parseInt(ru.maxUnavailable, 10) > 100)
      addCause(
        ctx,
        ['strategy', 'rollingUpdate', 'maxUnavailable'],
        Reason.Invalid,
        msg.invalid(ru.maxUnavailable, 'must not be greater than 100%'),
      );
    if (spec.progressDeadlineSeconds <= spec.minReadySeconds)
      addCause(
        ctx,
        ['progressDeadlineSeconds'],
        Reason.Invalid,
        msg.invalid(spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'),
      );
  });
export type DeploymentSpec = z.infer<typeof DeploymentSpec>;

const Count = z.int().min(0).optional();
export const DeploymentStatus = z.strictObject({
  observedGeneration: Count,
  replicas: Count,
  updatedReplicas: Count,
  readyReplicas: Count,
  availableReplicas: Count,
  unavailableReplicas: Count,
  /** Bumped on a ReplicaSet name collision; part of the pod-template-hash so the next name differs. */
  collisionCount: Count,
  conditions: z.array(Condition).optional(),
});
export type DeploymentStatus = z.infer<typeof DeploymentStatus>;

export const Deployment = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata: ObjectMeta,
  spec: DeploymentSpec,
  status: DeploymentStatus.optional(),
});
export type Deployment = z.infer<typeof Deployment>;

export function defaultDeployment(d: Deployment): void {
  defaultPodSpec(d.spec.template.spec, 'Always');
  if (d.spec.strategy.type === 'RollingUpdate') {
    const ru = (d.spec.strategy.rollingUpdate ??= {});
    ru.maxSurge ??= '25%';
    ru.maxUnavailable ??= '25%';
  }
}
