import type { FilterPlugin } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';

export const REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector";

/** Every spec.nodeSelector entry must equal the node's label. */
export const nodeSelector: FilterPlugin = {
  name: 'NodeSelector',
  prepare: (ctx) => ctx.pod.nodeSelector.length > 0,
  filter: (pod, node) => {
    for (const [k, v] of pod.nodeSelector) if (node.labelMap.get(k) !== v) return REASON_NODE_SELECTOR;
    return undefined;
  },
  candidates: (ctx) => {
    let best: readonly NodeInfo[] | undefined;
    for (const [k, v] of ctx.pod.nodeSelector) {
      const l = ctx.cache!.nodesWithLabel(k, v);
      if (!best || l.length < best.length) best = l;
    }
    return best && { lists: [best], exact: ctx.pod.nodeSelector.length === 1 };
  },
};
