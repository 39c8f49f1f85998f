// autoscaling/v2 HorizontalPodAutoscaler: keeps a scalable workload's replicas between min and max so a
// metric (CPU or memory of the pods' requests, or a per-pod metric such as requests_per_second) stays
// near its target. Schema, kube-apiserver's validation (ValidateHorizontalPodAutoscaler) and defaults
// (SetDefaults_HorizontalPodAutoscaler, GenerateHPAScale{Up,Down}Rules) — the controller lives in
// src/controllers/hpa.ts.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, LabelSelector, ObjectMeta, Timestamp } from '../meta.ts';
import { Quantity } from '../quantity.ts';

/** The custom per-pod metric Strata serves itself: the node gateways' request rate (custom.metrics.k8s.io). */
export const REQUESTS_PER_SECOND = 'requests_per_second';

export const CrossVersionObjectReference = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
});
export type CrossVersionObjectReference = z.infer<typeof CrossVersionObjectReference>;

const TARGET_TYPES = ['Utilization', 'Value', 'AverageValue'] as const;

export const MetricTarget = z.strictObject({
  type: z.enum(TARGET_TYPES),
  value: Quantity.optional(),
  averageValue: Quantity.optional(),
  averageUtilization: z.int().optional(),
});
export type MetricTarget = z.infer<typeof MetricTarget>;

export const MetricIdentifier = z.strictObject({
  name: z.string().min(1),
  selector: LabelSelector.optional(),
});

export const ResourceMetricSource = z.strictObject({ name: z.string().min(1), target: MetricTarget });
export const ContainerResourceMetricSource = z.strictObject({
  name: z.string().min(1),
  container: z.string().min(1),
  target: MetricTarget,
});
export const PodsMetricSource = z.strictObject({ metric: MetricIdentifier, target: MetricTarget });
export const ObjectMetricSource = z.strictObject({
  describedObject: CrossVersionObjectReference,
  metric: MetricIdentifier,
  target: MetricTarget,
});
export const ExternalMetricSource = z.strictObject({ metric: MetricIdentifier, target: MetricTarget });

const METRIC_TYPES = ['Resource', 'ContainerResource', 'Pods', 'Object', 'External'] as const;
export type MetricSourceType = (typeof METRIC_TYPES)[number];

export const MetricSpec = z.strictObject({
  type: z.enum(METRIC_TYPES),
  resource: ResourceMetricSource.optional(),
  containerResource: ContainerResourceMetricSource.optional(),
  pods: PodsMetricSource.optional(),
  object: ObjectMetricSource.optional(),
  external: ExternalMetricSource.optional(),
});
export type MetricSpec = z.infer<typeof MetricSpec>;

export const HPAScalingPolicy = z.strictObject({
  type: z.enum(['Pods', 'Percent']),
  value: z.int(),
  periodSeconds: z.int(),
});
export type HPAScalingPolicy = z.infer<typeof HPAScalingPolicy>;

export const HPAScalingRules = z.strictObject({
  stabilizationWindowSeconds: z.int().optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(HPAScalingPolicy).optional(),
  tolerance: Quantity.optional(),
});
export type HPAScalingRules = z.infer<typeof HPAScalingRules>;

export const HorizontalPodAutoscalerBehavior = z.strictObject({
  scaleUp: HPAScalingRules.optional(),
  scaleDown: HPAScalingRules.optional(),
});
export type HorizontalPodAutoscalerBehavior = z.infer<typeof HorizontalPodAutoscalerBehavior>;

/** The field of a MetricSpec that carries the source of each type. */
export const METRIC_FIELD: Record<MetricSourceType, keyof Omit<MetricSpec, 'type'>> = {
  Resource: 'resource',
  ContainerResource: 'containerResource',
  Pods: 'pods',
  Object: 'object',
  External: 'external',
};

