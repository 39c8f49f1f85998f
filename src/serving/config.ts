// Autoscaling settings of one revision: the cluster defaults (Knative's config-autoscaler, given to
// startServing as flags) overridden by the revision's `autoscaling.knative.dev/*` annotations.
import { AUTOSCALING, parseDurationSeconds } from '../api/index.ts';

export interface AutoscalerDefaults {
  /** Per-instance target of in-flight requests (concurrency metric). Knative: 100. */
  containerConcurrencyTarget: number;
  /** Per-instance target of requests per second (rps metric). Knative: 200. */
  requestsPerSecondTarget: number;
  /** Percentage of the target actually aimed at. Knative: 70. */
  targetUtilizationPercentage: number;
  stableWindowSeconds: number;
  /** Panic window as a percentage of the stable window. Knative: 10. */
  panicWindowPercentage: number;
  /** Panic when the panic-window desire is this percentage of the ready instances. Knative: 200. */
  panicThresholdPercentage: number;
  /** How long the last instance stays after traffic stopped, on top of the stable window. Knative: 30 s. */
  scaleToZeroGracePeriodSeconds: number;
  /** Knative: 1 (a new revision starts one instance to prove it can). */
  initialScale: number;
  /** Knative: true. */
  allowZeroInitialScale: boolean;
  /** Instances the activator's presence counts as (spare requests); Knative: 200. */
  targetBurstCapacity: number;
  /** Largest step up per decision, as a rate of the ready instances. Knative: 1000. */
  maxScaleUpRate: number;
  enableScaleToZero: boolean;
}

export const KNATIVE_DEFAULTS: AutoscalerDefaults = {
  containerConcurrencyTarget: 100,
  requestsPerSecondTarget: 200,
  targetUtilizationPercentage: 70,
  stableWindowSeconds: 60,
  panicWindowPercentage: 10,
  panicThresholdPercentage: 200,
  scaleToZeroGracePeriodSeconds: 30,
  initialScale: 1,
  allowZeroInitialScale: true,
  targetBurstCapacity: 200,
  maxScaleUpRate: 1000,
  enableScaleToZero: true,
};

export interface ScalingSpec {
  metric: 'concurrency' | 'rps';
  /** Per-instance target after utilization (what one instance should carry). */
  target: number;
  minScale: number;
  /** 0 = unbounded. */
  maxScale: number;
  initialScale: number;
  stableWindowMs: number;
  panicWindowMs: number;
  panicThreshold: number;
  /** Time since the last traffic before the last instance goes (grace, or retention when longer). */
  scaleToZeroAfterMs: number;
  scaleDownDelayMs: number;
  targetBurstCapacity: number;
  maxScaleUpRate: number;
  scaleToZero: boolean;
}

