import type { FilterPlugin } from './types.ts';

export const REASON_NOT_READY = 'node(s) were not ready';

/** Only nodes whose Ready condition is True take new pods (Unknown means the agent is not reporting). */
export const nodeReady: FilterPlugin = {
  name: 'NodeReady',
  filter: (_pod, node) => (node.ready ? undefined : REASON_NOT_READY),
};
