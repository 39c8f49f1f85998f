// Pod counts per topology domain, kept incrementally so pod affinity, anti-affinity and topology spread
// cost O(1) per node examined instead of a scan of every pod in the cluster per scheduling attempt
// (which is what kube-scheduler's PreFilter does).
//
// A SetCounter counts the accounted pods matching one (namespaces, label selector) pair, per node and —
// built on first use — per value of each topology key asked about. Counters are created on demand (one
// scan of the accounted pods) and shared by every pod that uses the same set, e.g. all replicas of a
// Deployment. Pod adds and removes reach only the counters that can match them, through an index on
// one `key=value` label requirement of each selector.
//
// Required anti-affinity of pods already placed is symmetric (a new pod must not land in the domain of
// an existing pod whose anti-affinity term selects it): AntiAffinityGroup counts those existing pods per
// domain, grouped by identical terms.
import type { LabelMatcher } from '../api/index.ts';
import type { PodInfo, PodSetTerm } from './pod-info.ts';

type LabelsOf = (nodeName: string) => Record<string, string> | undefined;

function bump(m: Map<string, number>, k: string, delta: number): void {
  const v = (m.get(k) ?? 0) + delta;
  if (v > 0) m.set(k, v);
  else m.delete(k);
}

/** The label requirement a selector's matches all carry, as `key=value` strings, for the add/remove index. */
function indexKeys(sel: any): string[] | undefined {
  const ml = Object.entries((sel?.matchLabels ?? {}) as Record<string, string>);
  if (ml.length) return [`${ml[0][0]}=${ml[0][1]}`];
  for (const e of (sel?.matchExpressions ?? []) as any[])
    if (e.operator === 'In' && e.values?.length) return (e.values as string[]).map((v) => `${e.key}=${v}`);
  return undefined;
}

export class SetCounter {
  readonly setKey: string;
  readonly namespaces: ReadonlySet<string>;
  readonly matcher: LabelMatcher;
  /** Matching pods per node name. */
  readonly perNode = new Map<string, number>();
  total = 0;
  lastUsed = 0;
  private readonly byDomain = new Map<string, Map<string, number>>();
  private readonly labelsOf: LabelsOf;

  constructor(setKey: string, namespaces: readonly string[], matcher: LabelMatcher, labelsOf: LabelsOf) {
    this.setKey = setKey;
    this.namespaces = new Set(namespaces);
    this.matcher = matcher;
    this.labelsOf = labelsOf;
  }

  matches(p: PodInfo): boolean {
    return this.namespaces.has(p.namespace) && this.matcher(p.labels);
  }

  add(nodeName: string, delta: number): void {
    bump(this.perNode, nodeName, delta);
    this.total += delta;
    if (this.byDomain.size === 0) return;
    const labels = this.labelsOf(nodeName);
    if (!labels) return;
    for (const [key, m] of this.byDomain) {
      const v = labels[key];
      if (v !== undefined) bump(m, v, delta);
    }
  }

  /** Matching pods per value of node label `topologyKey` (nodes without the label are not counted). */
  domains(topologyKey: string): Map<string, number> {
    let m = this.byDomain.get(topologyKey);
    if (!m) {
      m = new Map();
      for (const [node, n] of this.perNode) {
        const v = this.labelsOf(node)?.[topologyKey];
        if (v !== undefined) bump(m, v, n);
      }
      this.byDomain.set(topologyKey, m);
    }
    return m;
  }

  /** Matching pods in the domain of a node (its labels) for `topologyKey`; 0 when it lacks the label. */
  countIn(topologyKey: string, labels: ReadonlyMap<string, string>): number {
    const v = labels.get(topologyKey);
    return v === undefined ? 0 : (this.domains(topologyKey).get(v) ?? 0);
  }

  invalidateDomains(): void {
    this.byDomain.clear();
  }
}

/** Existing pods sharing one required anti-affinity term, counted per domain of their nodes. */
export class AntiAffinityGroup {
  readonly term: PodSetTerm;
  readonly namespaces: ReadonlySet<string>;
  readonly perNode = new Map<string, number>();
  private domainCounts?: Map<string, number>;
  owners = 0;
  private readonly labelsOf: LabelsOf;

  constructor(term: PodSetTerm, labelsOf: LabelsOf) {
    this.term = term;
    this.namespaces = new Set(term.namespaces);
    this.labelsOf = labelsOf;
  }

  /** Whether the term of the existing pods selects pod `p`. */
  selects(p: PodInfo): boolean {
    return this.namespaces.has(p.namespace) && this.term.matcher(p.labels);
  }

  add(nodeName: string, delta: number): void {
    bump(this.perNode, nodeName, delta);
    this.owners += delta;
    if (!this.domainCounts) return;
    const v = this.labelsOf(nodeName)?.[this.term.topologyKey];
    if (v !== undefined) bump(this.domainCounts, v, delta);
  }

  /** Whether an owner pod runs in the same domain as a node with these labels. */
  occupies(labels: ReadonlyMap<string, string>): boolean {
    const v = labels.get(this.term.topologyKey);
    if (v === undefined) return false;
    if (!this.domainCounts) {
      this.domainCounts = new Map();
      for (const [node, n] of this.perNode) {
        const d = this.labelsOf(node)?.[this.term.topologyKey];
        if (d !== undefined) bump(this.domainCounts, d, n);
      }
    }
    return (this.domainCounts.get(v) ?? 0) > 0;
  }

