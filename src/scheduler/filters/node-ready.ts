import type { FilterPlugin } from '../framework.ts';

export const REASON_NOT_READY = 'node(s) were not ready';

/** Only nodes whose Ready condition is True take new pods (Unknown means the agent is not reporting). */
export const nodeReady: FilterPlugin = {
  name: 'NodeReady',
  // Nothing to check while no node is not ready.
  prepare: (ctx) => !ctx.cache || ctx.cache.notReadyNodes > 0,
  filter: (_pod, node) => (node.ready ? undefined : REASON_NOT_READY),
};
