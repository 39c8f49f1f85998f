// Stabilization and rate policies against kube's documented behavior examples.
import { describe, expect, it } from 'vitest';
import { ScaleHistory, replicaRateLimit } from './hpa-behavior.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const none = () => 0;

describe('rate policies', () => {
  it('scale down, the docs example: 4 pods or 10 % per 60 s, Max picks the larger change', () => {
    const rules = {
      selectPolicy: 'Max' as const,
      policies: [
        { type: 'Pods' as const, value: 4, periodSeconds: 60 },
        { type: 'Percent' as const, value: 10, periodSeconds: 60 },
      ],
    };
    // 80 replicas: 10 % is 8 pods, more than 4 → 72. 20 replicas: 10 % is 2, fewer than 4 → 16.
    expect(replicaRateLimit('down', 80, none, rules)).toBe(72);
    expect(replicaRateLimit('down', 20, none, rules)).toBe(16);
    expect(replicaRateLimit('down', 80, none, { ...rules, selectPolicy: 'Min' })).toBe(76);
    expect(replicaRateLimit('down', 80, none, { ...rules, selectPolicy: 'Disabled' })).toBe(80);
  });

  it('scale up, kube defaults: 4 pods or 100 % per 15 s', () => {
    const rules = {
      selectPolicy: 'Max' as const,
      policies: [
        { type: 'Pods' as const, value: 4, periodSeconds: 15 },
        { type: 'Percent' as const, value: 100, periodSeconds: 15 },
      ],
    };
    expect(replicaRateLimit('up', 1, none, rules)).toBe(5);
    expect(replicaRateLimit('up', 10, none, rules)).toBe(20);
    // 4 were added in this period: the period started at 6 → 10 (pods) or 12 (percent).
    expect(replicaRateLimit('up', 10, () => 4, rules)).toBe(12);
  });
});

describe('ScaleHistory', () => {
  const behavior = {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max' as const,
      policies: [
        { type: 'Pods' as const, value: 4, periodSeconds: 15 },
        { type: 'Percent' as const, value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: 60,
      selectPolicy: 'Max' as const,
      policies: [{ type: 'Percent' as const, value: 100, periodSeconds: 15 }],
    },
  };
  const base = { key: 'ns/web', minReplicas: 1, maxReplicas: 10, behavior };

  it('limits a scale-up to the policy rate, and counts what was added within the period', () => {
    const h = new ScaleHistory();
    const a = h.normalize({ ...base, currentReplicas: 1, desiredReplicas: 10, now: T0 });
    expect(a).toMatchObject({ replicas: 5, limited: true, limitReason: 'ScaleUpLimit' });
    h.recordScale('ns/web', behavior, 1, 5, T0);
    // 5 s later the period (15 s) still holds the +4: the limit is 1 + 4 = 5 and 200 % of 1 = 2.
    expect(h.normalize({ ...base, currentReplicas: 5, desiredReplicas: 10, now: T0 + 5_000 }).replicas).toBe(
      5,
    );
    // After the period: 5 + 4 = 9 or 200 % = 10 → 10.
    expect(h.normalize({ ...base, currentReplicas: 5, desiredReplicas: 10, now: T0 + 16_000 })).toMatchObject(
      {
        replicas: 10,
        limited: false,
      },
    );
  });

  it('holds a scale-down at the highest recommendation of the stabilization window', () => {
    const h = new ScaleHistory();
    h.normalize({ ...base, currentReplicas: 6, desiredReplicas: 6, now: T0 });
    h.normalize({ ...base, currentReplicas: 6, desiredReplicas: 4, now: T0 + 15_000 });
    const held = h.normalize({ ...base, currentReplicas: 6, desiredReplicas: 2, now: T0 + 30_000 });
    expect(held).toMatchObject({ replicas: 6, ableReason: 'ScaleDownStabilized' });
    // At T0 + 61 s the 6 has left the 60 s window; 4 (T0 + 15 s) is still in it.
    expect(h.normalize({ ...base, currentReplicas: 6, desiredReplicas: 2, now: T0 + 61_000 }).replicas).toBe(
      4,
    );
    expect(h.normalize({ ...base, currentReplicas: 4, desiredReplicas: 2, now: T0 + 120_000 }).replicas).toBe(
      2,
    );
  });

  it('clamps to min and max with kube reasons', () => {
    const h = new ScaleHistory();
    expect(h.normalize({ ...base, currentReplicas: 8, desiredReplicas: 30, now: T0 })).toMatchObject({
      replicas: 10,
      limitReason: 'TooManyReplicas',
    });
    const down = { ...behavior, scaleDown: { ...behavior.scaleDown, stabilizationWindowSeconds: 0 } };
    expect(
      h.normalize({
        ...base,
        key: 'x',
        behavior: down,
        minReplicas: 2,
        currentReplicas: 3,
        desiredReplicas: 1,
        now: T0,
      }),
    ).toMatchObject({ replicas: 2, limited: true, limitReason: 'TooFewReplicas' });
  });

  it('without behavior: kube older rules — 300 s scale-down window, scale-up to max(2×current, 4)', () => {
    const h = new ScaleHistory();
    const nb = { key: 'k', minReplicas: 1, maxReplicas: 20 };
    expect(h.normalize({ ...nb, currentReplicas: 1, desiredReplicas: 9, now: T0 })).toMatchObject({
      replicas: 4,
      limitReason: 'ScaleUpLimit',
    });
    // The 9 of 100 s ago holds the scale-down, itself capped at 2 × 4 = 8.
    expect(h.normalize({ ...nb, currentReplicas: 4, desiredReplicas: 1, now: T0 + 100_000 })).toMatchObject({
      replicas: 8,
      ableReason: 'ScaleDownStabilized',
    });
    expect(h.normalize({ ...nb, currentReplicas: 4, desiredReplicas: 1, now: T0 + 301_000 }).replicas).toBe(
      1,
    );
  });
});
