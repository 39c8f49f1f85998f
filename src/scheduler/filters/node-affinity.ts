import type { FilterPlugin } from '../framework.ts';
import { REASON_NODE_SELECTOR } from './node-selector.ts';

/**
 * spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: the node must match one of
 * the terms (a term matches when all its expressions do). Same reason text as nodeSelector, as in k8s.
 */
export const nodeAffinity: FilterPlugin = {
  name: 'NodeAffinity',
  prepare: (ctx) => ctx.pod.requiredNodeAffinity !== undefined,
  filter: (pod, node) =>
    pod.requiredNodeAffinity === undefined || pod.requiredNodeAffinity(node)
      ? undefined
      : REASON_NODE_SELECTOR,
  candidates: (ctx) => {
    const hint = ctx.pod.nodeAffinityIndex;
    if (!hint) return undefined;
    const cache = ctx.cache!;
    if ('names' in hint)
      return {
        lists: hint.names.map((name) => {
          const n = cache.get(name);
          return n?.node ? [n] : [];
        }),
        exact: hint.exact,
      };
    return { lists: hint.values.map((v) => cache.nodesWithLabel(hint.key, v)), exact: hint.exact };
  },
};
