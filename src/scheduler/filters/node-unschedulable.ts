import type { FilterPlugin } from '../framework.ts';
import { isTolerated } from '../pod-info.ts';

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';

/** The taint a cordoned node implies; pods tolerating it (DaemonSet pods) may still go there. */
export const UNSCHEDULABLE_TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' } as const;

/** `spec.unschedulable` (cordon) keeps new pods off a node. */
export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  // Nothing to check while no node is cordoned.
  prepare: (ctx) => !ctx.cache || ctx.cache.unschedulableNodes > 0,
  filter: (pod, node) =>
    node.unschedulable && !isTolerated(pod.tolerations, UNSCHEDULABLE_TAINT)
      ? REASON_UNSCHEDULABLE
      : undefined,
};
