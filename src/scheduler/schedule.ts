// Pure placement: filter the nodes, score the feasible ones, pick the best; or explain, per reason with
// node counts, why no node fits. Like kube-scheduler, a large cluster is not scanned in full for every
// pod: the search starts where the previous one stopped and ends once enough feasible nodes are found
// (percentageOfNodesToScore), which also spreads equal-scoring choices round-robin. A pod with a
// nodeSelector or runtime class scans only the nodes the cache's label/runtime indexes say can match.
import { CycleContext, type FilterPlugin, type ScorePlugin } from './framework.ts';
import { defaultFilters } from './filters/index.ts';
import { NodeInfoCache, type NodeInfo, type PodInfo, podInfo, podKey } from './node-info.ts';
import { type Strategy, defaultScores, scoreFor } from './scores/index.ts';

export interface PlacementOptions {
  /** Default 'spread'. */
  strategy?: Strategy;
  filters?: readonly FilterPlugin[];
  /** Default: defaultScores(strategy). */
  scores?: readonly ScorePlugin[];
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

/** The filters and scores that apply to one pod (prepare() ran), and the context they share. */
export interface PreparedCycle {
  ctx: CycleContext;
  filters: FilterPlugin[];
  scores: ScorePlugin[];
}

function firstFailure(
  filters: readonly FilterPlugin[],
  pod: PodInfo,
  node: NodeInfo,
  ctx: CycleContext,
): string | string[] | undefined {
  for (let i = 0; i < filters.length; i++) {
    const r = filters[i].filter(pod, node, ctx);
    if (r !== undefined && (typeof r === 'string' || r.length > 0)) return r;
  }
  return undefined;
}

function countReason(reasons: Map<string, number>, rejected: string | string[]): void {
  if (typeof rejected === 'string') reasons.set(rejected, (reasons.get(rejected) ?? 0) + 1);
  else for (const r of rejected) reasons.set(r, (reasons.get(r) ?? 0) + 1);
}

/** A placement engine with the state that makes repeated placement fair: where the next search starts. */
export class Placer {
  readonly filters: readonly FilterPlugin[];
  readonly scores: readonly ScorePlugin[];
  private readonly percentage: number;
  private nextStart = 0;
  /** Placement attempts and nodes filtered for them (examined / attempts = cost per placement). */
  readonly stats = { attempts: 0, examined: 0 };
  private buffers: Float64Array[] = [];
  private feasibleBuf: NodeInfo[] = [];

  constructor(opts: PlacementOptions = {}) {
    const strategy = opts.strategy ?? 'spread';
    scoreFor(strategy); // rejects an unknown strategy
    this.filters = opts.filters ?? defaultFilters;
    this.scores = opts.scores ?? defaultScores(strategy);
    this.percentage = opts.percentageOfNodesToScore ?? 0;
  }

  /** Run the plugins' prepare() for a pod: what applies to it, with per-attempt state. */
  prepare(pod: PodInfo, nodes: readonly NodeInfo[], cache?: NodeInfoCache): PreparedCycle {
    const ctx = new CycleContext(pod, nodes, cache);
    return {
      ctx,
      filters: this.filters.filter((f) => !f.prepare || f.prepare(ctx)),
      scores: this.scores.filter((s) => !s.prepare || s.prepare(ctx)),
    };
  }

  /** The first filter that rejects the node gives its reason(s); undefined when the pod fits. */
  check(pod: PodInfo, node: NodeInfo, cycle?: PreparedCycle): string | string[] | undefined {
    const c = cycle ?? this.prepare(pod, [node]);
    return firstFailure(c.filters, pod, node, c.ctx);
  }

