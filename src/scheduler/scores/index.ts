import type { ScorePlugin } from '../framework.ts';
import { nodeAffinityScore } from './node-affinity.ts';
import { podAffinityScore } from './pod-affinity.ts';
import { type Strategy, resourcesScore } from './resources.ts';
import { taintTolerationScore } from './taint-toleration.ts';
import { topologySpreadScore } from './topology-spread.ts';

export { nodeAffinityScore } from './node-affinity.ts';
export { podAffinityScore } from './pod-affinity.ts';
export {
  type ScoreFn,
  STRATEGIES,
  type Strategy,
  binpackScore,
  mostAllocatedScore,
  resourcesScore,
  scoreFor,
  spreadScore,
} from './resources.ts';
export { taintTolerationScore } from './taint-toleration.ts';
export { topologySpreadScore } from './topology-spread.ts';

/** The strategy's resource score plus the placement-rule scores (each skipped for pods without such rules). */
export function defaultScores(strategy: Strategy = 'spread'): ScorePlugin[] {
  return [
    resourcesScore(strategy),
    nodeAffinityScore,
    taintTolerationScore,
    podAffinityScore,
    topologySpreadScore,
  ];
}
