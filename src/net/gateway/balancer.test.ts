import { describe, expect, it } from 'vitest';
import { LeastRequest, PeakEwma, PeakEwmaEstimator, RoundRobin, type LoadInfo } from './balancer.ts';

const b = (id: string, active = 0, ewma?: number): LoadInfo => ({ id, active, latencyEwma: () => ewma });

/** A deterministic random source cycling through the given values. */
function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('load balancers', () => {
  it('round-robin visits each backend in turn', () => {
    const rr = new RoundRobin();
    const all = [b('a'), b('b'), b('c')];
    expect(Array.from({ length: 6 }, () => rr.pick(all)!.id)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(rr.pick([])).toBeUndefined();
  });

  it('least-request takes the less loaded of two distinct random choices', () => {
    // 0.0 → index 0; 0.99 → index 1 of the remaining two (shifted past 0 → 2).
    const lr = new LeastRequest(seq(0.0, 0.99));
    expect(lr.pick([b('a', 5), b('b', 0), b('c', 1)])!.id).toBe('c');
    // Never the same backend twice in one draw: with two backends the busier one never wins.
    const lr2 = new LeastRequest();
    for (let i = 0; i < 100; i++) expect(lr2.pick([b('x', 3), b('y', 1)])!.id).toBe('y');
  });

  it('least-request spreads evenly when loads are equal, and sheds a hot backend', () => {
    const lr = new LeastRequest();
    const counts = new Map<string, number>();
    const all = [b('a'), b('b'), b('c')];
    for (let i = 0; i < 3000; i++) {
      const id = lr.pick(all)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c']) expect(counts.get(id)).toBeGreaterThan(600);
    const hot = [b('a', 50), b('b', 0), b('c', 0)];
    let toHot = 0;
    for (let i = 0; i < 300; i++) if (lr.pick(hot)!.id === 'a') toHot++;
    expect(toHot).toBe(0);
  });

  it('peak-EWMA prefers the backend with the lower latency × load', () => {
    const pe = new PeakEwma();
    for (let i = 0; i < 100; i++) expect(pe.pick([b('slow', 0, 50), b('fast', 2, 1)])!.id).toBe('fast');
    for (let i = 0; i < 100; i++) expect(pe.pick([b('slow', 0, 5), b('fast', 20, 1)])!.id).toBe('slow');
  });

  it('the estimator jumps to a slow sample at once and decays toward fast ones', () => {
    const e = new PeakEwmaEstimator(1000);
    e.observe(10, 0);
    e.observe(100, 1);
    expect(e.get()).toBe(100);
    e.observe(10, 2);
    expect(e.get()).toBeGreaterThan(99);
    e.observe(10, 5000);
    expect(e.get()).toBeLessThan(12);
  });
});