  /**
   * Place `pod` on one of `nodes`. Pass the NodeInfoCache the nodes come from (the scheduler does) so
   * pod affinity and spread read its incremental counts and a nodeSelector uses its indexes; without
   * it they are computed from the nodes given.
   */
  place(pod: PodInfo, nodes: readonly NodeInfo[], cache?: NodeInfoCache): PlacementResult {
    const cycle = this.prepare(pod, nodes, cache);
    const { ctx, scores } = cycle;
    let filters = cycle.filters;
    // Narrow the scan with the cache's indexes: the smallest candidate set any filter offers.
    let lists: readonly (readonly NodeInfo[])[] = [nodes];
    let n = nodes.length;
    if (cache && nodes === cache.nodes()) {
      let chosen: FilterPlugin | undefined;
      let exact = false;
      for (const f of filters) {
        const c = f.candidates?.(ctx);
        if (!c) continue;
        let size = 0;
        for (const l of c.lists) size += l.length;
        if (size < n || (size === n && c.exact && !exact)) {
          lists = c.lists;
          n = size;
          chosen = f;
          exact = c.exact;
        }
      }
      // Every node listed passes the filter that listed them: it has nothing left to say.
      if (chosen && exact) filters = filters.filter((f) => f !== chosen);
    }
    const narrowed = lists.length !== 1 || lists[0] !== nodes;
    const want = numFeasibleNodesToFind(nodes.length, this.percentage);
    const fast = scores.length === 1 && !scores[0].normalize;
    const raw = fast ? [] : this.scoreBuffers(scores.length, Math.min(want, n));
    const feasibleNodes = this.feasibleBuf;
    feasibleNodes.length = 0;
    let best: NodeInfo | undefined;
    let bestScore = -Infinity;
    let feasible = 0;
    let examined = 0;
    let reasons: Map<string, number> | undefined;
    const start = n > 0 ? this.nextStart % n : 0;
    // Walk the lists as one, from `start`, wrapping around.
    let li = 0;
    let off = start;
    while (li < lists.length && off >= lists[li].length) off -= lists[li++].length;
    for (; examined < n && feasible < want; examined++) {
      while (off >= lists[li].length) {
        off = 0;
        li = (li + 1) % lists.length;
      }
      const node = lists[li][off++];
      const rejected = firstFailure(filters, pod, node, ctx);
      if (rejected !== undefined) {
        if (!narrowed) countReason((reasons ??= new Map()), rejected);
        continue;
      }
      if (fast) {
        const s = scores.length ? scores[0].score(pod, node, ctx) : 0;
        // Strictly greater: among equals the first found wins, and the start rotates, so ties spread.
        if (s > bestScore) {
          bestScore = s;
          best = node;
        }
      } else {
        for (let j = 0; j < scores.length; j++) raw[j][feasible] = scores[j].score(pod, node, ctx);
        feasibleNodes.push(node);
      }
      feasible++;
    }
    if (n > 0) this.nextStart = (start + examined) % n;
    this.stats.attempts++;
    this.stats.examined += examined;
    if (!fast && feasible > 0) best = this.pickBest(scores, raw, feasibleNodes, feasible);
    feasibleNodes.length = 0;
    if (best) return { node: best.name };
    if (narrowed) {
      // The indexes skipped nodes; explain over all of them, as a full scan would have.
      reasons = new Map();
      for (const node of nodes) {
        const rejected = firstFailure(cycle.filters, pod, node, ctx);
        if (rejected !== undefined) countReason(reasons, rejected);
      }
    }
    const r = reasons ?? new Map<string, number>();
    return { reasons: r, numNodes: nodes.length, message: unschedulableMessage(r, nodes.length) };
  }

  private scoreBuffers(count: number, size: number): Float64Array[] {
    for (let j = 0; j < count; j++)
      if (!this.buffers[j] || this.buffers[j].length < size)
        this.buffers[j] = new Float64Array(Math.max(size, 64));
    return this.buffers;
  }

  private pickBest(
    scores: readonly ScorePlugin[],
    raw: Float64Array[],
    feasibleNodes: NodeInfo[],
    count: number,
  ): NodeInfo {
    for (let j = 0; j < scores.length; j++) scores[j].normalize?.(raw[j], count);
    let best = 0;
    let bestTotal = -Infinity;
    for (let i = 0; i < count; i++) {
      let total = 0;
      for (let j = 0; j < scores.length; j++) total += scores[j].weight * raw[j][i];
      if (total > bestTotal) {
        bestTotal = total;
        best = i;
      }
    }
    return feasibleNodes[best];
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
  return new Placer(opts).place(podInfo(pod), ordered, cache);
}
