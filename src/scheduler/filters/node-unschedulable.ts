import type { FilterPlugin } from './types.ts';

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';

/** `spec.unschedulable` (cordon) keeps new pods off a node. */
export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter: (_pod, node) => (node.unschedulable ? REASON_UNSCHEDULABLE : undefined),
};
