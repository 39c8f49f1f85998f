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

type Direction = 'up' | 'down';
/** A condition's reason and message. */
type LimitReason = readonly [string, string];

const WITHIN: LimitReason = ['DesiredWithinRange', 'the desired count is within the acceptable range'];
const RATE_LIMITED: Record<Direction, LimitReason> = {
  up: ['ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate'],
  down: ['ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate'],
};
const OUT_OF_RANGE: Record<Direction, LimitReason> = {
  up: ['TooManyReplicas', 'the desired replica count is more than the maximum replica count'],
  down: ['TooFewReplicas', 'the desired replica count is less than the minimum replica count'],
};

/** AbleToScale reasons. */
const READY: LimitReason = ['ReadyForNewScale', 'recommended size matches current size'];
const STABILIZED: Record<Direction, LimitReason> = {
  up: [
    'ScaleUpStabilized',
    'recent recommendations were lower than current one, applying the lowest recent recommendation',
  ],
  down: [
    'ScaleDownStabilized',
    'recent recommendations were higher than current one, applying the highest recent recommendation',
  ],
};

function outcome(replicas: number, stabilized: number, able: LimitReason, limit: LimitReason): Limited {
  return {
    replicas,
    ableReason: able[0],
    ableMessage: able[1],
    limited: replicas !== stabilized,
    limitReason: limit[0],
    limitMessage: limit[1],
  };
}

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
    const able = stabilized !== a.desiredReplicas ? STABILIZED.down : READY;
    // convertDesiredReplicasWithRules
    const scaleUpLimit = Math.max(2 * a.currentReplicas, 4);
    let replicas = stabilized;
    let limit = WITHIN;
    if (stabilized < a.minReplicas) {
      replicas = a.minReplicas;
      limit = OUT_OF_RANGE.down;
    } else {
      const max = Math.min(a.maxReplicas, scaleUpLimit);
      if (stabilized > max) {
        replicas = max;
        limit = a.maxReplicas > scaleUpLimit ? RATE_LIMITED.up : OUT_OF_RANGE.up;
      }
    }
    return outcome(replicas, stabilized, able, limit);
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
        ? READY
        : STABILIZED[a.desiredReplicas >= a.currentReplicas ? 'up' : 'down'];
    const [replicas, limit] = this.rate(a, stabilized, up, down);
    return outcome(replicas, stabilized, able, limit);
  }

  /**
   * convertDesiredReplicasWithBehaviorRate: the change is capped by the direction's rate limit, and the
   * limit by max (up) or min (down) replicas — the cap that binds names the ScalingLimited reason.
   */
  private rate(
    a: NormalizeArgs,
    desired: number,
    up: HPAScalingRules,
    down: HPAScalingRules,
  ): [number, LimitReason] {
    if (desired === a.currentReplicas) return [desired, WITHIN];
    const dir: Direction = desired > a.currentReplicas ? 'up' : 'down';
    const events = dir === 'up' ? this.upEvents : this.downEvents;
    const rateLimit = replicaRateLimit(
      dir,
      a.currentReplicas,
      this.changed(events, a.key, a.now),
      dir === 'up' ? up : down,
    );
    // The rate limit never goes past the current count the other way.
    const rate =
      dir === 'up' ? Math.max(a.currentReplicas, rateLimit) : Math.min(a.currentReplicas, rateLimit);
    const bound = dir === 'up' ? a.maxReplicas : a.minReplicas;
    // The tighter of the rate limit and the bound wins (towards the current count).
    const rateBinds = dir === 'up' ? bound > rate : bound < rate;
    const limit = rateBinds ? rate : bound;
    const reason = rateBinds ? RATE_LIMITED[dir] : OUT_OF_RANGE[dir];
    const exceeds = dir === 'up' ? desired > limit : desired < limit;
    return exceeds ? [limit, reason] : [desired, WITHIN];
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

/**
 * calculateScaleUpLimitWithScalingRules and calculateScaleDownLimitWithBehaviors: each policy allows a
 * change of `value` pods or percent counted from where its period started (the count before the changes
 * made within it); selectPolicy Max takes the policy allowing the largest change, Min the smallest.
 */
export function replicaRateLimit(
  dir: Direction,
  current: number,
  changedWithin: (periodSeconds: number) => number,
  rules: HPAScalingRules,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // Up, the largest change is the largest limit; down, the smallest change is: Max up and Min down take
  // the larger limit, Min up and Max down the smaller.
  const larger = (rules.selectPolicy === 'Min') === (dir === 'down');
  const pick = larger ? Math.max : Math.min;
  let result = larger ? -Infinity : Infinity;
  for (const p of rules.policies ?? []) {
    if (dir === 'up') {
      const start = current - changedWithin(p.periodSeconds);
      result = pick(result, p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100)));
    } else {
      const start = current + changedWithin(p.periodSeconds);
      result = pick(result, p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100)));
    }
  }
  return result;
}
