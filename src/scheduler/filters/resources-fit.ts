import type { FilterPlugin } from '../framework.ts';
import type { NodeInfo, PodInfo } from '../node-info.ts';

export const REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';
export const REASON_TOO_MANY_PODS = 'Too many pods';

/** Requests of pods nominated to the node (by preemption) that outrank or equal this pod. */
function nominatedAhead(pod: PodInfo, node: NodeInfo): { milliCpu: number; memory: number; pods: number } {
  const sum = { milliCpu: 0, memory: 0, pods: 0 };
  for (const n of node.nominated.values()) {
    if (n.key === pod.key || n.priority < pod.priority) continue;
    sum.milliCpu += n.resources.requests.milliCpu;
    sum.memory += n.resources.requests.memory;
    sum.pods += 1;
  }
  return sum;
}

/**
 * Requests of the pods already on the node (not finished, including ones this scheduler has just
 * placed, and preemptors waiting for room there) plus this pod's must fit in the node's allocatable
 * cpu, memory and pod slots.
 */
export const resourcesFit: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter: (pod, node) => {
    const a = node.allocatable;
    const r = node.requested;
    const want = pod.resources.requests;
    let pods = r.pods;
    let cpu = r.milliCpu;
    let mem = r.memory;
    if (node.nominated.size) {
      const n = nominatedAhead(pod, node);
      pods += n.pods;
      cpu += n.milliCpu;
      mem += n.memory;
    }
    let reasons: string[] | undefined;
    if (pods + 1 > a.pods) (reasons ??= []).push(REASON_TOO_MANY_PODS);
    if (want.milliCpu > 0 && cpu + want.milliCpu > a.milliCpu) (reasons ??= []).push(REASON_INSUFFICIENT_CPU);
    if (want.memory > 0 && mem + want.memory > a.memory) (reasons ??= []).push(REASON_INSUFFICIENT_MEMORY);
    return reasons;
  },
};
