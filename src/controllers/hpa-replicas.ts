// How many replicas a metric asks for, as kube-controller-manager's replica calculator
// (pkg/controller/podautoscaler/replica_calculator.go) computes it: desired = ceil(current × usage/target)
// over the pods that report, with a 10 % tolerance, pods still starting left out of a CPU reading, and
// pods without a reading assumed at 100 % of target when scaling down and at 0 when scaling up, so a
// missing reading can only dampen a change, never cause one. Pure: pods and readings in, a count out.

/** kube's --horizontal-pod-autoscaler-tolerance. */
export const DEFAULT_TOLERANCE = 0.1;
/** kube's --horizontal-pod-autoscaler-cpu-initialization-period. */
export const CPU_INITIALIZATION_PERIOD_MS = 5 * 60_000;
/** kube's --horizontal-pod-autoscaler-initial-readiness-delay. */
export const INITIAL_READINESS_DELAY_MS = 30_000;

/** What the calculator needs to know of a pod. */
export interface PodInfo {
  name: string;
  phase?: string;
  deleting?: boolean;
  /** status.startTime (epoch ms). */
  startTime?: number;
  /** The Ready condition: its status and when it last changed (epoch ms). */
  ready?: { status: string; lastTransitionTime?: number };
  /** The sum of the containers' requests of the resource (millicores or bytes); undefined if any lacks one. */
  request?: number;
}

/** One pod's reading: its value and when and over what window it was taken. */
export interface Reading {
  value: number;
  timestamp: number;
  windowMs: number;
}

export class MetricError extends Error {}

export interface Proposal {
  replicas: number;
  /** The average utilization (percent of requests) or the average value over the pods that reported. */
  utilization?: number;
  averageValue: number;
}

interface Grouped {
  ready: number;
  unready: Set<string>;
  missing: Set<string>;
  ignored: Set<string>;
}

/** kube's groupPods: which pods count, which are still starting, which have no reading. */
function groupPods(pods: PodInfo[], readings: Map<string, Reading>, cpu: boolean, now: number): Grouped {
  const g: Grouped = { ready: 0, unready: new Set(), missing: new Set(), ignored: new Set() };
  for (const pod of pods) {
    if (pod.deleting || pod.phase === 'Failed') {
      g.ignored.add(pod.name);
      continue;
    }
    if (pod.phase === 'Pending') {
      g.unready.add(pod.name);
      continue;
    }
    const r = readings.get(pod.name);
    if (!r) {
      g.missing.add(pod.name);
      continue;
    }
    let unready = false;
    if (cpu) {
      const cond = pod.ready;
      if (!cond || pod.startTime === undefined) unready = true;
      else if (pod.startTime + CPU_INITIALIZATION_PERIOD_MS > now) {
        // Still initializing: ignore a reading of an unready pod, or one not taken a full window after
        // the last readiness change (it may include start-up CPU).
        const since = cond.lastTransitionTime ?? 0;
        unready = cond.status === 'False' || r.timestamp < since + r.windowMs;
      } else {
        // Past initialization: ignore only a pod that is unready and has never been ready.
        unready =
          cond.status === 'False' &&
          pod.startTime + INITIAL_READINESS_DELAY_MS > (cond.lastTransitionTime ?? 0);
      }
    }
    if (unready) g.unready.add(pod.name);
    else g.ready++;
  }
  return g;
}

function requirePods(pods: PodInfo[]): void {
  if (pods.length === 0)
    throw new MetricError('no pods returned by selector while calculating replica count');
}

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/**
 * The shared tail of kube's calculators: with no pod missing or starting, scale by the ratio unless it is
 * within tolerance; otherwise fill the gaps (missing pods at `fillDown` when scaling down, 0 when scaling
 * up; starting pods at 0 when scaling up) and scale only if the filled ratio still points the same way.
 */
