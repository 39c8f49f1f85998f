// Kept for importers of the v1 module: the score plugins now live one per file under scores/.
export {
  type ScoreFn,
  STRATEGIES,
  type Strategy,
  binpackScore,
  defaultScores,
  mostAllocatedScore,
  scoreFor,
  spreadScore,
} from './scores/index.ts';
