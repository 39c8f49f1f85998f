import type { CycleContext, FilterPlugin } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';
import type { SpreadConstraint } from '../pod-info.ts';

export const REASON_SPREAD = "node(s) didn't match pod topology spread constraints";
export const REASON_SPREAD_MISSING_LABEL =
  "node(s) didn't match pod topology spread constraints (missing required label)";

export interface SpreadState {
  constraint: SpreadConstraint;
  /** Matching pods per domain (live map of the shared counter). */
  counts: Map<string, number>;
  /** Fewest matching pods in any domain the pod may use (0 below minDomains). */
  min: number;
  /** 1 when the pod itself matches the selector (placing it adds one to the domain). */
  self: number;
}

/** Per-constraint state for the hard or the soft constraints of the pod; undefined when it has none. */
export function spreadState(ctx: CycleContext, hard: boolean): SpreadState[] | undefined {
  const p = ctx.pod;
  const cs = p.spreadConstraints?.filter((c) => c.hard === hard);
  if (!cs?.length) return undefined;
  const topo = ctx.topology;
  return cs.map((constraint) => {
    const counts = topo.counter(constraint).domains(constraint.topologyKey);
    const eligible = ctx.eligibleDomains(constraint.topologyKey);
    let min = 0;
    // Some eligible domain without any matching pod makes the minimum 0 without looking further.
    if (eligible.size >= constraint.minDomains && counts.size >= eligible.size) {
      min = Infinity;
      for (const d of eligible) {
        const v = counts.get(d) ?? 0;
        if (v < min) min = v;
        if (min === 0) break;
      }
      if (!Number.isFinite(min)) min = 0;
    }
    const self = constraint.namespaces.includes(p.namespace) && constraint.matcher(p.labels) ? 1 : 0;
    return { constraint, counts, min, self };
  });
}

const NAME = 'PodTopologySpread';

/**
 * whenUnsatisfiable: DoNotSchedule — placing the pod in the node's domain must keep
 * (pods in that domain + 1) − (fewest in any eligible domain) ≤ maxSkew; nodes without the topology
 * label are out.
 */
export const topologySpread: FilterPlugin = {
  name: NAME,
  prepare: (ctx) => {
    ctx.spreadHard = spreadState(ctx, true);
    return ctx.spreadHard !== undefined;
  },
  filter: (_pod, node, ctx) => {
    for (const s of ctx.spreadHard!) {
      const c = s.constraint;
      const v = node.labelMap.get(c.topologyKey);
      if (v === undefined) return REASON_SPREAD_MISSING_LABEL;
      if ((s.counts.get(v) ?? 0) + s.self - s.min > c.maxSkew) return REASON_SPREAD;
    }
    return undefined;
  },
  // With few domains (zones, racks), scan only the nodes of domains that still have room under maxSkew.
  candidates: (ctx) => {
    let best: NodeInfo[][] | undefined;
    let bestSize = Infinity;
    const states = ctx.spreadHard!;
    for (const s of states) {
      const c = s.constraint;
      const eligible = ctx.eligibleDomains(c.topologyKey);
      if (eligible.size > MAX_DOMAINS_TO_LIST) continue;
      const lists: NodeInfo[][] = [];
      let size = 0;
      for (const d of eligible) {
        if ((s.counts.get(d) ?? 0) + s.self - s.min > c.maxSkew) continue;
        const l = ctx.cache!.nodesWithLabel(c.topologyKey, d) as NodeInfo[];
        lists.push(l);
        size += l.length;
      }
      if (size < bestSize) {
        best = lists;
        bestSize = size;
      }
    }
    // With a single constraint, every node listed satisfies it.
    return best && { lists: best, exact: states.length === 1 };
  },
};

const MAX_DOMAINS_TO_LIST = 64;