function replicasFor(
  currentReplicas: number,
  values: Map<string, number>,
  g: Grouped,
  ratioOf: (values: Map<string, number>) => number,
  fillDown: (pod: string) => number,
  tolerance: number,
): number {
  for (const p of [...g.unready, ...g.ignored]) values.delete(p);
  if (values.size === 0)
    throw new MetricError('did not receive metrics for targeted pods (pods might be unready)');
  const ratio = ratioOf(values);
  const scaleUpWithUnready = g.unready.size > 0 && ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (Math.abs(1 - ratio) <= tolerance) return currentReplicas;
    return Math.ceil(ratio * values.size);
  }
  for (const p of g.missing) values.set(p, ratio < 1 ? fillDown(p) : 0);
  if (scaleUpWithUnready) for (const p of g.unready) values.set(p, 0);
  const newRatio = ratioOf(values);
  if (Math.abs(1 - newRatio) <= tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1))
    return currentReplicas;
  const replicas = Math.ceil(newRatio * values.size);
  if ((newRatio < 1 && replicas > currentReplicas) || (newRatio > 1 && replicas < currentReplicas))
    return currentReplicas;
  return replicas;
}

/** GetResourceReplicas: a Resource metric with a Utilization target (percent of the pods' requests). */
export function resourceUtilizationReplicas(o: {
  currentReplicas: number;
  targetUtilization: number;
  resource: string;
  pods: PodInfo[];
  readings: Map<string, Reading>;
  now: number;
  tolerance?: number;
}): Proposal {
  requirePods(o.pods);
  const requests = new Map<string, number>();
  for (const p of o.pods) {
    if (p.request === undefined || p.request <= 0)
      throw new MetricError(`missing request for ${o.resource} in pod ${p.name}`);
    requests.set(p.name, p.request);
  }
  const g = groupPods(o.pods, o.readings, o.resource === 'cpu', o.now);
  const values = new Map([...o.readings].filter(([n]) => requests.has(n)).map(([n, r]) => [n, r.value]));
  // GetResourceUtilizationRatio over the pods kept (before any filling).
  const kept = new Map(values);
  for (const p of [...g.unready, ...g.ignored]) kept.delete(p);
  const utilOf = (vals: Map<string, number>) =>
    (sum(vals.values()) * 100) / sum([...vals.keys()].map((n) => requests.get(n)!));
  const ratioOf = (vals: Map<string, number>) => utilOf(vals) / o.targetUtilization;
  const replicas = replicasFor(
    o.currentReplicas,
    values,
    g,
    ratioOf,
    (p) => requests.get(p)!,
    o.tolerance ?? DEFAULT_TOLERANCE,
  );
  return {
    replicas,
    utilization: Math.trunc(utilOf(kept)),
    averageValue: sum(kept.values()) / kept.size,
  };
}

/**
 * GetRawResourceReplicas and GetMetricReplicas: a per-pod average target (a Resource AverageValue or a
 * Pods metric). Only Pending pods count as starting here (kube's rule for non-CPU readings).
 */
export function averageValueReplicas(o: {
  currentReplicas: number;
  targetAverage: number;
  pods: PodInfo[];
  readings: Map<string, Reading>;
  now: number;
  tolerance?: number;
}): Proposal {
  requirePods(o.pods);
  const names = new Set(o.pods.map((p) => p.name));
  const g = groupPods(o.pods, o.readings, false, o.now);
  const values = new Map([...o.readings].filter(([n]) => names.has(n)).map(([n, r]) => [n, r.value]));
  const kept = new Map(values);
  for (const p of [...g.unready, ...g.ignored]) kept.delete(p);
  const ratioOf = (vals: Map<string, number>) => sum(vals.values()) / vals.size / o.targetAverage;
  const replicas = replicasFor(
    o.currentReplicas,
    values,
    g,
    ratioOf,
    () => o.targetAverage,
    o.tolerance ?? DEFAULT_TOLERANCE,
  );
  return { replicas, averageValue: sum(kept.values()) / kept.size };
}
