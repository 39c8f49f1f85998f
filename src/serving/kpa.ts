// The Knative Pod Autoscaler's decision, as a pure function of the observed metric and a little state:
// desired = ceil(observed / target) over the stable window; a panic window (10 % of it) reacts to bursts,
// and while panicking the scale never goes down; scale-down-delay keeps the highest recent desire; an
// idle revision goes to zero only after no request for the stable window plus the grace period; min and
// max scale bound the result. (knative.dev/serving pkg/autoscaler/scaling/autoscaler.go.)
import type { ScalingSpec } from './config.ts';

export interface Observation {
  now: number;
  /** Average of the metric over the stable and panic windows (all gateways summed). */
  stable: number;
  panic: number;
  /** Instances ready now. */
  ready: number;
  /** Requests held by activators (a revision at zero that is wanted). */
  held: number;
  /** Last time any request was seen (ms); undefined = never. */
  lastRequestAt: number | undefined;
}

export interface DeciderState {
  panicSince?: number;
  maxPanicScale: number;
  /** Recent desires, for scale-down-delay. */
  recent: { at: number; scale: number }[];
  /** Revision's creation (initial scale holds until the first traffic or the stable window). */
  createdAt: number;
}

export function newDeciderState(createdAt: number): DeciderState {
  return { maxPanicScale: 0, recent: [], createdAt };
}

export interface Decision {
  desired: number;
  panicking: boolean;
  reason: string;
}

export function decide(spec: ScalingSpec, o: Observation, s: DeciderState): Decision {
  const ready = Math.max(o.ready, 1);
  // No more than maxScaleUpRate × ready instances up in one decision.
  const upLimit = Math.ceil(spec.maxScaleUpRate * ready);
  const stableScale = Math.min(Math.ceil(o.stable / spec.target - 1e-9), upLimit);
  const panicScale = Math.min(Math.ceil(o.panic / spec.target - 1e-9), upLimit);
  let desired = stableScale;
  let reason = `stable ${o.stable.toFixed(2)}/${spec.target}`;
  const overThreshold = o.panic / spec.target / ready >= spec.panicThreshold;
  if (overThreshold && o.ready > 0) s.panicSince = o.now;
  else if (s.panicSince !== undefined && o.now - s.panicSince >= spec.stableWindowMs) {
    s.panicSince = undefined;
    s.maxPanicScale = 0;
  }
  const panicking = s.panicSince !== undefined;
  if (panicking) {
    // In panic the scale only goes up.
    s.maxPanicScale = Math.max(s.maxPanicScale, panicScale, o.ready);
    desired = s.maxPanicScale;
    reason = `panic ${o.panic.toFixed(2)}/${spec.target}`;
  }
  // A request waiting at zero needs an instance now, whatever the windows say.
  if (o.held > 0) {
    desired = Math.max(desired, 1, Math.ceil(o.held / spec.target - 1e-9));
    reason = `${o.held} held`;
  }
  // scale-down-delay: the highest desire of the delay window.
  if (spec.scaleDownDelayMs > 0) {
    s.recent.push({ at: o.now, scale: desired });
    s.recent = s.recent.filter((r) => o.now - r.at <= spec.scaleDownDelayMs);
    desired = Math.max(...s.recent.map((r) => r.scale));
  }
  // Zero only after a whole quiet stable window plus the grace/retention period.
  if (desired === 0) {
    const quietFor = o.now - (o.lastRequestAt ?? s.createdAt);
    if (!spec.scaleToZero || quietFor < spec.stableWindowMs + spec.scaleToZeroAfterMs) {
      // Before any request the revision keeps its initial scale; after one, its last instance.
      desired = o.lastRequestAt === undefined ? spec.initialScale : 1;
      reason = 'within the stable window and scale-to-zero grace';
    } else reason = 'idle: scaled to zero';
  }
  desired = Math.max(desired, spec.minScale);
  if (spec.maxScale > 0) desired = Math.min(desired, spec.maxScale);
  return { desired, panicking, reason };
}
