import { describe, expect, it } from 'vitest';
import { KNATIVE_DEFAULTS, parseConfigAutoscaler, parseConfigDomain, scalingSpec } from './config.ts';
import { decide, newDeciderState, type Observation } from './kpa.ts';

const spec = (a: Record<string, string> = {}, cc?: number) => scalingSpec(a, cc, KNATIVE_DEFAULTS);
const obs = (o: Partial<Observation>): Observation => ({
  now: 1_000_000,
  stable: 0,
  panic: 0,
  ready: 1,
  held: 0,
  lastRequestAt: 999_000,
  ...o,
});

describe('scalingSpec', () => {
  it('applies Knative defaults and the annotations', () => {
    const d = spec();
    expect(d.metric).toBe('concurrency');
    expect(d.target).toBeCloseTo(70); // 100 × 70 %
    expect(d.stableWindowMs).toBe(60_000);
    expect(d.panicWindowMs).toBe(6_000);
    expect(d.panicThreshold).toBe(2);
    expect(d.scaleToZeroAfterMs).toBe(30_000);
    const a = spec({
      'autoscaling.knative.dev/target': '10',
      'autoscaling.knative.dev/target-utilization-percentage': '50',
      'autoscaling.knative.dev/window': '10s',
      'autoscaling.knative.dev/min-scale': '2',
      'autoscaling.knative.dev/max-scale': '5',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '1m',
      'autoscaling.knative.dev/metric': 'rps',
    });
    expect(a).toMatchObject({ metric: 'rps', target: 5, minScale: 2, maxScale: 5, stableWindowMs: 10_000 });
    expect(a.panicWindowMs).toBe(1_000);
    expect(a.scaleToZeroAfterMs).toBe(60_000);
  });

  it('caps the concurrency target at containerConcurrency', () => {
    expect(spec({ 'autoscaling.knative.dev/target': '50' }, 10).target).toBeCloseTo(7);
    expect(spec({}, 4).target).toBeCloseTo(2.8);
  });

  it('reads config-autoscaler and config-domain as Knative writes them', () => {
    const bad: string[] = [];
    const d = parseConfigAutoscaler(
      { 'stable-window': '6s', 'scale-to-zero-grace-period': '2s', 'panic-threshold-percentage': 'x' },
      KNATIVE_DEFAULTS,
      (k) => bad.push(k),
    );
    expect(d.stableWindowSeconds).toBe(6);
    expect(d.scaleToZeroGracePeriodSeconds).toBe(2);
    expect(d.panicThresholdPercentage).toBe(200);
    expect(bad).toEqual(['panic-threshold-percentage']);
    expect(parseConfigDomain({ _example: '', 'example.com': '' }, 'strata.local')).toBe('example.com');
    expect(parseConfigDomain(undefined, 'strata.local')).toBe('strata.local');
  });
});

describe('the KPA decision', () => {
  it('desires ceil(stable / target) instances', () => {
    const s = spec({
      'autoscaling.knative.dev/target': '10',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
    });
    expect(decide(s, obs({ stable: 25, panic: 25, ready: 3 }), newDeciderState(0)).desired).toBe(3);
    expect(decide(s, obs({ stable: 10, panic: 10, ready: 1 }), newDeciderState(0)).desired).toBe(1);
  });

  it('panics when the panic window is 200 % of ready capacity, and never scales down while panicking', () => {
    const s = spec({
      'autoscaling.knative.dev/target': '1',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
    });
    const state = newDeciderState(0);
    const burst = decide(s, obs({ stable: 1, panic: 8, ready: 2 }), state);
    expect(burst.panicking).toBe(true);
    expect(burst.desired).toBe(8);
    // The burst is over but within the stable window: the scale holds.
    const after = decide(s, obs({ now: 1_010_000, stable: 1, panic: 1, ready: 8 }), state);
    expect(after.panicking).toBe(true);
    expect(after.desired).toBe(8);
    // A whole stable window later, panic ends and the stable desire wins.
    const calm = decide(s, obs({ now: 1_071_000, stable: 1, panic: 1, ready: 8 }), state);
    expect(calm.panicking).toBe(false);
    expect(calm.desired).toBe(1);
  });

  it('goes to zero only after a quiet stable window plus the grace period', () => {
    const s = spec();
    const state = newDeciderState(0);
    expect(decide(s, obs({ now: 1_000_000 + 60_000, lastRequestAt: 1_000_000 }), state).desired).toBe(1);
    expect(decide(s, obs({ now: 1_000_000 + 89_000, lastRequestAt: 1_000_000 }), state).desired).toBe(1);
    expect(decide(s, obs({ now: 1_000_000 + 90_000, lastRequestAt: 1_000_000 }), state).desired).toBe(0);
  });

  it('a held request at zero wants an instance at once; min and max scale bound everything', () => {
    expect(
      decide(spec(), obs({ ready: 0, held: 1, lastRequestAt: undefined }), newDeciderState(0)).desired,
    ).toBe(1);
    const bounded = spec({
      'autoscaling.knative.dev/min-scale': '2',
      'autoscaling.knative.dev/max-scale': '4',
      'autoscaling.knative.dev/target': '1',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
    });
    expect(decide(bounded, obs({ stable: 0, panic: 0, now: 10_000_000 }), newDeciderState(0)).desired).toBe(
      2,
    );
    expect(decide(bounded, obs({ stable: 50, panic: 50, ready: 4 }), newDeciderState(0)).desired).toBe(4);
  });

  it('scale-down-delay keeps the highest desire of the delay window', () => {
    const s = spec({
      'autoscaling.knative.dev/scale-down-delay': '10s',
      'autoscaling.knative.dev/target': '1',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
    });
    const state = newDeciderState(0);
    expect(decide(s, obs({ now: 0, stable: 5, panic: 5, ready: 5, lastRequestAt: 0 }), state).desired).toBe(
      5,
    );
    expect(
      decide(s, obs({ now: 5_000, stable: 2, panic: 2, ready: 5, lastRequestAt: 5_000 }), state).desired,
    ).toBe(5);
    expect(
      decide(s, obs({ now: 11_000, stable: 2, panic: 2, ready: 5, lastRequestAt: 11_000 }), state).desired,
    ).toBe(2);
  });
});