  invalidateDomains(): void {
    this.domainCounts = undefined;
  }
}

/** Counters kept at most; the least recently used are dropped beyond it (and rebuilt if needed again). */
const MAX_COUNTERS = 4096;

export class TopologyIndex {
  private readonly counters = new Map<string, SetCounter>();
  private readonly indexed = new Map<string, Set<SetCounter>>();
  private readonly unindexed = new Set<SetCounter>();
  private readonly counterIndexKeys = new Map<SetCounter, string[] | undefined>();
  private readonly antiGroups = new Map<string, AntiAffinityGroup>();
  /** Every accounted pod and its node: the source a new counter is filled from. */
  private readonly placed = new Map<string, { pod: PodInfo; nodeName: string }>();
  /** Accounted pods by `key=value` label, so a new counter scans only pods that can match it. */
  private readonly placedByLabel = new Map<string, Set<string>>();
  private readonly labelsOf: LabelsOf;
  private clock = 0;

  constructor(labelsOf: LabelsOf) {
    this.labelsOf = labelsOf;
  }

  get counterCount(): number {
    return this.counters.size;
  }

  /** The counter for a term's pod set (created, and filled from the accounted pods, on first use). */
  counter(term: PodSetTerm): SetCounter {
    let c = this.counters.get(term.setKey);
    if (!c) {
      c = new SetCounter(term.setKey, term.namespaces, term.matcher, this.labelsOf);
      const keys = indexKeys(term.selector);
      if (keys) {
        for (const k of keys)
          for (const podKey of this.placedByLabel.get(k) ?? []) {
            const { pod, nodeName } = this.placed.get(podKey)!;
            if (c.matches(pod)) c.add(nodeName, 1);
          }
      } else for (const { pod, nodeName } of this.placed.values()) if (c.matches(pod)) c.add(nodeName, 1);
      this.counters.set(term.setKey, c);
      this.counterIndexKeys.set(c, keys);
      if (keys) for (const k of keys) this.setFor(k).add(c);
      else this.unindexed.add(c);
      if (this.counters.size > MAX_COUNTERS) this.evict();
    }
    c.lastUsed = ++this.clock;
    return c;
  }

  private setFor(k: string): Set<SetCounter> {
    let s = this.indexed.get(k);
    if (!s) this.indexed.set(k, (s = new Set()));
    return s;
  }

  private evict(): void {
    const oldest = [...this.counters.values()].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const c of oldest.slice(0, this.counters.size - MAX_COUNTERS / 2)) {
      this.counters.delete(c.setKey);
      const keys = this.counterIndexKeys.get(c);
      this.counterIndexKeys.delete(c);
      if (keys) for (const k of keys) this.indexed.get(k)?.delete(c);
      else this.unindexed.delete(c);
    }
  }

  /** Existing-pod anti-affinity groups whose term selects `p`. */
  antiAffinityAgainst(p: PodInfo): AntiAffinityGroup[] {
    const out: AntiAffinityGroup[] = [];
    for (const g of this.antiGroups.values()) if (g.owners > 0 && g.selects(p)) out.push(g);
    return out;
  }

  get hasAntiAffinityGroups(): boolean {
    return this.antiGroups.size > 0;
  }

  addPod(p: PodInfo, nodeName: string): void {
    this.placed.set(p.key, { pod: p, nodeName });
    for (const k in p.labels) {
      const id = `${k}=${p.labels[k]}`;
      let s = this.placedByLabel.get(id);
      if (!s) this.placedByLabel.set(id, (s = new Set()));
      s.add(p.key);
    }
    this.apply(p, nodeName, 1);
  }

  removePod(p: PodInfo, nodeName: string): void {
    const cur = this.placed.get(p.key);
    if (!cur || cur.pod !== p) return;
    this.placed.delete(p.key);
    for (const k in p.labels) {
      const id = `${k}=${p.labels[k]}`;
      const s = this.placedByLabel.get(id);
      s?.delete(p.key);
      if (s?.size === 0) this.placedByLabel.delete(id);
    }
    this.apply(p, nodeName, -1);
  }

  private apply(p: PodInfo, nodeName: string, delta: number): void {
    if (this.counters.size) {
      for (const k in p.labels) {
        const set = this.indexed.get(`${k}=${p.labels[k]}`);
        if (set) for (const c of set) if (c.matches(p)) c.add(nodeName, delta);
      }
      for (const c of this.unindexed) if (c.matches(p)) c.add(nodeName, delta);
    }
    for (const term of p.requiredAntiAffinity ?? []) {
      const id = `${term.topologyKey}|${term.setKey}`;
      let g = this.antiGroups.get(id);
      if (!g) {
        if (delta < 0) continue;
        g = new AntiAffinityGroup(term, this.labelsOf);
        this.antiGroups.set(id, g);
      }
      g.add(nodeName, delta);
      if (g.owners <= 0) this.antiGroups.delete(id);
    }
  }

  /** A node's labels changed (or a node appeared): per-domain counts must be rebuilt. */
  nodeLabelsChanged(): void {
    for (const c of this.counters.values()) c.invalidateDomains();
    for (const g of this.antiGroups.values()) g.invalidateDomains();
  }
}
