// The replica calculator against kube's documented rule and the cases of kube's replica_calculator_test.go.
import { describe, expect, it } from 'vitest';
import {
  type PodInfo,
  type Reading,
  averageValueReplicas,
  resourceUtilizationReplicas,
} from './hpa-replicas.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const HOUR = 3_600_000;

/** A running pod, started an hour ago and ready since, requesting `request` (millicores). */
function pod(name: string, request = 1000, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    name,
    phase: 'Running',
    startTime: NOW - HOUR,
    ready: { status: 'True', lastTransitionTime: NOW - HOUR + 10_000 },
    request,
    ...extra,
  };
}
const readings = (values: Record<string, number>) =>
  new Map<string, Reading>(
    Object.entries(values).map(([n, v]) => [n, { value: v, timestamp: NOW - 5_000, windowMs: 10_000 }]),
  );

describe('resource utilization (percent of requests)', () => {
  it('desired = ceil(current × usage / target): kube scale-up case, 3 pods at 50 % for a 30 % target → 5', () => {
    const p = resourceUtilizationReplicas({
      currentReplicas: 3,
      targetUtilization: 30,
      resource: 'cpu',
      pods: [pod('a'), pod('b'), pod('c')],
      readings: readings({ a: 300, b: 500, c: 700 }),
      now: NOW,
    });
    expect(p).toMatchObject({ replicas: 5, utilization: 50 });
  });

  it('doubles at twice the target and halves at half (the docs: 200m vs 100m)', () => {
    const args = { currentReplicas: 4, targetUtilization: 100, resource: 'cpu', now: NOW };
    const pods = ['a', 'b', 'c', 'd'].map((n) => pod(n, 100));
    expect(
      resourceUtilizationReplicas({ ...args, pods, readings: readings({ a: 200, b: 200, c: 200, d: 200 }) })
        .replicas,
    ).toBe(8);
    expect(
      resourceUtilizationReplicas({ ...args, pods, readings: readings({ a: 50, b: 50, c: 50, d: 50 }) })
        .replicas,
    ).toBe(2);
  });

  it('stays put within the 10 % tolerance', () => {
    const p = resourceUtilizationReplicas({
      currentReplicas: 3,
      targetUtilization: 50,
      resource: 'cpu',
      pods: [pod('a'), pod('b'), pod('c')],
      readings: readings({ a: 520, b: 540, c: 510 }),
      now: NOW,
    });
    expect(p.replicas).toBe(3);
  });

  it('counts a starting (unready) pod at 0 when scaling up: kube ScaleUpUnreadyLessScale → 4, not 6', () => {
    const starting = pod('a', 1000, {
      startTime: NOW - 60_000,
      ready: { status: 'False', lastTransitionTime: NOW - 60_000 },
    });
    const p = resourceUtilizationReplicas({
      currentReplicas: 3,
      targetUtilization: 30,
      resource: 'cpu',
      pods: [starting, pod('b'), pod('c')],
      readings: readings({ a: 300, b: 500, c: 700 }),
      now: NOW,
    });
    expect(p).toMatchObject({ replicas: 4, utilization: 60 });
  });

  it('ignores Pending, Failed and deleting pods', () => {
    const p = resourceUtilizationReplicas({
      currentReplicas: 3,
      targetUtilization: 50,
      resource: 'memory',
      pods: [
        pod('a'),
        pod('b', 1000, { phase: 'Failed' }),
        pod('c', 1000, { deleting: true }),
        pod('d', 1000, { phase: 'Pending' }),
      ],
      readings: readings({ a: 1000, b: 5000, c: 5000 }),
      now: NOW,
    });
    // Only `a` counts (200 %); `d` is pending and counted at 0 when scaling up: (1000 + 0) / 2000 = 50 % → no change.
    expect(p.replicas).toBe(3);
  });

  it('a missing reading cannot cause a change: it dampens a scale-up (kube MissingMetricsNoChangeLt)', () => {
    const p = resourceUtilizationReplicas({
      currentReplicas: 2,
      targetUtilization: 100,
      resource: 'cpu',
      pods: [pod('a'), pod('b')],
      readings: readings({ a: 1900 }),
      now: NOW,
    });
    expect(p.replicas).toBe(2);
  });

  it('a missing reading counts as 100 % of its request when scaling down', () => {
    const p = resourceUtilizationReplicas({
      currentReplicas: 4,
      targetUtilization: 50,
      resource: 'cpu',
      pods: [pod('a'), pod('b'), pod('c'), pod('d')],
      readings: readings({ a: 100, b: 100, c: 100 }),
      now: NOW,
    });
    // Without d: 10 % → ceil(0.2 × 3) = 1; with d at 100 %: 32.5 % → ceil(0.65 × 4) = 3.
    expect(p.replicas).toBe(3);
  });

  it('refuses pods without a request, naming the resource', () => {
    expect(() =>
      resourceUtilizationReplicas({
        currentReplicas: 1,
        targetUtilization: 50,
        resource: 'cpu',
        pods: [pod('a', 0, { request: undefined })],
        readings: readings({ a: 100 }),
        now: NOW,
      }),
    ).toThrow(/missing request for cpu/);
  });
});

describe('average value (AverageValue targets and Pods metrics)', () => {
  it('requests_per_second: 3 pods at 30 rps for a 10 rps target → 9', () => {
    const p = averageValueReplicas({
      currentReplicas: 3,
      targetAverage: 10,
      pods: [pod('a'), pod('b'), pod('c')],
      readings: readings({ a: 30, b: 30, c: 30 }),
      now: NOW,
    });
    expect(p).toMatchObject({ replicas: 9, averageValue: 30 });
  });

  it('fills a missing pod with the target when scaling down', () => {
    const p = averageValueReplicas({
      currentReplicas: 3,
      targetAverage: 10,
      pods: [pod('a'), pod('b'), pod('c')],
      readings: readings({ a: 1, b: 1 }),
      now: NOW,
    });
    // (1 + 1 + 10) / 3 = 4 → ratio 0.4 → ceil(1.2) = 2.
    expect(p.replicas).toBe(2);
  });
});
