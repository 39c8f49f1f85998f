// policy/v1 PodDisruptionBudget: how many pods of a set must stay up during voluntary disruptions
// (drain, preemption, eviction). And policy/v1 Eviction: the body of POST .../pods/{name}/eviction, the
// polite delete that a PodDisruptionBudget may refuse (429) — not a stored kind.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, DNSLabel, DNSSubdomain, LabelSelector, ObjectMeta, Timestamp } from '../meta.ts';
import { IntOrPercent, resolveIntOrPercent } from './deployment.ts';

function percentOver100(v: IntOrPercent | undefined): boolean {
  return typeof v === 'string' && Number.parseInt(v, 10) > 100;
}

export const PodDisruptionBudgetSpec = z
  .strictObject({
    minAvailable: IntOrPercent.optional(),
    maxUnavailable: IntOrPercent.optional(),
    /** Pods the budget covers (in its namespace). Absent matches none; `{}` matches all. */
    selector: LabelSelector.optional(),
    unhealthyPodEvictionPolicy: z.enum(['IfHealthyBudget', 'AlwaysAllow']).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
      addCause(
        ctx,
        ['maxUnavailable'],
        Reason.Forbidden,
        msg.forbidden('minAvailable and maxUnavailable cannot be both set'),
      );
    if (spec.minAvailable === undefined && spec.maxUnavailable === undefined)
      addCause(ctx, ['minAvailable'], Reason.Required, msg.required('one of minAvailable or maxUnavailable'));
    for (const f of ['minAvailable', 'maxUnavailable'] as const)
      if (percentOver100(spec[f]))
        addCause(ctx, [f], Reason.Invalid, msg.invalid(spec[f], 'must not be greater than 100%'));
  });
export type PodDisruptionBudgetSpec = z.infer<typeof PodDisruptionBudgetSpec>;

const Count = z.int().min(0).optional();
export const PodDisruptionBudgetStatus = z.strictObject({
  observedGeneration: Count,
  /** Pods evicted whose deletion the controller has not observed yet: name → time of eviction. */
  disruptedPods: z.record(z.string(), Timestamp).optional(),
  disruptionsAllowed: Count,
  currentHealthy: Count,
  desiredHealthy: Count,
  expectedPods: Count,
  /** `DisruptionAllowed` True/False with reason SufficientPods / InsufficientPods / SyncFailed. */
  conditions: z.array(Condition).optional(),
});
export type PodDisruptionBudgetStatus = z.infer<typeof PodDisruptionBudgetStatus>;

export const PodDisruptionBudget = z.strictObject({
  apiVersion: z.literal('policy/v1'),
  kind: z.literal('PodDisruptionBudget'),
  metadata: ObjectMeta,
  spec: PodDisruptionBudgetSpec,
  status: PodDisruptionBudgetStatus.optional(),
});
export type PodDisruptionBudget = z.infer<typeof PodDisruptionBudget>;

/**
 * The healthy pods a budget wants, given how many pods it covers (`expected`): minAvailable as given
 * (percent rounded up), or expected minus maxUnavailable (percent rounded up), as the k8s disruption
 * controller computes it.
 */
export function pdbDesiredHealthy(spec: PodDisruptionBudgetSpec, expected: number): number {
  if (spec.minAvailable !== undefined) return resolveIntOrPercent(spec.minAvailable, expected, true);
  if (spec.maxUnavailable !== undefined)
    return Math.max(0, expected - resolveIntOrPercent(spec.maxUnavailable, expected, true));
  return 0;
}

export const Preconditions = z.strictObject({
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
});

export const DeleteOptions = z.strictObject({
  // kubectl sends these on the embedded DeleteOptions.
  apiVersion: z.string().optional(),
  kind: z.literal('DeleteOptions').optional(),
  gracePeriodSeconds: z.int().min(0).optional(),
  preconditions: Preconditions.optional(),
  propagationPolicy: z.enum(['Orphan', 'Background', 'Foreground']).optional(),
  dryRun: z.array(z.literal('All')).optional(),
});
export type DeleteOptions = z.infer<typeof DeleteOptions>;

/** Body of `POST /api/v1/namespaces/{ns}/pods/{name}/eviction`. Not a stored kind. */
export const EvictionSchema = z.strictObject({
  apiVersion: z.literal('policy/v1'),
  kind: z.literal('Eviction'),
  metadata: z.strictObject({
    name: DNSSubdomain,
    namespace: DNSLabel.optional(),
    // kubectl drain's JSON always carries `"creationTimestamp": null`.
    creationTimestamp: Timestamp.nullable().optional(),
  }),
  deleteOptions: DeleteOptions.optional(),
});
export type Eviction = z.infer<typeof EvictionSchema>;
