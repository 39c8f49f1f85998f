// From a metric's raw replica proposal to the replicas an HPA sets, as kube's horizontal controller
// normalizes it: stabilization windows over recent recommendations, then the scale-up/down rate policies
// (Pods or Percent per periodSeconds, selectPolicy Max/Min/Disabled) and min/max — or, for an HPA without
// `behavior`, kube's older rules (300 s scale-down window, scale-up to at most max(2×current, 4)).
// Remembers per HPA the recent recommendations and scale events, so decisions depend on history the way
// kube's do; the clock is passed in.
import {
  DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
  type HorizontalPodAutoscalerBehavior,
  type HPAScalingRules,
  defaultScaleDownRules,
  defaultScaleUpRules,
} from '../api/index.ts';

export interface Limited {
  replicas: number;
  /** AbleToScale reason: ScaleUpStabilized / ScaleDownStabilized / ReadyForNewScale. */
  ableReason: string;
  ableMessage: string;
  /** ScalingLimited: True when the rules changed the stabilized recommendation. */
  limited: boolean;
  limitReason: string;
  limitMessage: string;
}

interface Timestamped {
  at: number;
  value: number;
}

export interface NormalizeArgs {
  key: string;
  currentReplicas: number;
  desiredReplicas: number;
  minReplicas: number;
  maxReplicas: number;
  behavior?: HorizontalPodAutoscalerBehavior;
  now: number;
}

const WITHIN = ['DesiredWithinRange', 'the desired count is within the acceptable range'] as const;

export class ScaleHistory {
  private readonly recommendations = new Map<string, Timestamped[]>();
  private readonly upEvents = new Map<string, Timestamped[]>();
  private readonly downEvents = new Map<string, Timestamped[]>();
  private readonly downWindowSeconds: number;

  constructor(o: { downscaleStabilizationSeconds?: number } = {}) {
    this.downWindowSeconds = o.downscaleStabilizationSeconds ?? DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS;
  }

  forget(key: string): void {
    this.recommendations.delete(key);
    this.upEvents.delete(key);
    this.downEvents.delete(key);
  }

  /** After a rescale: kube's storeScaleEvent (the change counts against the rate policies' periods). */
  recordScale(
    key: string,
    behavior: HorizontalPodAutoscalerBehavior | undefined,
    from: number,
    to: number,
    now: number,
  ): void {
    if (!behavior || from === to) return;
    const rules =
      to > from ? defaultScaleUpRules(behavior.scaleUp) : defaultScaleDownRules(behavior.scaleDown);
    const longest = Math.max(0, ...(rules.policies ?? []).map((p) => p.periodSeconds)) * 1000;
    const events = to > from ? this.upEvents : this.downEvents;
    const kept = (events.get(key) ?? []).filter((e) => e.at > now - longest);
    kept.push({ at: now, value: Math.abs(to - from) });
    events.set(key, kept);
  }

  normalize(a: NormalizeArgs): Limited {
    return a.behavior ? this.withBehavior(a, a.behavior) : this.withoutBehavior(a);
  }

  /** Record a recommendation, replacing the oldest sample older than every window (kube keeps a bounded list). */
  private record(key: string, value: number, now: number, cutoff: number): void {
    const list = this.recommendations.get(key) ?? [];
    const old = list.findIndex((r) => r.at < cutoff);
    if (old >= 0) list[old] = { at: now, value };
    else list.push({ at: now, value });
    this.recommendations.set(key, list);
  }