function checkTarget(ctx: z.RefinementCtx<any>, path: PropertyKey[], t: MetricTarget, allowed: string[]) {
  if (!allowed.includes(t.type)) {
    addCause(ctx, [...path, 'type'], Reason.NotSupported, msg.notSupported(t.type, allowed));
    return;
  }
  if (t.type === 'Utilization') {
    if (t.averageUtilization === undefined)
      addCause(
        ctx,
        [...path, 'averageUtilization'],
        Reason.Required,
        msg.required('must set averageUtilization'),
      );
    else if (t.averageUtilization < 1)
      addCause(
        ctx,
        [...path, 'averageUtilization'],
        Reason.Invalid,
        msg.invalid(t.averageUtilization, 'must be greater than 0'),
      );
  }
  const q = t.type === 'Value' ? 'value' : t.type === 'AverageValue' ? 'averageValue' : undefined;
  if (q && t[q] === undefined) addCause(ctx, [...path, q], Reason.Required, msg.required(`must set ${q}`));
  if (q && typeof t[q] === 'string' && t[q].startsWith('-'))
    addCause(ctx, [...path, q], Reason.Invalid, msg.invalid(t[q], 'must be positive'));
}

function checkMetric(ctx: z.RefinementCtx<any>, path: PropertyKey[], m: MetricSpec) {
  const own = METRIC_FIELD[m.type];
  for (const [type, field] of Object.entries(METRIC_FIELD))
    if (type !== m.type && m[field] !== undefined)
      addCause(
        ctx,
        [...path, field],
        Reason.Forbidden,
        msg.forbidden(`must populate the given metric source only (type ${m.type})`),
      );
  const src = m[own];
  if (src === undefined) {
    addCause(
      ctx,
      [...path, own],
      Reason.Required,
      msg.required(`must populate information for the given metric source`),
    );
    return;
  }
  const at = [...path, own, 'target'];
  if (m.type === 'Resource' || m.type === 'ContainerResource') {
    const name = (src as { name: string }).name;
    if (name !== 'cpu' && name !== 'memory')
      addCause(ctx, [...path, own, 'name'], Reason.NotSupported, msg.notSupported(name, ['cpu', 'memory']));
    checkTarget(ctx, at, src.target, ['Utilization', 'AverageValue']);
  } else if (m.type === 'Pods') checkTarget(ctx, at, src.target, ['AverageValue']);
  else checkTarget(ctx, at, src.target, ['Value', 'AverageValue']);
}

function checkRules(ctx: z.RefinementCtx<any>, path: PropertyKey[], r: HPAScalingRules) {
  const w = r.stabilizationWindowSeconds;
  if (w !== undefined && (w < 0 || w > 3600))
    addCause(
      ctx,
      [...path, 'stabilizationWindowSeconds'],
      Reason.Invalid,
      msg.invalid(w, 'must be between 0 and 3600 seconds'),
    );
  if (r.selectPolicy !== 'Disabled' && r.policies !== undefined && r.policies.length === 0)
    addCause(ctx, [...path, 'policies'], Reason.Required, msg.required('must specify at least one Policy'));
  r.policies?.forEach((p, i) => {
    if (p.value <= 0)
      addCause(
        ctx,
        [...path, 'policies', i, 'value'],
        Reason.Invalid,
        msg.invalid(p.value, 'must be greater than zero'),
      );
    if (p.periodSeconds <= 0 || p.periodSeconds > 1800)
      addCause(
        ctx,
        [...path, 'policies', i, 'periodSeconds'],
        Reason.Invalid,
        msg.invalid(p.periodSeconds, 'must be greater than zero and less than or equal to 1800'),
      );
  });
}

/** minReplicas ≥ 1 and 1 ≤ maxReplicas ≥ minReplicas: the same rule in autoscaling/v1 and v2. */
export function checkReplicaRange(
  ctx: z.RefinementCtx<any>,
  spec: { minReplicas?: number; maxReplicas: number },
): void {
  if (spec.minReplicas !== undefined && spec.minReplicas < 1)
    addCause(
      ctx,
      ['minReplicas'],
      Reason.Invalid,
      msg.invalid(spec.minReplicas, 'must be greater than or equal to 1'),
    );
  if (spec.maxReplicas < 1)
    addCause(ctx, ['maxReplicas'], Reason.Invalid, msg.invalid(spec.maxReplicas, 'must be greater than 0'));
  else if (spec.minReplicas !== undefined && spec.maxReplicas < spec.minReplicas)
    addCause(
      ctx,
      ['maxReplicas'],
      Reason.Invalid,
      msg.invalid(spec.maxReplicas, 'must be greater than or equal to `minReplicas`'),
    );
}

