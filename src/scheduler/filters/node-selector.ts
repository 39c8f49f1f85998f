import type { FilterPlugin } from './types.ts';

export const REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector";

/** Every spec.nodeSelector entry must equal the node's label. */
export const nodeSelector: FilterPlugin = {
  name: 'NodeSelector',
  filter: (pod, node) => {
    for (const [k, v] of pod.nodeSelector) if (node.labels[k] !== v) return REASON_NODE_SELECTOR;
    return undefined;
  },
};
