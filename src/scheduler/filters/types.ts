import type { NodeInfo, PodInfo } from '../node-info.ts';

/**
 * A filter plugin: undefined when the pod may go on the node, otherwise the reason(s) it may not, phrased
 * for the "0/N nodes are available: ..." message (reasons are counted across nodes, so keep them stable).
 */
export interface FilterPlugin {
  name: string;
  filter(pod: PodInfo, node: NodeInfo): string | string[] | undefined;
}