export const HorizontalPodAutoscalerSpec = z
  .strictObject({
    scaleTargetRef: CrossVersionObjectReference,
    minReplicas: z.int().optional(),
    maxReplicas: z.int(),
    metrics: z.array(MetricSpec).optional(),
    behavior: HorizontalPodAutoscalerBehavior.optional(),
  })
  .superRefine((spec, ctx) => {
    checkReplicaRange(ctx, spec);
    spec.metrics?.forEach((m, i) => checkMetric(ctx, ['metrics', i], m));
    for (const dir of ['scaleUp', 'scaleDown'] as const) {
      const r = spec.behavior?.[dir];
      if (r) checkRules(ctx, ['behavior', dir], r);
    }
  });
export type HorizontalPodAutoscalerSpec = z.infer<typeof HorizontalPodAutoscalerSpec>;

const MetricValueStatus = z.strictObject({
  value: Quantity.optional(),
  averageValue: Quantity.optional(),
  averageUtilization: z.int().optional(),
});
export type MetricValueStatus = z.infer<typeof MetricValueStatus>;

export const MetricStatus = z.strictObject({
  type: z.enum(METRIC_TYPES),
  resource: z.strictObject({ name: z.string(), current: MetricValueStatus }).optional(),
  containerResource: z
    .strictObject({ name: z.string(), container: z.string(), current: MetricValueStatus })
    .optional(),
  pods: z.strictObject({ metric: MetricIdentifier, current: MetricValueStatus }).optional(),
  object: z
    .strictObject({
      describedObject: CrossVersionObjectReference,
      metric: MetricIdentifier,
      current: MetricValueStatus,
    })
    .optional(),
  external: z.strictObject({ metric: MetricIdentifier, current: MetricValueStatus }).optional(),
});
export type MetricStatus = z.infer<typeof MetricStatus>;

export const HorizontalPodAutoscalerStatus = z.strictObject({
  observedGeneration: z.int().min(0).optional(),
  lastScaleTime: Timestamp.optional(),
  currentReplicas: z.int().min(0).optional(),
  desiredReplicas: z.int().min(0).optional(),
  currentMetrics: z.array(MetricStatus).nullable().optional(),
  /** AbleToScale, ScalingActive, ScalingLimited. */
  conditions: z.array(Condition).optional(),
});
export type HorizontalPodAutoscalerStatus = z.infer<typeof HorizontalPodAutoscalerStatus>;

export const HorizontalPodAutoscaler = z.strictObject({
  apiVersion: z.literal('autoscaling/v2'),
  kind: z.literal('HorizontalPodAutoscaler'),
  metadata: ObjectMeta,
  spec: HorizontalPodAutoscalerSpec,
  status: HorizontalPodAutoscalerStatus.optional(),
});
export type HorizontalPodAutoscaler = z.infer<typeof HorizontalPodAutoscaler>;

/** kube-controller-manager's --horizontal-pod-autoscaler-downscale-stabilization. */
export const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS = 300;

/** kube's default target when an HPA names no metric: 80 % of the pods' CPU requests. */
export const DEFAULT_CPU_UTILIZATION = 80;