  private withoutBehavior(a: NormalizeArgs): Limited {
    const cutoff = a.now - this.downWindowSeconds * 1000;
    let stabilized = a.desiredReplicas;
    for (const r of this.recommendations.get(a.key) ?? [])
      if (r.at >= cutoff && r.value > stabilized) stabilized = r.value;
    this.record(a.key, a.desiredReplicas, a.now, cutoff);
    const able =
      stabilized !== a.desiredReplicas
        ? ([
            'ScaleDownStabilized',
            'recent recommendations were higher than current one, applying the highest recent recommendation',
          ] as const)
        : (['ReadyForNewScale', 'recommended size matches current size'] as const);
    // convertDesiredReplicasWithRules
    const scaleUpLimit = Math.max(2 * a.currentReplicas, 4);
    let replicas = stabilized;
    let limit: readonly [string, string] = WITHIN;
    if (stabilized < a.minReplicas) {
      replicas = a.minReplicas;
      limit = ['TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
    } else {
      const max = Math.min(a.maxReplicas, scaleUpLimit);
      if (stabilized > max) {
        replicas = max;
        limit =
          a.maxReplicas > scaleUpLimit
            ? ['ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
            : ['TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
      }
    }
    return {
      replicas,
      ableReason: able[0],
      ableMessage: able[1],
      limited: replicas !== stabilized,
      limitReason: limit[0],
      limitMessage: limit[1],
    };
  }

  private withBehavior(a: NormalizeArgs, behavior: HorizontalPodAutoscalerBehavior): Limited {
    const up = defaultScaleUpRules(behavior.scaleUp);
    const down = defaultScaleDownRules(behavior.scaleDown);
    // maybeInitScaleDownStabilizationWindow: an unset scale-down window is the controller's default.
    const downWindow = down.stabilizationWindowSeconds ?? this.downWindowSeconds;
    const upCutoff = a.now - (up.stabilizationWindowSeconds ?? 0) * 1000;
    const downCutoff = a.now - downWindow * 1000;
    let upRec = a.desiredReplicas;
    let downRec = a.desiredReplicas;
    for (const r of this.recommendations.get(a.key) ?? []) {
      if (r.at > upCutoff) upRec = Math.min(upRec, r.value);
      if (r.at > downCutoff) downRec = Math.max(downRec, r.value);
    }
    let stabilized = a.currentReplicas;
    if (stabilized < upRec) stabilized = upRec;
    if (stabilized > downRec) stabilized = downRec;
    this.record(a.key, a.desiredReplicas, a.now, Math.min(upCutoff, downCutoff));
    const able =
      stabilized === a.desiredReplicas
        ? (['ReadyForNewScale', 'recommended size matches current size'] as const)
        : a.desiredReplicas >= a.currentReplicas
          ? ([
              'ScaleUpStabilized',
              'recent recommendations were lower than current one, applying the lowest recent recommendation',
            ] as const)
          : ([
              'ScaleDownStabilized',
              'recent recommendations were higher than current one, applying the highest recent recommendation',
            ] as const);
    const [replicas, limit] = this.rate(a, stabilized, up, down);
    return {
      replicas,
      ableReason: able[0],
      ableMessage: able[1],
      limited: replicas !== stabilized,
      limitReason: limit[0],
      limitMessage: limit[1],
    };
  }

  /** convertDesiredReplicasWithBehaviorRate. */
  private rate(
    a: NormalizeArgs,
    desired: number,
    up: HPAScalingRules,
    down: HPAScalingRules,
  ): [number, readonly [string, string]] {
    if (desired > a.currentReplicas) {
      const limit = Math.max(
        a.currentReplicas,
        scaleUpLimit(a.currentReplicas, this.changed(this.upEvents, a.key, a.now), up),
      );
      const [max, reason] =
        a.maxReplicas > limit
          ? [
              limit,
              [
                'ScaleUpLimit',
                'the desired replica count is increasing faster than the maximum scale rate',
              ] as const,
            ]
          : [
              a.maxReplicas,
              [
                'TooManyReplicas',
                'the desired replica count is more than the maximum replica count',
              ] as const,
            ];
      if (desired > max) return [max, reason];
    } else if (desired < a.currentReplicas) {
      const limit = Math.min(
        a.currentReplicas,
        scaleDownLimit(a.currentReplicas, this.changed(this.downEvents, a.key, a.now), down),
      );
      const [min, reason] =
        a.minReplicas < limit
          ? [
              limit,
              [
                'ScaleDownLimit',
                'the desired replica count is decreasing faster than the maximum scale rate',
              ] as const,
            ]
          : [
              a.minReplicas,
              ['TooFewReplicas', 'the desired replica count is less than the minimum replica count'] as const,
            ];
      if (desired < min) return [min, reason];
    }
    return [desired, WITHIN];
  }

  /** getReplicasChangePerPeriod, as a function of the period. */
  private changed(
    events: Map<string, Timestamped[]>,
    key: string,
    now: number,
  ): (periodSeconds: number) => number {
    const list = events.get(key) ?? [];
    return (periodSeconds) => {
      const cutoff = now - periodSeconds * 1000;
      let n = 0;
      for (const e of list) if (e.at > cutoff) n += e.value;
      return n;
    };
  }
}

/** calculateScaleUpLimitWithScalingRules. */
export function scaleUpLimit(
  current: number,
  added: (periodSeconds: number) => number,
  rules: HPAScalingRules,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Infinity : -Infinity;
  for (const p of rules.policies ?? []) {
    const start = current - added(p.periodSeconds);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors (Min picks the largest limit, i.e. the smallest change). */
export function scaleDownLimit(
  current: number,
  removed: (periodSeconds: number) => number,
  rules: HPAScalingRules,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? -Infinity : Infinity;
  for (const p of rules.policies ?? []) {
    const start = current + removed(p.periodSeconds);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}
