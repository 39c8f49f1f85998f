import { type ScorePlugin, normalize } from '../framework.ts';
import { isTolerated } from '../pod-info.ts';

/** PreferNoSchedule taints the pod does not tolerate: the fewer, the better. */
export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  prepare: (ctx) => (ctx.cache ? ctx.cache.softTaintedNodes > 0 : ctx.nodes.some((n) => n.softTaints.length)),
  score: (pod, node) => {
    let n = 0;
    for (const t of node.softTaints) if (!isTolerated(pod.tolerations, t)) n++;
    return n;
  },
  normalize: normalize.reverse,
};
