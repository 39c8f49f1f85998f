// The scheduler's view of each node: the Node object's schedulability facts, pre-digested, and the running
// totals of what the pods bound (or assumed bound) to it request. Totals are kept incrementally from
// informer events and the scheduler's own assumptions, so placing a pod costs O(nodes examined), never
// O(pods in the cluster).
import {
  type NodeResources,
  type PodResources,
  type Resources,
  isTerminated,
  nodeAllocatable,
  podResources,
} from './resources.ts';

/** A pod, pre-digested for placement (computed once per scheduling attempt, not once per node). */
export interface PodInfo {
  key: string;
  pod: any;
  resources: PodResources;
  runtimeClassName: string | undefined;
  nodeSelector: [string, string][];
}

export function podKey(pod: any): string {
  return `${pod?.metadata?.namespace ?? ''}/${pod?.metadata?.name ?? ''}`;
}

export function podInfo(pod: any): PodInfo {
  return {
    key: podKey(pod),
    pod,
    resources: podResources(pod),
    runtimeClassName: pod?.spec?.runtimeClassName || undefined,
    nodeSelector: Object.entries((pod?.spec?.nodeSelector ?? {}) as Record<string, string>),
  };
}

export class NodeInfo {
  readonly name: string;
  /** The Node object; undefined while only pods bound to a not-yet-seen node are known. */
  node: any;
  ready = false;
  unschedulable = false;
  labels: Record<string, string> = {};
  runtimeHandlers = new Set<string>();
  allocatable: NodeResources = { milliCpu: 0, memory: 0, pods: 0 };
  /** Sum of requests of the pods accounted to this node. */
  readonly requested: NodeResources = { milliCpu: 0, memory: 0, pods: 0 };
  /** The same with the scorers' defaults for unset requests. */
  readonly nonZeroRequested: Resources = { milliCpu: 0, memory: 0 };
  readonly pods = new Map<string, PodResources>();

  constructor(name: string) {
    this.name = name;
  }

  setNode(node: any): void {
    this.node = node;
    const conditions: any[] = node?.status?.conditions ?? [];
    this.ready = conditions.some((c) => c?.type === 'Ready' && c?.status === 'True');
    this.unschedulable = node?.spec?.unschedulable === true;
    this.labels = node?.metadata?.labels ?? {};
    this.runtimeHandlers = new Set(
      ((node?.status?.runtimeHandlers ?? []) as any[])
        .map((h) => h?.name)
        .filter((n) => typeof n === 'string'),
    );
    this.allocatable = nodeAllocatable(node);
  }

  addPod(key: string, res: PodResources): void {
    if (this.pods.has(key)) return;
    this.pods.set(key, res);
    this.requested.milliCpu += res.requests.milliCpu;
    this.requested.memory += res.requests.memory;
    this.requested.pods += 1;
    this.nonZeroRequested.milliCpu += res.nonZero.milliCpu;
    this.nonZeroRequested.memory += res.nonZero.memory;
  }

  removePod(key: string): void {
    const res = this.pods.get(key);
    if (!res) return;
    this.pods.delete(key);
    this.requested.milliCpu -= res.requests.milliCpu;
    this.requested.memory -= res.requests.memory;
    this.requested.pods -= 1;
    this.nonZeroRequested.milliCpu -= res.nonZero.milliCpu;
    this.nonZeroRequested.memory -= res.nonZero.memory;
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
    ]);
  }
}

interface Accounted {
  nodeName: string;
  /** Placed by this scheduler, binding not yet seen through the informer. */
  assumed: boolean;
}

/**
 * Every node's NodeInfo, plus an array of the nodes that exist (for round-robin iteration) kept in
 * O(1) per change.
 */
export class NodeInfoCache {
  private readonly infos = new Map<string, NodeInfo>();
  private readonly present: NodeInfo[] = [];
  private readonly index = new Map<string, number>();
  private readonly accounted = new Map<string, Accounted>();

  /** Nodes that exist (have a Node object), in no particular order. */
  nodes(): readonly NodeInfo[] {
    return this.present;
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

  /** Add or update a Node. Returns true when something placement depends on changed. */
  setNode(node: any): boolean {
    const name: string = node.metadata.name;
    const info = this.infoFor(name);
    const before = info.node ? info.signature() : undefined;
    info.setNode(node);
    if (!this.index.has(name)) {
      this.index.set(name, this.present.length);
      this.present.push(info);
    }
    return before !== info.signature();
  }

  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info) return;
    info.node = undefined;
    const i = this.index.get(name);
    if (i !== undefined) {
      const last = this.present.pop()!;
      if (last !== info) {
        this.present[i] = last;
        this.index.set(last.name, i);
      }
      this.index.delete(name);
    }
    // Keep the entry while pods are still accounted to it (they may outlive the Node object briefly).
    if (info.pods.size === 0) this.infos.delete(name);
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
      return false;
    }
    // An event from before our binding (say, our own status write) must not undo the assumption.
    if (prev?.assumed && nodeName === undefined && !isTerminated(pod)) return false;
    let freed = false;
    if (prev) {
      this.unaccount(key, prev);
      freed = true;
    }
    if (counts) {
      this.infoFor(nodeName!).addPod(key, (info ?? podInfo(pod)).resources);
      this.accounted.set(key, { nodeName: nodeName!, assumed: false });
    }
    return freed;
  }

  /** The pod is gone. Returns true when it held resources. */
  removePod(key: string): boolean {
    const prev = this.accounted.get(key);
    if (!prev) return false;
    this.unaccount(key, prev);
    return true;
  }

  /** Count a pod on a node ahead of its binding being visible, so the next decision sees it. */
  assume(info: PodInfo, nodeName: string): void {
    const prev = this.accounted.get(info.key);
    if (prev) this.unaccount(info.key, prev);
    this.infoFor(nodeName).addPod(info.key, info.resources);
    this.accounted.set(info.key, { nodeName, assumed: true });
  }

  /** Undo assume() after a failed binding (no-op once the informer has confirmed the binding). */
  forget(key: string): void {
    const prev = this.accounted.get(key);
    if (prev?.assumed) this.unaccount(key, prev);
  }

  isAssumed(key: string): boolean {
    return this.accounted.get(key)?.assumed === true;
  }

  private unaccount(key: string, prev: Accounted): void {
    this.accounted.delete(key);
    const info = this.infos.get(prev.nodeName);
    if (!info) return;
    info.removePod(key);
    if (!info.node && info.pods.size === 0) this.infos.delete(prev.nodeName);
  }
}
