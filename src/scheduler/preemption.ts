// Preemption, after kube-scheduler's DefaultPreemption: when a pod fits nowhere, find a node where
// evicting pods of lower priority makes it fit, choosing victims so that as few and as unimportant pods
// as possible go, and PodDisruptionBudgets are respected where the choice allows.
//
// Per candidate node: remove every lower-priority pod; if the preemptor still does not fit, the node is
// no candidate. Otherwise give pods back ("reprieve") highest priority first — those whose eviction
// would break a PodDisruptionBudget before the others — keeping each one that still leaves room. What
// is left are the victims. Among candidate nodes the best has the fewest PDB violations, then the
// lowest highest-victim priority, then the lowest sum of victim priorities, then the fewest victims.
//
// Only resource shortage is resolved this way: a node that fails for any other reason (selector,
// taints, runtime class, affinity or spread rules) is no candidate.
import { type LabelMatcher, labelSelectorMatcher } from '../api/index.ts';
import {
  REASON_INSUFFICIENT_CPU,
  REASON_INSUFFICIENT_MEMORY,
  REASON_TOO_MANY_PODS,
} from './filters/index.ts';
import type { NodeInfo, NodeInfoCache, PodInfo } from './node-info.ts';
import type { Placer } from './schedule.ts';

const RESOURCE_REASONS: ReadonlySet<string> = new Set([
  REASON_INSUFFICIENT_CPU,
  REASON_INSUFFICIENT_MEMORY,
  REASON_TOO_MANY_PODS,
]);

/** A PodDisruptionBudget as preemption needs it: whom it covers and how many may go now. */
export interface DisruptionBudget {
  name: string;
  namespace: string;
  matcher: LabelMatcher;
  disruptionsAllowed: number;
}

/** From PodDisruptionBudget objects; status.disruptionsAllowed (0 when not yet computed). */
export function disruptionBudgets(pdbs: readonly any[]): DisruptionBudget[] {
  return pdbs.map((p) => ({
    name: p?.metadata?.name ?? '',
    namespace: p?.metadata?.namespace ?? '',
    matcher: labelSelectorMatcher(p?.spec?.selector),
    disruptionsAllowed: Number(p?.status?.disruptionsAllowed ?? 0) || 0,
  }));
}

export interface PreemptionPlan {
  node: string;
  /** Pods to evict (not already terminating), lowest priority first. */
  victims: PodInfo[];
  /** Victims whose eviction a PodDisruptionBudget does not allow (preferably 0). */
  pdbViolations: number;
}

export interface PreemptionOptions {
  budgets?: readonly DisruptionBudget[];
  /** Candidate nodes to evaluate at most (default: max(100, 10% of nodes)). */
  maxCandidates?: number;
  /** Where to start looking (rotated by the caller for fairness). */
  offset?: number;
}

function isTerminating(p: PodInfo): boolean {
  return p.terminating === true || Boolean(p.pod?.metadata?.deletionTimestamp);
}

/** Room check of `pod` on `node` with the pods in `removed` gone (nominated preemptors still count). */
function fitsWithout(pod: PodInfo, node: NodeInfo, removed: Iterable<PodInfo>): boolean {
  const a = node.allocatable;
  let cpu = node.requested.milliCpu;
  let mem = node.requested.memory;
  let pods = node.requested.pods;
  for (const p of removed) {
    cpu -= p.resources.requests.milliCpu;
    mem -= p.resources.requests.memory;
    pods -= 1;
  }
  for (const n of node.nominated.values()) {
    if (n.key === pod.key || n.priority < pod.priority) continue;
    cpu += n.resources.requests.milliCpu;
    mem += n.resources.requests.memory;
    pods += 1;
  }
  const want = pod.resources.requests;
  return (
    pods + 1 <= a.pods &&
    (want.milliCpu === 0 || cpu + want.milliCpu <= a.milliCpu) &&
    (want.memory === 0 || mem + want.memory <= a.memory)
  );
}

interface Candidate extends PreemptionPlan {
  maxPriority: number;
  sumPriority: number;
}

function better(a: Candidate, b: Candidate): boolean {
  if (a.pdbViolations !== b.pdbViolations) return a.pdbViolations < b.pdbViolations;
  if (a.maxPriority !== b.maxPriority) return a.maxPriority < b.maxPriority;
  if (a.sumPriority !== b.sumPriority) return a.sumPriority < b.sumPriority;
  return a.victims.length < b.victims.length;
}

