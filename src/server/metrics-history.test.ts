import { describe, expect, it } from 'vitest';
import { MetricsHistory } from './metrics-history.ts';

describe('MetricsHistory', () => {
  it('keeps at most retention ÷ step points, oldest dropped first', () => {
    const h = new MetricsHistory({ stepMs: 10_000, retentionMs: 100_000 });
    expect(h.capacity).toBe(10);
    for (let i = 0; i < 25; i++) h.record('pod/default/a', i * 10_000, { cpu: i });
    const [s] = h.query({ entity: 'pod/default/a', figure: 'cpu' });
    expect(s.points.map((p) => p.v)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(s.points[0].t).toBe(150_000);
  });

  it('a point within half a step replaces the previous one; missing figures are unknown, not stale', () => {
    const h = new MetricsHistory({ stepMs: 10_000 });
    h.record('node/n1', 0, { cpu: 1, mem: 5 });
    h.record('node/n1', 2_000, { cpu: 2, mem: 6 });
    h.record('node/n1', 10_000, { cpu: 3 });
    expect(h.query({ entity: 'node/n1', figure: 'cpu' })[0].points).toEqual([
      { t: 2_000, v: 2 },
      { t: 10_000, v: 3 },
    ]);
    expect(h.query({ entity: 'node/n1', figure: 'mem' })[0].points).toEqual([{ t: 2_000, v: 6 }]);
  });

  it('queries by prefix and time window, and prunes entities gone longer than the retention', () => {
    const h = new MetricsHistory({ stepMs: 1000, retentionMs: 60_000 });
    h.record('pod/a/x', 1000, { cpu: 1 });
    h.record('pod/a/y', 1000, { cpu: 2 });
    h.record('pod/b/z', 1000, { cpu: 3 });
    h.record('pod/a/x', 5000, { cpu: 4 });
    expect(h.query({ prefix: 'pod/a/', figure: 'cpu', since: 2000 })).toEqual([
      { entity: 'pod/a/x', points: [{ t: 5000, v: 4 }] },
    ]);
    h.prune(62_000);
    expect(h.entities()).toEqual(['pod/a/x']);
  });
});