/** Kube's GenerateHPAScaleUpRules defaults: 4 pods or 100 % per 15 s, whichever is more; no window. */
export function defaultScaleUpRules(r: HPAScalingRules = {}): HPAScalingRules {
  return {
    stabilizationWindowSeconds: r.stabilizationWindowSeconds ?? 0,
    selectPolicy: r.selectPolicy ?? 'Max',
    policies: r.policies ?? [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
    ...(r.tolerance !== undefined ? { tolerance: r.tolerance } : {}),
  };
}

/**
 * Kube's GenerateHPAScaleDownRules defaults: 100 % per 15 s. The window stays unset, as kube leaves it:
 * the controller then applies its own default (300 s, DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS).
 */
export function defaultScaleDownRules(r: HPAScalingRules = {}): HPAScalingRules {
  return {
    ...(r.stabilizationWindowSeconds !== undefined
      ? { stabilizationWindowSeconds: r.stabilizationWindowSeconds }
      : {}),
    selectPolicy: r.selectPolicy ?? 'Max',
    policies: r.policies ?? [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    ...(r.tolerance !== undefined ? { tolerance: r.tolerance } : {}),
  };
}

/**
 * SetDefaults_HorizontalPodAutoscaler (autoscaling/v2): minReplicas 1, the CPU 80 % metric when none is
 * named, and — only when a behavior is given — its missing rules filled with kube's defaults.
 */
export function defaultHorizontalPodAutoscaler(hpa: HorizontalPodAutoscaler): void {
  hpa.spec.minReplicas ??= 1;
  if (!hpa.spec.metrics?.length)
    hpa.spec.metrics = [
      {
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION },
        },
      },
    ];
  if (hpa.spec.behavior)
    hpa.spec.behavior = {
      scaleUp: defaultScaleUpRules(hpa.spec.behavior.scaleUp),
      scaleDown: defaultScaleDownRules(hpa.spec.behavior.scaleDown),
    };
}

function quantityText(q: string | number | undefined): string {
  return q === undefined ? '<unknown>' : String(q);
}

/**
 * The TARGETS cell of `kubectl get hpa` (kubectl's formatHPAMetrics): `cpu: 45%/50%` per metric,
 * `<unknown>` before a reading, the first two and `+ N more...`, `<none>` without metrics.
 */
export function hpaTargets(hpa: HorizontalPodAutoscaler): string {
  // An object written as autoscaling/v1 (kinds/hpa-v1.ts) prints as kube converts it: one CPU target.
  const asV1 = hpa as unknown as {
    apiVersion: string;
    spec: { targetCPUUtilizationPercentage?: number };
    status?: { currentCPUUtilizationPercentage?: number };
  };
  if (asV1.apiVersion === 'autoscaling/v1') {
    const cur = asV1.status?.currentCPUUtilizationPercentage;
    const target = asV1.spec?.targetCPUUtilizationPercentage ?? DEFAULT_CPU_UTILIZATION;
    return `cpu: ${cur !== undefined ? `${cur}%` : '<unknown>'}/${target}%`;
  }
  const specs = hpa.spec.metrics ?? [];
  const statuses = hpa.status?.currentMetrics ?? [];
  const list = specs.map((m, i) => {
    const st = statuses[i];
    switch (m.type) {
      case 'Resource':
      case 'ContainerResource': {
        const src = m.type === 'Resource' ? m.resource! : m.containerResource!;
        const cur = m.type === 'Resource' ? st?.resource?.current : st?.containerResource?.current;
        if (src.target.type === 'AverageValue')
          return `${src.name}: ${quantityText(cur?.averageValue)}/${quantityText(src.target.averageValue)}`;
        const current = cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : '<unknown>';
        const target =
          src.target.averageUtilization !== undefined ? `${src.target.averageUtilization}%` : '<auto>';
        return `${src.name}: ${current}/${target}`;
      }
      case 'Pods':
        return `${quantityText(st?.pods?.current.averageValue)}/${quantityText(m.pods!.target.averageValue)}`;
      case 'Object':
      case 'External': {
        const src = m.type === 'Object' ? m.object! : m.external!;
        const cur = m.type === 'Object' ? st?.object?.current : st?.external?.current;
        if (src.target.type === 'AverageValue')
          return `${quantityText(cur?.averageValue)}/${quantityText(src.target.averageValue)} (avg)`;
        return `${quantityText(cur?.value)}/${quantityText(src.target.value)}`;
      }
    }
  });
  if (!list.length) return '<none>';
  return list.length > 2 ? `${list.slice(0, 2).join(', ')} + ${list.length - 2} more...` : list.join(', ');
}
