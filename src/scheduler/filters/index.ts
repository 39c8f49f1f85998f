import { nodeReady } from './node-ready.ts';
import { nodeSelector } from './node-selector.ts';
import { nodeUnschedulable } from './node-unschedulable.ts';
import { resourcesFit } from './resources-fit.ts';
import { runtimeClass } from './runtime-class.ts';
import type { FilterPlugin } from './types.ts';

export type { FilterPlugin } from './types.ts';
export { REASON_NOT_READY, nodeReady } from './node-ready.ts';
export { REASON_UNSCHEDULABLE, nodeUnschedulable } from './node-unschedulable.ts';
export { runtimeClass, runtimeClassReason } from './runtime-class.ts';
export { REASON_NODE_SELECTOR, nodeSelector } from './node-selector.ts';
export {
  REASON_INSUFFICIENT_CPU,
  REASON_INSUFFICIENT_MEMORY,
  REASON_TOO_MANY_PODS,
  resourcesFit,
} from './resources-fit.ts';

/** The default filters, cheapest and most decisive first; a node's first failing filter gives its reasons. */
export const defaultFilters: readonly FilterPlugin[] = [
  nodeUnschedulable,
  nodeReady,
  runtimeClass,
  nodeSelector,
  resourcesFit,
];
