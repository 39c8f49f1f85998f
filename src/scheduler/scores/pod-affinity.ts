import { type CycleContext, type ScorePlugin, normalize } from '../framework.ts';
import type { PodSetTerm } from '../pod-info.ts';
import type { SetCounter } from '../topology.ts';

const NAME = 'InterPodAffinityScore';
export type InterPodScoreState = { term: PodSetTerm; counter: SetCounter; sign: number }[];

/**
 * preferredDuringScheduling pod affinity and anti-affinity: Σ weight × matching pods in the node's
 * domain, added for affinity and subtracted for anti-affinity, then scaled min..max → 0..100.
 */
export const podAffinityScore: ScorePlugin = {
  name: NAME,
  weight: 2,
  prepare: (ctx: CycleContext) => {
    const p = ctx.pod;
    if (!p.preferredAffinity && !p.preferredAntiAffinity) return false;
    const topo = ctx.topology;
    ctx.interPodScore = [
      ...(p.preferredAffinity ?? []).map((term) => ({ term, counter: topo.counter(term), sign: 1 })),
      ...(p.preferredAntiAffinity ?? []).map((term) => ({ term, counter: topo.counter(term), sign: -1 })),
    ];
    return true;
  },
  score: (_pod, node, ctx) => {
    let s = 0;
    for (const t of ctx.interPodScore!)
      s += t.sign * t.term.weight * t.counter.countIn(t.term.topologyKey, node.labelMap);
    return s;
  },
  normalize: normalize.minMax,
};
