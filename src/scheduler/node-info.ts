// The scheduler's view of each node: the Node object's schedulability facts, pre-digested, and the running
// totals of what the pods bound (or assumed bound) to it request. Totals are kept incrementally from
// informer events and the scheduler's own assumptions, so placing a pod costs O(nodes examined), never
// O(pods in the cluster). The cache also keeps label and runtime-class indexes of the nodes (so a pod
// with a nodeSelector examines only the nodes that can match) and the TopologyIndex of pod counts per
// topology domain that pod affinity and topology spread read.
import { type PodInfo, RUNTIME_BITS, type Taint, podInfo, podKey } from './pod-info.ts';
import { type NodeResources, type Resources, isTerminated, nodeAllocatable } from './resources.ts';
import { TopologyIndex } from './topology.ts';

export { type PodInfo, podInfo, podKey } from './pod-info.ts';

/** `node(s) had untolerated taint {dedicated: gpu}` — the Kubernetes wording, one reason per taint. */
export const untoleratedTaintReason = (t: Taint): string =>
  `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;

export class NodeInfo {
  readonly name: string;
  /** The Node object; undefined while only pods bound to a not-yet-seen node are known. */
  node: any;
  ready = false;
  unschedulable = false;
  labels: Record<string, string> = {};
  labelMap: ReadonlyMap<string, string> = new Map();
  runtimeHandlers = new Set<string>();
  /** RUNTIME_BITS of the handlers. */
  runtimeMask = 0;
  allocatable: NodeResources = { milliCpu: 0, memory: 0, pods: 0 };
  /** Taints that keep pods off (NoSchedule, NoExecute) and those that only discourage (PreferNoSchedule). */
  hardTaints: Taint[] = [];
  /** The filter's reason for each hard taint, made once. */
  hardTaintReasons: string[] = [];
  softTaints: Taint[] = [];
  /** Sum of requests of the pods accounted to this node. */
  readonly requested: NodeResources = { milliCpu: 0, memory: 0, pods: 0 };
  /** The same with the scorers' defaults for unset requests. */
  readonly nonZeroRequested: Resources = { milliCpu: 0, memory: 0 };
  /** The pods accounted to this node, by key. */
  readonly pods = new Map<string, PodInfo>();
  /**
   * Pods nominated to this node by preemption, waiting for their victims to go: their requests count
   * against the node for pods of lower or equal priority, so the room made is not taken by others.
   */
  readonly nominated = new Map<string, PodInfo>();

  constructor(name: string) {
    this.name = name;
  }

  setNode(node: any): void {
    this.node = node;
    const conditions: any[] = node?.status?.conditions ?? [];
    this.ready = conditions.some((c) => c?.type === 'Ready' && c?.status === 'True');
    this.unschedulable = node?.spec?.unschedulable === true;
    this.labels = node?.metadata?.labels ?? {};
    this.labelMap = new Map(Object.entries(this.labels));
    this.runtimeHandlers = new Set(
      ((node?.status?.runtimeHandlers ?? []) as any[])
        .map((h) => h?.name)
        .filter((n) => typeof n === 'string'),
    );
    this.runtimeMask = 0;
    for (const h of this.runtimeHandlers) this.runtimeMask |= RUNTIME_BITS[h] ?? 0;
    this.allocatable = nodeAllocatable(node);
    const taints: Taint[] = node?.spec?.taints ?? [];
    this.hardTaints = taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    this.hardTaintReasons = this.hardTaints.map(untoleratedTaintReason);
    this.softTaints = taints.filter((t) => t.effect === 'PreferNoSchedule');
  }

  addPod(p: PodInfo): void {
    if (this.pods.has(p.key)) return;
    this.pods.set(p.key, p);
    const res = p.resources;
    this.requested.milliCpu += res.requests.milliCpu;
    this.requested.memory += res.requests.memory;
    this.requested.pods += 1;
    this.nonZeroRequested.milliCpu += res.nonZero.milliCpu;
    this.nonZeroRequested.memory += res.nonZero.memory;
  }

  removePod(key: string): PodInfo | undefined {
    const p = this.pods.get(key);
    if (!p) return undefined;
    this.pods.delete(key);
    const res = p.resources;
    this.requested.milliCpu -= res.requests.milliCpu;
    this.requested.memory -= res.requests.memory;
    this.requested.pods -= 1;
    this.nonZeroRequested.milliCpu -= res.nonZero.milliCpu;
    this.nonZeroRequested.memory -= res.nonZero.memory;
    return p;
  }

  /** What placement depends on, to tell a meaningful node change from a heartbeat. */
  signature(): string {
    const a = this.allocatable;
    return JSON.stringify([
      this.ready,
      this.unschedulable,
      this.labels,
      [...this.runtimeHandlers].sort(),
      a.milliCpu,
      a.memory,
      a.pods,
      this.hardTaints,
      this.softTaints,
    ]);
  }
}

interface Accounted {
  nodeName: string;
  /** Placed by this scheduler, binding not yet seen through the informer. */
  assumed: boolean;
}

/** A list of nodes with O(1) add and remove (swap with the last), for the indexes. */
class NodeList {
  readonly items: NodeInfo[] = [];
  private readonly pos = new Map<NodeInfo, number>();

  add(n: NodeInfo): void {
    if (this.pos.has(n)) return;
    this.pos.set(n, this.items.length);
    this.items.push(n);
  }

  remove(n: NodeInfo): void {
    const i = this.pos.get(n);
    if (i === undefined) return;
    const last = this.items.pop()!;
    if (last !== n) {
      this.items[i] = last;
      this.pos.set(last, i);
    }
    this.pos.delete(n);
  }
}

const EMPTY: readonly NodeInfo[] = Object.freeze([]);

/**
 * Every node's NodeInfo, plus an array of the nodes that exist (for round-robin iteration) kept in
 * O(1) per change.
 */
export class NodeInfoCache {
  private readonly infos = new Map<string, NodeInfo>();
  private readonly present = new NodeList();
  private readonly accounted = new Map<string, Accounted>();
  /** `key=value` → nodes with that label; `runtime` handler → nodes offering it. */
  private readonly byLabel = new Map<string, NodeList>();
  private readonly byRuntime = new Map<string, NodeList>();
  private readonly indexedAs = new Map<NodeInfo, { labels: string[]; runtimes: string[] }>();
  private nominatedTo = new Map<string, string>();
  /** Bumped whenever the set of nodes or their labels change; caches derived from nodes compare it. */
  generation = 0;
  /** Nodes with PreferNoSchedule taints (the taint score is skipped while there are none). */
  softTaintedNodes = 0;
  /** Counts that let filters opt out for every pod while no node could fail them. */
  hardTaintedNodes = 0;
  unschedulableNodes = 0;
  notReadyNodes = 0;
  readonly topology: TopologyIndex;

  constructor() {
    this.topology = new TopologyIndex((name) => this.infos.get(name)?.labels);
  }

  /** Nodes that exist (have a Node object), in no particular order. */
  nodes(): readonly NodeInfo[] {
    return this.present.items;
  }

  /** Nodes that carry label `key` with `value`. */
  nodesWithLabel(key: string, value: string): readonly NodeInfo[] {
    return this.byLabel.get(`${key}=${value}`)?.items ?? EMPTY;
  }

  /** Nodes that advertise a runtime class. */
  nodesWithRuntime(name: string): readonly NodeInfo[] {
    return this.byRuntime.get(name)?.items ?? EMPTY;
  }

  get(name: string): NodeInfo | undefined {
    return this.infos.get(name);
  }

  private infoFor(name: string): NodeInfo {
    let info = this.infos.get(name);
    if (!info) {
      info = new NodeInfo(name);
      this.infos.set(name, info);
    }
    return info;
  }

  private unindex(info: NodeInfo): void {
    const was = this.indexedAs.get(info);
    if (!was) return;
    for (const k of was.labels) this.byLabel.get(k)?.remove(info);
    for (const r of was.runtimes) this.byRuntime.get(r)?.remove(info);
    this.indexedAs.delete(info);
    this.countFlags(info, -1);
  }

  private index(info: NodeInfo): void {
    const labels = Object.entries(info.labels).map(([k, v]) => `${k}=${v}`);
    const runtimes = [...info.runtimeHandlers];
    for (const k of labels) {
      let l = this.byLabel.get(k);
      if (!l) this.byLabel.set(k, (l = new NodeList()));
      l.add(info);
    }
    for (const r of runtimes) {
      let l = this.byRuntime.get(r);
      if (!l) this.byRuntime.set(r, (l = new NodeList()));
      l.add(info);
    }
    this.indexedAs.set(info, { labels, runtimes });
    this.countFlags(info, 1);
  }

  private countFlags(info: NodeInfo, delta: number): void {
    if (info.softTaints.length) this.softTaintedNodes += delta;
    if (info.hardTaints.length) this.hardTaintedNodes += delta;
    if (info.unschedulable) this.unschedulableNodes += delta;
    if (!info.ready) this.notReadyNodes += delta;
  }

  /** Add or update a Node. Returns true when something placement depends on changed. */
  setNode(node: any): boolean {
    const name: string = node.metadata.name;
    const info = this.infoFor(name);
    const isNew = !info.node;
    const before = isNew ? undefined : info.signature();
    const labelsBefore = info.labels;
    this.unindex(info);
    info.setNode(node);
    this.index(info);
    this.present.add(info);
    const changed = before !== info.signature();
    if (changed) {
      this.generation++;
      if (isNew || JSON.stringify(labelsBefore) !== JSON.stringify(info.labels))
        this.topology.nodeLabelsChanged();
    }
    return changed;
  }

  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info) return;
    info.node = undefined;
    this.unindex(info);
    this.present.remove(info);
    this.generation++;
    // Keep the entry while pods are still accounted to it (they may outlive the Node object briefly).
    if (info.pods.size === 0 && info.nominated.size === 0) this.infos.delete(name);
  }

  /**
   * Account a pod as the API shows it: bound and not finished → counted on its node; otherwise not.
   * Returns true when this freed resources on a node (a reason to retry unschedulable pods).
   */
  setPod(pod: any, info?: PodInfo): boolean {
    const key = info?.key ?? podKey(pod);
    const nodeName: string | undefined = pod?.spec?.nodeName || undefined;
    const counts = nodeName !== undefined && !isTerminated(pod);
    const prev = this.accounted.get(key);
    if (prev && counts && prev.nodeName === nodeName) {
      prev.assumed = false;
      const held = this.infos.get(nodeName)?.pods.get(key);
      // Labels can change on a running pod; counts per topology domain follow them.
      if (!held || held.pod === pod || sameLabels(held.labels, pod?.metadata?.labels ?? {})) {
        if (held) held.pod = pod;
        return false;
      }
      this.unaccount(key, prev);
      this.account(info ?? podInfo(pod), nodeName, false);
      return true;
    }
    // An event from before our binding (say, our own status write) must not undo the assumption.
    if (prev?.assumed && nodeName === undefined && !isTerminated(pod)) return false;
    let freed = false;
    if (prev) {
      this.unaccount(key, prev);
      freed = true;
    }
    if (counts) this.account(info ?? podInfo(pod), nodeName!, false);
    return freed;
  }

  /** The pod is gone. Returns true when it held resources. */
  removePod(key: string): boolean {
    this.clearNomination(key);
    const prev = this.accounted.get(key);
    if (!prev) return false;
    this.unaccount(key, prev);
    return true;
  }

  /** Count a pod on a node ahead of its binding being visible, so the next decision sees it. */
  assume(info: PodInfo, nodeName: string): void {
    const prev = this.accounted.get(info.key);
    if (prev) this.unaccount(info.key, prev);
    this.clearNomination(info.key);
    this.account(info, nodeName, true);
  }

  /** Undo assume() after a failed binding (no-op once the informer has confirmed the binding). */
  forget(key: string): void {
    const prev = this.accounted.get(key);
    if (prev?.assumed) this.unaccount(key, prev);
  }

  isAssumed(key: string): boolean {
    return this.accounted.get(key)?.assumed === true;
  }

  /** Where an accounted pod is (bound or assumed). */
  nodeOf(key: string): string | undefined {
    return this.accounted.get(key)?.nodeName;
  }

  /** Reserve room on `nodeName` for a preemptor while its victims terminate. */
  nominate(info: PodInfo, nodeName: string): void {
    this.clearNomination(info.key);
    this.infoFor(nodeName).nominated.set(info.key, info);
    this.nominatedTo.set(info.key, nodeName);
  }

  nominatedNode(key: string): string | undefined {
    return this.nominatedTo.get(key);
  }

  clearNomination(key: string): void {
    const nodeName = this.nominatedTo.get(key);
    if (nodeName === undefined) return;
    this.nominatedTo.delete(key);
    const info = this.infos.get(nodeName);
    info?.nominated.delete(key);
    if (info && !info.node && info.pods.size === 0 && info.nominated.size === 0) this.infos.delete(nodeName);
  }

  private account(p: PodInfo, nodeName: string, assumed: boolean): void {
    this.infoFor(nodeName).addPod(p);
    this.accounted.set(p.key, { nodeName, assumed });
    this.topology.addPod(p, nodeName);
  }

  private unaccount(key: string, prev: Accounted): void {
    this.accounted.delete(key);
    const info = this.infos.get(prev.nodeName);
    if (!info) return;
    const p = info.removePod(key);
    if (p) this.topology.removePod(p, prev.nodeName);
    if (!info.node && info.pods.size === 0 && info.nominated.size === 0) this.infos.delete(prev.nodeName);
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
