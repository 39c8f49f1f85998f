import { type ScorePlugin, normalize } from '../framework.ts';
import { spreadState } from '../filters/topology-spread.ts';

const NAME = 'PodTopologySpreadScore';

/**
 * whenUnsatisfiable: ScheduleAnyway — prefer the node whose domains hold the fewest matching pods;
 * a node without the topology label scores as if its domain held more than any other.
 */
export const topologySpreadScore: ScorePlugin = {
  name: NAME,
  weight: 2,
  prepare: (ctx) => {
    ctx.spreadSoft = spreadState(ctx, false);
    return ctx.spreadSoft !== undefined;
  },
  score: (_pod, node, ctx) => {
    let s = 0;
    for (const st of ctx.spreadSoft!) {
      const v = node.labelMap.get(st.constraint.topologyKey);
      if (v === undefined) {
        let max = 0;
        for (const c of st.counts.values()) if (c > max) max = c;
        s += max + 1;
      } else s += st.counts.get(v) ?? 0;
    }
    return s;
  },
  normalize: normalize.reverse,
};