/** Split pods into those whose eviction the budgets allow and those it would violate (k8s' order). */
function splitByBudget(pods: PodInfo[], budgets: readonly DisruptionBudget[]): [PodInfo[], PodInfo[]] {
  if (!budgets.length) return [[], pods];
  const left = new Map<DisruptionBudget, number>();
  const violating: PodInfo[] = [];
  const fine: PodInfo[] = [];
  for (const p of pods) {
    let violates = false;
    for (const b of budgets) {
      if (b.namespace !== p.namespace || !b.matcher(p.labels)) continue;
      const n = left.get(b) ?? b.disruptionsAllowed;
      if (n <= 0) violates = true;
      left.set(b, n - 1);
    }
    (violates ? violating : fine).push(p);
  }
  return [violating, fine];
}

function victimsOn(
  pod: PodInfo,
  node: NodeInfo,
  budgets: readonly DisruptionBudget[],
): Candidate | undefined {
  const lower: PodInfo[] = [];
  const terminating: PodInfo[] = [];
  for (const p of node.pods.values()) {
    if (isTerminating(p)) terminating.push(p);
    else if (p.priority < pod.priority) lower.push(p);
  }
  if (!fitsWithout(pod, node, [...terminating, ...lower])) return undefined;
  // Most important first: they are the ones to keep if room allows.
  lower.sort((a, b) => b.priority - a.priority);
  const [violating, fine] = splitByBudget(lower, budgets);
  const removed = new Set<PodInfo>([...terminating, ...lower]);
  const victims: PodInfo[] = [];
  let pdbViolations = 0;
  for (const group of [violating, fine]) {
    for (const p of group) {
      removed.delete(p);
      if (fitsWithout(pod, node, removed)) continue; // reprieved
      removed.add(p);
      victims.push(p);
      if (group === violating) pdbViolations++;
    }
  }
  victims.sort((a, b) => a.priority - b.priority);
  let maxPriority = -Infinity;
  let sumPriority = 0;
  for (const v of victims) {
    maxPriority = Math.max(maxPriority, v.priority);
    sumPriority += v.priority;
  }
  return { node: node.name, victims, pdbViolations, maxPriority, sumPriority };
}

/**
 * The preemption that lets `pod` run, or undefined when there is none (or its policy is Never). A plan
 * with no victims means room is already being freed there by terminating pods: nominate and wait.
 */
export function planPreemption(
  pod: PodInfo,
  cache: NodeInfoCache,
  placer: Placer,
  opts: PreemptionOptions = {},
): PreemptionPlan | undefined {
  if (!pod.canPreempt) return undefined;
  const nodes = cache.nodes();
  const n = nodes.length;
  if (n === 0) return undefined;
  const cycle = placer.prepare(pod, nodes, cache);
  const budgets = opts.budgets ?? [];
  const maxCandidates = opts.maxCandidates ?? Math.max(100, Math.ceil(n / 10));
  const start = (opts.offset ?? 0) % n;
  let best: Candidate | undefined;
  let found = 0;
  for (let i = 0; i < n && found < maxCandidates; i++) {
    const node = nodes[(start + i) % n];
    // Only a shortage of resources may be cured by evicting pods; any other failure rules the node out.
    let resourceShort = false;
    let ruledOut = false;
    for (const f of cycle.filters) {
      const r = f.filter(pod, node, cycle.ctx);
      if (r === undefined || (typeof r !== 'string' && r.length === 0)) continue;
      const reasons = typeof r === 'string' ? [r] : r;
      if (reasons.every((x) => RESOURCE_REASONS.has(x))) resourceShort = true;
      else {
        ruledOut = true;
        break;
      }
    }
    if (ruledOut || !resourceShort) continue;
    const c = victimsOn(pod, node, budgets);
    if (!c) continue;
    found++;
    if (!best || better(c, best)) best = c;
    if (best.victims.length === 0) break; // room is coming anyway
  }
  if (!best) return undefined;
  return { node: best.node, victims: best.victims, pdbViolations: best.pdbViolations };
}

/** Whether pods on the node are still terminating (a preemptor nominated there should wait for them). */
export function hasTerminatingPods(node: NodeInfo | undefined): boolean {
  if (!node) return false;
  for (const p of node.pods.values()) if (isTerminating(p)) return true;
  return false;
}
