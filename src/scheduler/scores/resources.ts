// Resource scores: `spread` (Kubernetes' LeastAllocated) prefers the node with the most room left after
// placing the pod, spreading load; `binpack` (MostAllocated) prefers the fullest node that still fits,
// keeping whole nodes free (for scale-down or large pods).
import type { ScorePlugin } from '../framework.ts';
import type { NodeInfo, PodInfo } from '../node-info.ts';

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

/** Kubernetes' MostAllocated as is: the fullest node by fraction, empty or not. */
export const mostAllocatedScore: ScoreFn = (pod, node) => usedFraction(pod, node) * 100;

/**
 * Bin-packing: any node already in use (1..100, fuller is better) before an empty one; among empty
 * nodes the largest (below 1). Plain MostAllocated opens small nodes first — a pod fills more of a small
 * node — and so ends up using more nodes (see bench/scheduler.ts, packing vs the optimum).
 */
export const binpackScore: ScoreFn = (pod, node) => {
  if (node.requested.pods > 0) return 1 + usedFraction(pod, node) * 99;
  const a = node.allocatable;
  return Math.min(0.99, (a.milliCpu / 1000 + a.memory / 2 ** 32) / 1e5);
};

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

/** The strategy as a score plugin (weight 1, already 0..100). */
export function resourcesScore(strategy: Strategy): ScorePlugin {
  const score = scoreFor(strategy);
  return { name: strategy === 'binpack' ? 'MostAllocated' : 'LeastAllocated', weight: 1, score };
}
