// Score plugins: 0..100 per node, higher is better. `spread` (Kubernetes' LeastAllocated) prefers the
// node with the most room left after placing the pod, spreading load; `binpack` (MostAllocated) prefers
// the fullest node that still fits, keeping whole nodes free (for scale-down or large pods).
import type { NodeInfo, PodInfo } from './node-info.ts';

export type Strategy = 'spread' | 'binpack';
export const STRATEGIES: readonly Strategy[] = ['spread', 'binpack'];

export type ScoreFn = (pod: PodInfo, node: NodeInfo) => number;

/** Fraction (0..1) of cpu and memory, averaged, that the node's pods plus this one would use. */
function usedFraction(pod: PodInfo, node: NodeInfo): number {
  const a = node.allocatable;
  const r = node.nonZeroRequested;
  const p = pod.resources.nonZero;
  const cpu = a.milliCpu > 0 ? Math.min(1, (r.milliCpu + p.milliCpu) / a.milliCpu) : 1;
  const mem = a.memory > 0 ? Math.min(1, (r.memory + p.memory) / a.memory) : 1;
  return (cpu + mem) / 2;
}

export const spreadScore: ScoreFn = (pod, node) => (1 - usedFraction(pod, node)) * 100;
export const binpackScore: ScoreFn = (pod, node) => usedFraction(pod, node) * 100;

export function scoreFor(strategy: Strategy): ScoreFn {
  switch (strategy) {
    case 'spread':
      return spreadScore;
    case 'binpack':
      return binpackScore;
    default:
      throw new Error(
        `unknown scheduling strategy ${JSON.stringify(strategy)}: supported values: "spread", "binpack"`,
      );
  }
}
