import type { FilterPlugin } from './types.ts';

export const REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';
export const REASON_TOO_MANY_PODS = 'Too many pods';

/**
 * Requests of the pods already on the node (not finished, including ones this scheduler has just
 * placed) plus this pod's must fit in the node's allocatable cpu, memory and pod slots.
 */
export const resourcesFit: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter: (pod, node) => {
    const a = node.allocatable;
    const r = node.requested;
    const want = pod.resources.requests;
    let reasons: string[] | undefined;
    if (r.pods + 1 > a.pods) (reasons ??= []).push(REASON_TOO_MANY_PODS);
    if (want.milliCpu > 0 && r.milliCpu + want.milliCpu > a.milliCpu)
      (reasons ??= []).push(REASON_INSUFFICIENT_CPU);
    if (want.memory > 0 && r.memory + want.memory > a.memory)
      (reasons ??= []).push(REASON_INSUFFICIENT_MEMORY);
    return reasons;
  },
};
