// autoscaling/v1 HorizontalPodAutoscaler: the CPU-only shape `kubectl autoscale` of kubectl ≤ 1.32
// creates (targetCPUUtilizationPercentage). Both versions live under the same storage key, as in kube;
// an object keeps the version it was written in, and the HPA controller reads a v1 object as the v2
// object kube would convert it to (one cpu Utilization metric, default 80 %), writing a v1 status.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta, Timestamp } from '../meta.ts';
import {
  CrossVersionObjectReference,
  DEFAULT_CPU_UTILIZATION,
  type HorizontalPodAutoscalerSpec,
  type HorizontalPodAutoscalerStatus,
  checkReplicaRange,
} from './hpa.ts';

const SpecV1 = z
  .strictObject({
    scaleTargetRef: CrossVersionObjectReference,
    minReplicas: z.int().optional(),
    maxReplicas: z.int(),
    targetCPUUtilizationPercentage: z.int().optional(),
  })
  .superRefine((spec, ctx) => {
    checkReplicaRange(ctx, spec);
    const t = spec.targetCPUUtilizationPercentage;
    if (t !== undefined && t < 1)
      addCause(
        ctx,
        ['targetCPUUtilizationPercentage'],
        Reason.Invalid,
        msg.invalid(t, 'must be greater than 0'),
      );
  });

export const HorizontalPodAutoscalerV1Status = z.strictObject({
  observedGeneration: z.int().min(0).optional(),
  lastScaleTime: Timestamp.optional(),
  currentReplicas: z.int().min(0).optional(),
  desiredReplicas: z.int().min(0).optional(),
  currentCPUUtilizationPercentage: z.int().optional(),
});

export const HorizontalPodAutoscalerV1 = z.strictObject({
  apiVersion: z.literal('autoscaling/v1'),
  kind: z.literal('HorizontalPodAutoscaler'),
  metadata: ObjectMeta,
  spec: SpecV1,
  status: HorizontalPodAutoscalerV1Status.optional(),
});
export type HorizontalPodAutoscalerV1 = z.infer<typeof HorizontalPodAutoscalerV1>;

export function defaultHorizontalPodAutoscalerV1(hpa: HorizontalPodAutoscalerV1): void {
  hpa.spec.minReplicas ??= 1;
}

/** The v2 spec kube's conversion gives a v1 object (the CPU target, 80 % when unset). */
export function hpaV1SpecToV2(spec: HorizontalPodAutoscalerV1['spec']): HorizontalPodAutoscalerSpec {
  return {
    scaleTargetRef: spec.scaleTargetRef,
    minReplicas: spec.minReplicas ?? 1,
    maxReplicas: spec.maxReplicas,
    metrics: [
      {
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: {
            type: 'Utilization',
            averageUtilization: spec.targetCPUUtilizationPercentage ?? DEFAULT_CPU_UTILIZATION,
          },
        },
      },
    ],
  };
}

/** The v1 status kube's conversion gives a v2 status: no conditions or metric list, the CPU utilization alone. */
export function hpaV2StatusToV1(status: HorizontalPodAutoscalerStatus): HorizontalPodAutoscalerV1['status'] {
  const cpu = status.currentMetrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  const util = cpu?.resource?.current.averageUtilization;
  return {
    ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
    ...(status.lastScaleTime ? { lastScaleTime: status.lastScaleTime } : {}),
    currentReplicas: status.currentReplicas ?? 0,
    desiredReplicas: status.desiredReplicas ?? 0,
    ...(util !== undefined ? { currentCPUUtilizationPercentage: util } : {}),
  };
}