/** The revision's settings; annotations were validated on admission, so bad ones fall back to defaults. */
export function scalingSpec(
  annotations: Record<string, string> | undefined,
  containerConcurrency: number | undefined,
  d: AutoscalerDefaults,
): ScalingSpec {
  const a = annotations ?? {};
  const num = (k: string): number | undefined => {
    const v = a[k];
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const secs = (k: string): number | undefined => {
    const v = a[k];
    return v === undefined ? undefined : parseDurationSeconds(v);
  };
  const metric = a[AUTOSCALING.metric] === 'rps' ? 'rps' : 'concurrency';
  // Knative: the target is the annotation, else containerConcurrency when set, else the cluster default.
  const raw =
    num(AUTOSCALING.target) ??
    (metric === 'concurrency' && containerConcurrency ? containerConcurrency : undefined) ??
    (metric === 'rps' ? d.requestsPerSecondTarget : d.containerConcurrencyTarget);
  const utilization = num(AUTOSCALING.targetUtilization) ?? d.targetUtilizationPercentage;
  const cappedTarget =
    metric === 'concurrency' && containerConcurrency ? Math.min(raw, containerConcurrency) : raw;
  const stable = (secs(AUTOSCALING.window) ?? d.stableWindowSeconds) * 1000;
  const panicPct = num(AUTOSCALING.panicWindowPercentage) ?? d.panicWindowPercentage;
  const retention = (secs(AUTOSCALING.retention) ?? 0) * 1000;
  return {
    metric,
    target: Math.max(0.01, (cappedTarget * utilization) / 100),
    minScale: num(AUTOSCALING.minScale) ?? 0,
    maxScale: num(AUTOSCALING.maxScale) ?? 0,
    initialScale: num(AUTOSCALING.initialScale) ?? d.initialScale,
    stableWindowMs: stable,
    panicWindowMs: Math.max(1000, (stable * panicPct) / 100),
    panicThreshold: (num(AUTOSCALING.panicThresholdPercentage) ?? d.panicThresholdPercentage) / 100,
    scaleToZeroAfterMs: Math.max(d.scaleToZeroGracePeriodSeconds * 1000, retention),
    scaleDownDelayMs: (secs(AUTOSCALING.scaleDownDelay) ?? 0) * 1000,
    targetBurstCapacity: num(AUTOSCALING.targetBurstCapacity) ?? d.targetBurstCapacity,
    maxScaleUpRate: d.maxScaleUpRate,
    scaleToZero: d.enableScaleToZero,
  };
}

/** Where the cluster's serving settings live, as Knative keeps them. */
export const SERVING_SYSTEM_NAMESPACE = 'knative-serving';
export const CONFIG_AUTOSCALER = 'config-autoscaler';
export const CONFIG_DOMAIN = 'config-domain';

/** Knative's config-autoscaler keys over `base`; a bad value keeps the base one and is reported. */
export function parseConfigAutoscaler(
  data: Record<string, string> | undefined,
  base: AutoscalerDefaults,
  warn: (key: string, value: string) => void = () => {},
): AutoscalerDefaults {
  const out = { ...base };
  if (!data) return out;
  const number = (key: string, set: (n: number) => void, min = 0) => {
    const v = data[key];
    if (v === undefined) return;
    const n = Number(v);
    if (Number.isFinite(n) && n >= min) set(n);
    else warn(key, v);
  };
  const seconds = (key: string, set: (n: number) => void) => {
    const v = data[key];
    if (v === undefined) return;
    const n = parseDurationSeconds(v);
    if (n !== undefined) set(n);
    else warn(key, v);
  };
  const bool = (key: string, set: (b: boolean) => void) => {
    const v = data[key];
    if (v === 'true' || v === 'false') set(v === 'true');
    else if (v !== undefined) warn(key, v);
  };
  number('container-concurrency-target-default', (n) => (out.containerConcurrencyTarget = n), 0.01);
  number('requests-per-second-target-default', (n) => (out.requestsPerSecondTarget = n), 0.01);
  number('container-concurrency-target-percentage', (n) => (out.targetUtilizationPercentage = n), 1);
  number('panic-window-percentage', (n) => (out.panicWindowPercentage = n), 1);
  number('panic-threshold-percentage', (n) => (out.panicThresholdPercentage = n), 110);
  number('target-burst-capacity', (n) => (out.targetBurstCapacity = n), -1);
  number('max-scale-up-rate', (n) => (out.maxScaleUpRate = n), 1);
  number('initial-scale', (n) => (out.initialScale = n));
  seconds('stable-window', (n) => (out.stableWindowSeconds = n));
  seconds('scale-to-zero-grace-period', (n) => (out.scaleToZeroGracePeriodSeconds = n));
  bool('allow-zero-initial-scale', (b) => (out.allowZeroInitialScale = b));
  bool('enable-scale-to-zero', (b) => (out.enableScaleToZero = b));
  return out;
}

/** Knative's config-domain: the first key whose value is empty (no selector) is the domain. */
export function parseConfigDomain(data: Record<string, string> | undefined, fallback: string): string {
  for (const [k, v] of Object.entries(data ?? {})) if (k !== '_example' && v.trim() === '') return k;
  return fallback;
}
