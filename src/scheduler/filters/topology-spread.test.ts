import { describe, expect, it } from 'vitest';
import { NodeInfoCache, podInfo } from '../node-info.ts';
import { Placer, isPlaced } from '../schedule.ts';
import { node, pod, where } from '../test-helpers.ts';

const spread = (
  whenUnsatisfiable: string,
  topologyKey = 'topology.kubernetes.io/zone',
  maxSkew = 1,
  extra = {},
) => ({
  topologySpreadConstraints: [
    { maxSkew, topologyKey, whenUnsatisfiable, labelSelector: { matchLabels: { app: 'web' } }, ...extra },
  ],
});
const web = (name: string, spec: any) => pod({ name, labels: { app: 'web' } }, spec);

function placeAll(nodes: any[], pods: any[], percentage = 100): Map<string, number> {
  const cache = new NodeInfoCache();
  for (const n of nodes) cache.setNode(n);
  const placer = new Placer({ percentageOfNodesToScore: percentage });
  const perZone = new Map<string, number>();
  for (const p of pods) {
    const info = podInfo(p);
    const r = placer.place(info, cache.nodes(), cache);
    if (!isPlaced(r)) throw new Error(r.message);
    cache.assume(info, r.node);
    const zone = cache.get(r.node)!.labels['topology.kubernetes.io/zone'];
    perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
  }
  return perZone;
}

describe('PodTopologySpread filter (DoNotSchedule)', () => {
  it('keeps zones within maxSkew even when one zone has far more room', () => {
    const nodes = [
      node({ name: 'a1', zone: 'a', cpu: '64' }),
      node({ name: 'a2', zone: 'a', cpu: '64' }),
      node({ name: 'b1', zone: 'b', cpu: '2' }),
      node({ name: 'c1', zone: 'c', cpu: '2' }),
    ];
    const perZone = placeAll(
      nodes,
      Array.from({ length: 9 }, (_, i) => web(`w${i}`, spread('DoNotSchedule'))),
    );
    expect([...perZone.values()]).toEqual([3, 3, 3]);
  });

  it('refuses to exceed the skew, and nodes without the label', () => {
    const nodes = [
      node({ name: 'a1', zone: 'a' }),
      node({ name: 'b1', zone: 'b', cpu: '1' }),
      node({ name: 'nolabel' }),
    ];
    const bound = { a1: [web('w0', {})], b1: [pod({ name: 'fat', cpu: '1' })] };
    const w1 = (maxSkew: number) =>
      pod(
        { name: 'w1', cpu: '500m', labels: { app: 'web' } },
        spread('DoNotSchedule', 'topology.kubernetes.io/zone', maxSkew),
      );
    expect(where(w1(1), nodes, bound)).toBe(
      "unschedulable: 0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label).",
    );
    expect(where(w1(2), nodes, bound)).toBe('a1');
  });

  it('counts only domains of nodes the pod may use, and minDomains', () => {
    const nodes = [node({ name: 'a1', zone: 'a', labels: { pool: 'x' } }), node({ name: 'b1', zone: 'b' })];
    const spec = { ...spread('DoNotSchedule'), nodeSelector: { pool: 'x' } };
    // Zone b is not eligible (nodeSelector), so it does not hold the minimum at 0.
    expect(where(web('w1', spec), nodes, { a1: [web('w0', {})] })).toBe('a1');
    // With minDomains 2 and one eligible zone, the global minimum is 0: skew would be 2.
    const withMin = {
      ...spread('DoNotSchedule', 'topology.kubernetes.io/zone', 1, { minDomains: 2 }),
      nodeSelector: { pool: 'x' },
    };
    expect(where(web('w1', withMin), nodes, { a1: [web('w0', {})] })).toMatch(
      /didn't match pod topology spread constraints/,
    );
  });

  it('uses the zone index at scale and stays exact', () => {
    const nodes = Array.from({ length: 300 }, (_, i) => node({ name: `n${i}`, zone: `z${i % 3}` }));
    const perZone = placeAll(
      nodes,
      Array.from({ length: 301 }, (_, i) => web(`w${i}`, spread('DoNotSchedule'))),
      0,
    );
    const counts = [...perZone.values()].sort();
    expect(counts).toEqual([100, 100, 101]);
  });
});

describe('PodTopologySpread score (ScheduleAnyway)', () => {
  it('prefers the emptier domain but never refuses', () => {
    const nodes = [node({ name: 'a1', zone: 'a' }), node({ name: 'b1', zone: 'b', cpu: '1' })];
    const bound = { a1: [web('w0', {}), web('w1', {})] };
    expect(where(web('w2', spread('ScheduleAnyway')), nodes, bound)).toBe('b1');
    expect(
      where(pod({ name: 'big', labels: { app: 'web' }, cpu: '2' }, spread('ScheduleAnyway')), nodes, bound),
    ).toBe('a1');
  });
});
