import type { CycleContext, FilterPlugin } from '../framework.ts';
import type { PodSetTerm } from '../pod-info.ts';
import type { AntiAffinityGroup, SetCounter } from '../topology.ts';

export const REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules";
export const REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

export interface InterPodFilterState {
  affinity: { term: PodSetTerm; counter: SetCounter }[];
  anti: { term: PodSetTerm; counter: SetCounter }[];
  existing: AntiAffinityGroup[];
}

const NAME = 'InterPodAffinity';

function prepare(ctx: CycleContext): boolean {
  const p = ctx.pod;
  const topo = ctx.topology;
  const existing = topo.hasAntiAffinityGroups ? topo.antiAffinityAgainst(p) : [];
  if (!p.requiredAffinity && !p.requiredAntiAffinity && existing.length === 0) return false;
  let affinity = (p.requiredAffinity ?? []).map((term) => ({ term, counter: topo.counter(term) }));
  // The first pod of a group that wants to be near its own kind has nobody to be near: as in Kubernetes,
  // when no pod matches any affinity term and the pod matches them all itself, the terms do not apply.
  if (
    affinity.length &&
    affinity.every((a) => a.counter.total === 0) &&
    affinity.every((a) => a.term.namespaces.includes(p.namespace) && a.term.matcher(p.labels))
  )
    affinity = [];
  const anti = (p.requiredAntiAffinity ?? []).map((term) => ({ term, counter: topo.counter(term) }));
  ctx.interPodFilter = { affinity, anti, existing };
  return true;
}

/**
 * Required pod affinity (a matching pod runs in the node's domain of `topologyKey`), required pod
 * anti-affinity (none does), and the anti-affinity of pods already placed (no existing pod whose
 * required anti-affinity term selects this pod runs in the node's domain).
 */
export const podAffinity: FilterPlugin = {
  name: NAME,
  prepare,
  filter: (_pod, node, ctx) => {
    const s = ctx.interPodFilter!;
    for (const g of s.existing) if (g.occupies(node.labelMap)) return REASON_EXISTING_ANTI_AFFINITY;
    for (const a of s.affinity)
      if (a.counter.countIn(a.term.topologyKey, node.labelMap) === 0) return REASON_POD_AFFINITY;
    for (const a of s.anti)
      if (a.counter.countIn(a.term.topologyKey, node.labelMap) > 0) return REASON_POD_ANTI_AFFINITY;
    return undefined;
  },
};
