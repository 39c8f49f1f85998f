import type { FilterPlugin } from '../framework.ts';
import { isTolerated } from '../pod-info.ts';

export { untoleratedTaintReason } from '../node-info.ts';

/**
 * A node's NoSchedule and NoExecute taints must each be tolerated by the pod (PreferNoSchedule taints
 * only lower the score, see scores/taint-toleration.ts).
 */
export const taintToleration: FilterPlugin = {
  name: 'TaintToleration',
  // Nothing to check while no node is tainted.
  prepare: (ctx) => !ctx.cache || ctx.cache.hardTaintedNodes > 0,
  filter: (pod, node) => {
    const taints = node.hardTaints;
    for (let i = 0; i < taints.length; i++)
      if (!isTolerated(pod.tolerations, taints[i])) return node.hardTaintReasons[i];
    return undefined;
  },
};
