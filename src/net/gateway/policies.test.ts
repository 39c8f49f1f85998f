import { describe, expect, it } from 'vitest';
import { breakerRefusal } from './circuit-breaker.ts';
import { parseDuration, upstreamConfig } from './config.ts';
import { DEFAULT_OUTLIER, ejectionAllowed, OutlierTracker } from './outlier.ts';
import { RetryBudget } from './retry-budget.ts';

describe('retry budget', () => {
  it('allows the floor per second plus a ratio of recent requests, and forgets old ones', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000, now: () => now });
    // Floor: 1/s × 10 s = 10 retries with no traffic at all.
    let granted = 0;
    while (budget.tryWithdraw()) granted++;
    expect(granted).toBe(10);
    expect(budget.exhausted).toBe(1);
    // 100 requests add 20 more.
    for (let i = 0; i < 100; i++) budget.deposit();
    granted = 0;
    while (budget.tryWithdraw()) granted++;
    expect(granted).toBe(20);
    // After the window everything is forgotten: the floor again.
    now += 11_000;
    granted = 0;
    while (budget.tryWithdraw()) granted++;
    expect(granted).toBe(10);
  });
});

describe('circuit breaker', () => {
  const limits = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 4 };
  it('refuses past max requests, and past max pending once connections are all busy', () => {
    expect(breakerRefusal(0, limits)).toBeUndefined();
    expect(breakerRefusal(1, limits)).toBeUndefined();
    // Third request waits for a connection: pending 1 ≤ 1.
    expect(breakerRefusal(2, limits)).toBeUndefined();
    // Fourth would be the second pending one.
    expect(breakerRefusal(3, limits)).toBe('max-pending-requests');
    expect(breakerRefusal(4, { ...limits, maxPendingRequests: 10 })).toBe('max-requests');
  });
});

describe('outlier ejection', () => {
  const o = { ...DEFAULT_OUTLIER, consecutive5xx: 3, consecutiveGatewayFailures: 2, baseEjectionMs: 1000 };
  it('ejects after consecutive 5xx, probes half-open, re-ejects for longer, returns on success', () => {
    const t = new OutlierTracker(o);
    const yes = () => true;
    expect(t.record('5xx', 0, false, yes)).toBeUndefined();
    expect(t.record('success', 0, false, yes)).toBeUndefined(); // a success resets the streak
    t.record('5xx', 0, false, yes);
    t.record('5xx', 0, false, yes);
    expect(t.record('5xx', 0, false, yes)).toMatchObject({
      type: 'ejected',
      reason: 'consecutive-5xx',
      forMs: 1000,
    });
    expect(t.available(500)).toBe(false);
    // Half-open: one probe at a time.
    expect(t.available(1000)).toBe(true);
    expect(t.begin()).toBe(true);
    expect(t.available(1000)).toBe(false);
    expect(t.record('5xx', 1000, true, yes)).toMatchObject({ type: 'probe-failed', forMs: 2000, times: 2 });
    expect(t.available(2999)).toBe(false);
    expect(t.available(3000)).toBe(true);
    expect(t.begin()).toBe(true);
    expect(t.record('success', 3000, true, yes)).toEqual({ type: 'returned' });
    expect(t.state).toBe('healthy');
    // The multiplier decays after a healthy base interval.
    t.record('success', 4100, false, yes);
    expect(t.times).toBe(1);
  });

  it('ejects on consecutive connect failures, but not past the ejection limit', () => {
    const t = new OutlierTracker(o);
    t.record('gateway-failure', 0, false, () => false);
    expect(t.record('gateway-failure', 0, false, () => false)).toBeUndefined();
    expect(t.state).toBe('healthy');
    expect(t.record('gateway-failure', 0, false, () => true)).toMatchObject({
      reason: 'consecutive-gateway-failure',
    });
    expect(ejectionAllowed(0, 3, 50)).toBe(true);
    expect(ejectionAllowed(1, 3, 50)).toBe(false);
    expect(ejectionAllowed(0, 1, 10)).toBe(true); // at least one
    expect(ejectionAllowed(2, 10, 30)).toBe(true);
  });
});

describe('annotations', () => {
  it('parse, and fall back to defaults with a warning on bad values', () => {
    const warnings: string[] = [];
    const c = upstreamConfig(
      {
        'strata.dev/load-balancer': 'peak-ewma',
        'strata.dev/max-requests': '2',
        'strata.dev/outlier-base-ejection-time': '3s',
        'strata.dev/max-connections': 'lots',
      },
      (k) => warnings.push(k),
    );
    expect(c.loadBalancer).toBe('peak-ewma');
    expect(c.breaker.maxRequests).toBe(2);
    expect(c.breaker.maxConnections).toBe(1024);
    expect(c.outlier.baseEjectionMs).toBe(3000);
    expect(warnings).toEqual(['strata.dev/max-connections']);
    expect(
      upstreamConfig({ 'strata.dev/load-balancer': 'random' }, (k) => warnings.push(k)).loadBalancer,
    ).toBe('least-request');
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
