// apps/v1 DaemonSet: one pod of a template on every node that matches the template's placement rules
// (nodeSelector, node affinity, tolerations) — node-level services such as log shippers or proxies.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, LabelSelector, ObjectMeta } from '../meta.ts';
import { IntOrPercent } from './deployment.ts';
import { defaultPodSpec, PodTemplateSpec } from './pod.ts';
import { validateWorkloadTemplate } from './workload-template.ts';

export const DaemonSetUpdateStrategy = z.strictObject({
  type: z.enum(['RollingUpdate', 'OnDelete']).default('RollingUpdate'),
  rollingUpdate: z
    .strictObject({ maxUnavailable: IntOrPercent.optional(), maxSurge: IntOrPercent.optional() })
    .optional(),
});
export type DaemonSetUpdateStrategy = z.infer<typeof DaemonSetUpdateStrategy>;

export const DaemonSetSpec = z
  .strictObject({
    selector: LabelSelector,
    template: PodTemplateSpec,
    updateStrategy: DaemonSetUpdateStrategy.prefault({}),
    minReadySeconds: z.int().min(0).default(0),
    revisionHistoryLimit: z.int().min(0).default(10),
  })
  .superRefine((spec, ctx) => {
    validateWorkloadTemplate(spec, ctx, 'daemonset');
    const strategy = spec.updateStrategy;
    if (strategy.type === 'OnDelete' && strategy.rollingUpdate)
      addCause(
        ctx,
        ['updateStrategy', 'rollingUpdate'],
        Reason.Forbidden,
        msg.forbidden("may not be specified when strategy `type` is 'OnDelete'"),
      );
    const ru = strategy.rollingUpdate;
    const zero = (v: IntOrPercent | undefined) => v === undefined || v === 0 || v === '0%';
    if (ru && ru.maxUnavailable !== undefined && zero(ru.maxUnavailable) && zero(ru.maxSurge))
      addCause(
        ctx,
        ['updateStrategy', 'rollingUpdate', 'maxUnavailable'],
        Reason.Invalid,
        msg.invalid(ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'),
      );
  });
export type DaemonSetSpec = z.infer<typeof DaemonSetSpec>;

const Count = z.int().min(0).optional();
export const DaemonSetStatus = z.strictObject({
  /** Nodes running at least one daemon pod that should. */
  currentNumberScheduled: Count,
  /** Nodes that should run the daemon pod. */
  desiredNumberScheduled: Count,
  /** Nodes running a daemon pod that should not. */
  numberMisscheduled: Count,
  numberReady: Count,
  numberAvailable: Count,
  numberUnavailable: Count,
  updatedNumberScheduled: Count,
  observedGeneration: Count,
  collisionCount: Count,
  conditions: z.array(Condition).optional(),
});
export type DaemonSetStatus = z.infer<typeof DaemonSetStatus>;

export const DaemonSet = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('DaemonSet'),
  metadata: ObjectMeta,
  spec: DaemonSetSpec,
  status: DaemonSetStatus.optional(),
});
export type DaemonSet = z.infer<typeof DaemonSet>;

export function defaultDaemonSet(ds: DaemonSet): void {
  defaultPodSpec(ds.spec.template.spec, 'Always');
  if (ds.spec.updateStrategy.type === 'RollingUpdate') {
    const ru = (ds.spec.updateStrategy.rollingUpdate ??= {});
    ru.maxUnavailable ??= 1;
    ru.maxSurge ??= 0;
  }
}
