// apps/v1 ReplicaSet: keeps `replicas` pods matching its selector running, creating them from its
// template. Deployments manage one ReplicaSet per pod template (named `<deployment>-<pod-template-hash>`)
// and roll between them; a ReplicaSet can also be used on its own.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, LabelSelector, ObjectMeta } from '../meta.ts';
import { defaultPodSpec, PodTemplateSpec } from './pod.ts';
import { validateWorkloadTemplate } from './workload-template.ts';

export const ReplicaSetSpec = z
  .strictObject({
    replicas: z.int().min(0).default(1),
    /** A new pod counts as available once Ready for this long. */
    minReadySeconds: z.int().min(0).default(0),
    selector: LabelSelector,
    template: PodTemplateSpec,
  })
  .superRefine((spec, ctx) => {
    validateWorkloadTemplate(spec, ctx, 'deployment');
    const deadline = spec.template.spec.activeDeadlineSeconds;
    if (deadline !== undefined)
      addCause(
        ctx,
        ['template', 'spec', 'activeDeadlineSeconds'],
        Reason.Invalid,
        msg.invalid(deadline, 'activeDeadlineSeconds in ReplicaSet is not Supported'),
      );
  });
export type ReplicaSetSpec = z.infer<typeof ReplicaSetSpec>;

const Count = z.int().min(0).optional();
export const ReplicaSetStatus = z.strictObject({
  /** Pods the ReplicaSet owns that are neither finished nor being deleted. */
  replicas: z.int().min(0).default(0),
  /** Of those, the ones whose labels match every label of the template. */
  fullyLabeledReplicas: Count,
  readyReplicas: Count,
  /** Ready for at least minReadySeconds. */
  availableReplicas: Count,
  observedGeneration: Count,
  /** ReplicaFailure (True while pods cannot be created or deleted). */
  conditions: z.array(Condition).optional(),
});
export type ReplicaSetStatus = z.infer<typeof ReplicaSetStatus>;

export const ReplicaSet = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('ReplicaSet'),
  metadata: ObjectMeta,
  spec: ReplicaSetSpec,
  status: ReplicaSetStatus.optional(),
});
export type ReplicaSet = z.infer<typeof ReplicaSet>;

export function defaultReplicaSet(rs: ReplicaSet): void {
  defaultPodSpec(rs.spec.template.spec, 'Always');
}
