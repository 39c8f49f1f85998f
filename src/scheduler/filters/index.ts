import { nodeAffinity } from './node-affinity.ts';
import { nodeReady } from './node-ready.ts';
import { nodeSelector } from './node-selector.ts';
import { nodePorts } from './node-ports.ts';
import { nodeUnschedulable } from './node-unschedulable.ts';
import { podAffinity } from './pod-affinity.ts';
import { resourcesFit } from './resources-fit.ts';
import { runtimeClass } from './runtime-class.ts';
import { taintToleration } from './taint-toleration.ts';
import { topologySpread } from './topology-spread.ts';
import type { FilterPlugin } from './types.ts';

export type { FilterPlugin } from './types.ts';
export { REASON_NOT_READY, nodeReady } from './node-ready.ts';
export { REASON_UNSCHEDULABLE, UNSCHEDULABLE_TAINT, nodeUnschedulable } from './node-unschedulable.ts';
export { runtimeClass, runtimeClassReason } from './runtime-class.ts';
export { REASON_NODE_SELECTOR, nodeSelector } from './node-selector.ts';
export { REASON_PORTS, nodePorts } from './node-ports.ts';
export { nodeAffinity } from './node-affinity.ts';
export { taintToleration, untoleratedTaintReason } from './taint-toleration.ts';
export {
  REASON_INSUFFICIENT_CPU,
  REASON_INSUFFICIENT_MEMORY,
  REASON_TOO_MANY_PODS,
  resourcesFit,
} from './resources-fit.ts';
export {
  REASON_EXISTING_ANTI_AFFINITY,
  REASON_POD_AFFINITY,
  REASON_POD_ANTI_AFFINITY,
  podAffinity,
} from './pod-affinity.ts';
export { REASON_SPREAD, REASON_SPREAD_MISSING_LABEL, topologySpread } from './topology-spread.ts';

/**
 * The default filters, cheapest and most decisive first; a node's first failing filter gives its reasons.
 * Filters whose prepare() opts out for a pod (no nodeSelector, no affinity, ...) cost nothing for it.
 */
export const defaultFilters: readonly FilterPlugin[] = [
  nodeUnschedulable,
  nodeReady,
  runtimeClass,
  nodeSelector,
  nodeAffinity,
  taintToleration,
  nodePorts,
  resourcesFit,
  topologySpread,
  podAffinity,
];

/** Filters whose failure removing pods from the node cannot cure (preemption skips such nodes). */
export const UNRESOLVABLE_BY_PREEMPTION: ReadonlySet<string> = new Set([
  nodeUnschedulable.name,
  nodeReady.name,
  runtimeClass.name,
  nodeSelector.name,
  nodeAffinity.name,
  taintToleration.name,
  nodePorts.name,
]);
