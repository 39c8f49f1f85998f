import { type ScorePlugin, normalize } from '../framework.ts';

/** preferredDuringScheduling node affinity: the sum of the weights of the terms the node matches. */
export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  prepare: (ctx) => ctx.pod.preferredNodeAffinity !== undefined,
  score: (pod, node) => {
    let s = 0;
    for (const p of pod.preferredNodeAffinity!) if (p.match(node)) s += p.weight;
    return s;
  },
  normalize: normalize.byMax,
};
