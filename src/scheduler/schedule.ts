// Pure placement: filter the nodes, score the feasible ones, pick the best; or explain, per reason with
// node counts, why no node fits. Like kube-scheduler, a large cluster is not scanned in full for every
// pod: the search starts where the previous one stopped and ends once enough feasible nodes are found
// (percentageOfNodesToScore), which also spreads equal-scoring choices round-robin.
import { defaultFilters, type FilterPlugin } from './filters/index.ts';
import { NodeInfoCache, type NodeInfo, type PodInfo, podInfo, podKey } from './node-info.ts';
import { type Strategy, scoreFor } from './scores.ts';

export interface PlacementOptions {
  /** Default 'spread'. */
  strategy?: Strategy;
  filters?: readonly FilterPlugin[];
  /**
   * Percentage (1..100) of nodes to find feasible before scoring. Default (0 or unset): adaptive as in
   * Kubernetes, 50% minus 1% per 125 nodes, at least 5%, and never fewer than 100 nodes.
   */
  percentageOfNodesToScore?: number;
}

export interface Placed {
  node: string;
}

export interface Unschedulable {
  /** Reason → number of nodes that gave it. A node can give more than one (e.g. cpu and memory). */
  reasons: Map<string, number>;
  numNodes: number;
  message: string;
}

export type PlacementResult = Placed | Unschedulable;

export function isPlaced(r: PlacementResult): r is Placed {
  return (r as Placed).node !== undefined;
}

const MIN_FEASIBLE_NODES_TO_FIND = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

/** How many feasible nodes to find before settling (kube-scheduler's numFeasibleNodesToFind). */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100) return numAllNodes;
  let pct = percentage;
  if (pct <= 0) pct = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, 50 - Math.floor(numAllNodes / 125));
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.floor((numAllNodes * pct) / 100));
}

/** `0/3 nodes are available: 2 Insufficient memory, 1 node(s) didn't offer runtime class "microvm".` */
export function unschedulableMessage(reasons: Map<string, number>, numNodes: number): string {
  if (numNodes === 0) return '0/0 nodes are available: no nodes registered.';
  const parts = [...reasons]
    .sort(([ra, ca], [rb, cb]) => cb - ca || (ra < rb ? -1 : ra > rb ? 1 : 0))
    .map(([reason, count]) => `${count} ${reason}`);
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}

/** A placement engine with the state that makes repeated placement fair: where the next search starts. */
export class Placer {
  private readonly filters: readonly FilterPlugin[];
  private readonly score: (pod: PodInfo, node: NodeInfo) => number;
  private readonly percentage: number;
  private nextStart = 0;

  constructor(opts: PlacementOptions = {}) {
    this.filters = opts.filters ?? defaultFilters;
    this.score = scoreFor(opts.strategy ?? 'spread');
    this.percentage = opts.percentageOfNodesToScore ?? 0;
  }

  /** The first filter that rejects the node gives its reason(s); undefined when the pod fits. */
  check(pod: PodInfo, node: NodeInfo): string | string[] | undefined {
    for (const f of this.filters) {
      const r = f.filter(pod, node);
      if (r !== undefined && (typeof r === 'string' || r.length > 0)) return r;
    }
    return undefined;
  }

  place(pod: PodInfo, nodes: readonly NodeInfo[]): PlacementResult {
    const n = nodes.length;
    const want = numFeasibleNodesToFind(n, this.percentage);
    let best: NodeInfo | undefined;
    let bestScore = -Infinity;
    let feasible = 0;
    let examined = 0;
    let reasons: Map<string, number> | undefined;
    const start = n > 0 ? this.nextStart % n : 0;
    for (; examined < n && feasible < want; examined++) {
      const node = nodes[(start + examined) % n];
      const rejected = this.check(pod, node);
      if (rejected !== undefined) {
        reasons ??= new Map();
        if (typeof rejected === 'string') reasons.set(rejected, (reasons.get(rejected) ?? 0) + 1);
        else for (const r of rejected) reasons.set(r, (reasons.get(r) ?? 0) + 1);
        continue;
      }
      feasible++;
      const s = this.score(pod, node);
      // Strictly greater: among equals the first found wins, and the start rotates, so ties spread.
      if (s > bestScore) {
        bestScore = s;
        best = node;
      }
    }
    if (n > 0) this.nextStart = (start + examined) % n;
    if (best) return { node: best.name };
    const r = reasons ?? new Map<string, number>();
    return { reasons: r, numNodes: n, message: unschedulableMessage(r, n) };
  }
}

/**
 * One-shot placement from plain objects: `podsByNode` lists the pods bound to each node (finished
 * ones are ignored). The scheduler loop keeps a NodeInfoCache instead of rebuilding one per pod.
 */
export function schedule(
  pod: any,
  nodes: readonly any[],
  podsByNode: Map<string, readonly any[]> | Record<string, readonly any[]> = new Map(),
  opts: PlacementOptions = {},
): PlacementResult {
  const cache = new NodeInfoCache();
  for (const node of nodes) cache.setNode(node);
  const entries = podsByNode instanceof Map ? podsByNode.entries() : Object.entries(podsByNode);
  for (const [nodeName, pods] of entries) {
    for (const p of pods) {
      if (podKey(p) === podKey(pod)) continue;
      cache.setPod({ ...p, spec: { ...p.spec, nodeName } });
    }
  }
  // Keep the caller's node order, so results are predictable for small inputs.
  const byName = new Map(cache.nodes().map((i) => [i.name, i]));
  const ordered = nodes.map((n) => byName.get(n.metadata.name)!).filter(Boolean);
  return new Placer(opts).place(podInfo(pod), ordered);
}
