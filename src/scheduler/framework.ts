// The plugin contract, after kube-scheduler's framework: per scheduling attempt each plugin may `prepare`
// (PreFilter/PreScore: digest what it needs once, or opt out for this pod), then filters run per node
// (first failure gives the node's reasons) and scores run per feasible node, are normalised to 0..100
// across the feasible nodes and summed by weight.
import type { NodeInfo, NodeInfoCache } from './node-info.ts';
import { type PodInfo, matchesNodeSelection } from './pod-info.ts';
import type { InterPodFilterState } from './filters/pod-affinity.ts';
import type { SpreadState } from './filters/topology-spread.ts';
import type { InterPodScoreState } from './scores/pod-affinity.ts';
import { TopologyIndex } from './topology.ts';

/**
 * A filter plugin: undefined when the pod may go on the node, otherwise the reason(s) it may not, phrased
 * for the "0/N nodes are available: ..." message (reasons are counted across nodes, so keep them stable).
 */
export interface FilterPlugin {
  name: string;
  /** Once per attempt before any node; return false when the plugin has nothing to check for this pod. */
  prepare?(ctx: CycleContext): boolean;
  filter(pod: PodInfo, node: NodeInfo, ctx: CycleContext): string | string[] | undefined;
  /**
   * After prepare(), with a cache: node lists (from the cache's indexes) whose union holds every node
   * this filter can accept, so the placer scans only those. `exact`: every node listed passes this
   * filter, so it need not run on them.
   */
  candidates?(ctx: CycleContext): Candidates | undefined;
}

export interface Candidates {
  lists: readonly (readonly NodeInfo[])[];
  exact: boolean;
}

export interface ScorePlugin {
  name: string;
  /** Multiplies the normalised (0..100) score. */
  weight: number;
  /** Once per attempt; return false when the plugin has no opinion about this pod. */
  prepare?(ctx: CycleContext): boolean;
  /** Raw score of a feasible node. Without `normalize` it must already be in 0..100. */
  score(pod: PodInfo, node: NodeInfo, ctx: CycleContext): number;
  /** Rescale the raw scores of the feasible nodes (first `n` entries) to 0..100, in place. */
  normalize?(scores: Float64Array, n: number): void;
}

/** Normalisers shared by the score plugins. */
export const normalize = {
  /** Highest raw score → 100, proportionally (raw scores ≥ 0). */
  byMax(scores: Float64Array, n: number): void {
    let max = 0;
    for (let i = 0; i < n; i++) if (scores[i] > max) max = scores[i];
    for (let i = 0; i < n; i++) scores[i] = max > 0 ? (scores[i] * 100) / max : 0;
  },
  /** Lowest raw score → 100, highest → 0 (raw scores ≥ 0; "fewer is better"). */
  reverse(scores: Float64Array, n: number): void {
    let max = 0;
    for (let i = 0; i < n; i++) if (scores[i] > max) max = scores[i];
    for (let i = 0; i < n; i++) scores[i] = max > 0 ? 100 - (scores[i] * 100) / max : 100;
  },
  /** Linear from the lowest (0) to the highest (100) raw score; all equal → 0. */
  minMax(scores: Float64Array, n: number): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      if (scores[i] < min) min = scores[i];
      if (scores[i] > max) max = scores[i];
    }
    const d = max - min;
    for (let i = 0; i < n; i++) scores[i] = d > 0 ? ((scores[i] - min) * 100) / d : 0;
  },
};

/** Per-attempt state: the pod, the cluster view, and what plugins prepared. */
export class CycleContext {
  readonly pod: PodInfo;
  readonly nodes: readonly NodeInfo[];
  readonly cache: NodeInfoCache | undefined;
  private stateMap?: Map<string, unknown>;
  // State of the built-in plugins, in fields rather than the map: they are read once per node.
  spreadHard?: SpreadState[];
  spreadSoft?: SpreadState[];
  interPodFilter?: InterPodFilterState;
  interPodScore?: InterPodScoreState;
  private topo?: TopologyIndex;

  constructor(pod: PodInfo, nodes: readonly NodeInfo[], cache?: NodeInfoCache) {
    this.pod = pod;
    this.nodes = nodes;
    this.cache = cache;
  }

  /** Plugin state by plugin name, written by prepare() (for plugins outside this folder). */
  get state(): Map<string, unknown> {
    return (this.stateMap ??= new Map());
  }

  /** Pod counts per domain: the cache's incremental index, or one built from `nodes` for one-off calls. */
  get topology(): TopologyIndex {
    if (this.topo) return this.topo;
    if (this.cache) return (this.topo = this.cache.topology);
    const byName = new Map(this.nodes.map((n) => [n.name, n]));
    const t = new TopologyIndex((name) => byName.get(name)?.labels);
    for (const n of this.nodes)
      for (const p of n.pods.values()) if (p.key !== this.pod.key) t.addPod(p, n.name);
    return (this.topo = t);
  }

  /**
   * The values of `topologyKey` across the nodes this pod may use (its nodeSelector and required node
   * affinity), as Kubernetes counts domains for topology spread. Cached per node generation.
   */
  eligibleDomains(topologyKey: string): ReadonlySet<string> {
    const key = `${topologyKey}\u0000${this.pod.nodeSelectionKey}`;
    const cached = this.cache ? domainCache.get(this.cache)?.get(key) : undefined;
    if (cached && cached.generation === this.cache!.generation) return cached.domains;
    const domains = new Set<string>();
    for (const n of this.nodes) {
      const v = n.labelMap.get(topologyKey);
      if (v !== undefined && !domains.has(v) && matchesNodeSelection(this.pod, n)) domains.add(v);
    }
    if (this.cache) {
      let m = domainCache.get(this.cache);
      if (!m) domainCache.set(this.cache, (m = new Map()));
      if (m.size > 1024) m.clear();
      m.set(key, { generation: this.cache.generation, domains });
    }
    return domains;
  }
}

const domainCache = new WeakMap<NodeInfoCache, Map<string, { generation: number; domains: Set<string> }>>();
