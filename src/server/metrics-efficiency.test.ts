import { describe, expect, it } from 'vitest';
import { analysePod } from './metrics-efficiency.ts';
import { MetricsHistory, nodeEntity, podEntity } from './metrics-history.ts';

const pod = (resources: object, extra: object = {}) => ({
  metadata: { namespace: 'default', name: 'web' },
  spec: {
    nodeName: 'n1',
    runtimeClassName: 'container',
    containers: [{ name: 'main', resources }],
    ...extra,
  },
});

/** 30 points 10 s apart ending at `now`, each with these figures. */
function fill(
  h: MetricsHistory,
  entity: string,
  now: number,
  figures: (i: number) => Record<string, number>,
) {
  for (let i = 0; i < 30; i++) h.record(entity, now - (29 - i) * 10_000, figures(i));
}

describe('analysePod', () => {
  const now = 1_000_000_000;

  it('flags CPU throttling with the share of periods, from Σthrottled ÷ Σperiods over the window', () => {
    const h = new MetricsHistory();
    // 100 periods per 10 s, 38 throttled; a spike before the window must not count.
    h.record(podEntity('default', 'web'), now - 400_000, {
      cpu: 0.1,
      cfsPeriods: 100,
      cfsThrottledPeriods: 100,
    });
    fill(h, podEntity('default', 'web'), now, () => ({
      cpu: 0.1,
      memory: 20e6,
      cfsPeriods: 100,
      cfsThrottledPeriods: 38,
    }));
    const e = analysePod(pod({ requests: { cpu: '100m' }, limits: { cpu: '100m' } }), h, { now });
    expect(e.cpu.throttledRatio).toBeCloseTo(0.38);
    expect(e.bottlenecks.map((b) => b.kind)).toEqual(['cpu-throttling']);
    expect(e.verdict).toBe('CPU-throttled 38 % of periods in the last 5 min: raise limits.cpu or scale out');
    expect(e.efficiency).toBeCloseTo(1);
  });

  it('flags an OOM risk near limits.memory, and names the node-wide PSI source on cgroup v1', () => {
    const h = new MetricsHistory();
    fill(h, podEntity('default', 'web'), now, (i) => ({ cpu: 0.01, memory: (50 + i) * 2 ** 20 }));
    fill(h, nodeEntity('n1'), now, () => ({ ioPressure: 0.2 }));
    const e = analysePod(pod({ limits: { memory: '80Mi' } }), h, { now });
    expect(e.memory.peakBytes).toBe(79 * 2 ** 20);
    expect(e.bottlenecks.map((b) => b.kind)).toEqual(['oom-risk', 'io-pressure']);
    expect(e.verdict).toMatch(/^memory working set reached 99 % of limits.memory \(80Mi\).*OOM risk/);
    expect(e.io).toMatchObject({ pressureSource: 'node' });
    expect(e.bottlenecks[1].evidence).toContain('node-wide PSI');
  });

  it('calls an idle pod over-provisioned and suggests requests from its peak', () => {
    const h = new MetricsHistory();
    fill(h, podEntity('default', 'web'), now, () => ({ cpu: 0.05, memory: 10 * 2 ** 20 }));
    const e = analysePod(pod({ requests: { cpu: '1', memory: '1Gi' } }), h, { now });
    expect(e.bottlenecks).toEqual([]);
    expect(e.efficiency).toBeLessThan(0.05);
    expect(e.verdict).toMatch(/^over-provisioned: uses \d+ % of what it reserves$/);
    expect(e.hints).toEqual([
      'lower requests.cpu 1 → 63m (peak 50m + 25 %)',
      'lower requests.memory 1Gi → 13Mi (peak + 25 %)',
    ]);
  });

  it('says so when there is no history yet', () => {
    const e = analysePod(pod({}), new MetricsHistory(), { now });
    expect(e.verdict).toBe('no data yet');
    expect(e.samples).toBe(0);
  });
});
