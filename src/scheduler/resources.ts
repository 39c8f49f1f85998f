// Resource arithmetic for placement: what a pod asks for and what a node offers, parsed once into plain
// numbers (millicores, bytes, pod slots) so the hot path never touches quantity strings.
import { parseCpu, parseMemory, parseQuantity } from '../api/index.ts';

export interface Resources {
  milliCpu: number;
  memory: number;
}

export interface NodeResources extends Resources {
  pods: number;
}

/**
 * What the scorers assume a pod without requests uses, as Kubernetes does (100m CPU, 200MB memory):
 * otherwise best-effort pods would all land on the same "empty" node.
 */
export const DEFAULT_NONZERO_MILLI_CPU = 100;
export const DEFAULT_NONZERO_MEMORY = 200 * 1024 * 1024;
/** The kubelet's default max pods, for a node that does not say. */
export const DEFAULT_MAX_PODS = 110;

// Few distinct quantity strings exist in a cluster; parsing (exact, BigInt-based) is worth memoising.
const memo = new Map<string, number>();
const MEMO_LIMIT = 10_000;

function parseWith(kind: 'cpu' | 'memory' | 'count', q: unknown): number {
  if (q === undefined || q === null || q === '') return 0;
  const k = `${kind}:${String(q)}`;
  const known = memo.get(k);
  if (known !== undefined) return known;
  let v: number;
  try {
    const s = q as string | number;
    v = kind === 'cpu' ? parseCpu(s) : kind === 'memory' ? parseMemory(s) : parseQuantity(s);
  } catch {
    v = 0; // validated at the API edge; a bad stored value must not crash placement
  }
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(k, v);
  return v;
}

export const cpuOf = (q: unknown): number => parseWith('cpu', q);
export const memoryOf = (q: unknown): number => parseWith('memory', q);
export const countOf = (q: unknown): number => parseWith('count', q);

function containerRequests(c: any): Resources {
  // A limit without a request means request = limit (Kubernetes defaults it that way).
  const req = c?.resources?.requests ?? {};
  const lim = c?.resources?.limits ?? {};
  return {
    milliCpu: cpuOf(req.cpu ?? lim.cpu),
    memory: memoryOf(req.memory ?? lim.memory),
  };
}

export interface PodResources {
  /** For fitting: the effective requests (sum of containers, at least the largest init container, plus overhead). */
  requests: Resources;
  /** For scoring: the same with defaults standing in for unset container requests. */
  nonZero: Resources;
}

export function podResources(pod: any): PodResources {
  const requests = { milliCpu: 0, memory: 0 };
  const nonZero = { milliCpu: 0, memory: 0 };
  for (const c of pod?.spec?.containers ?? []) {
    const r = containerRequests(c);
    requests.milliCpu += r.milliCpu;
    requests.memory += r.memory;
    nonZero.milliCpu += r.milliCpu || DEFAULT_NONZERO_MILLI_CPU;
    nonZero.memory += r.memory || DEFAULT_NONZERO_MEMORY;
  }
  // Init containers run one at a time before the others: the pod needs the largest of them.
  for (const c of pod?.spec?.initContainers ?? []) {
    const r = containerRequests(c);
    requests.milliCpu = Math.max(requests.milliCpu, r.milliCpu);
    requests.memory = Math.max(requests.memory, r.memory);
    nonZero.milliCpu = Math.max(nonZero.milliCpu, r.milliCpu);
    nonZero.memory = Math.max(nonZero.memory, r.memory);
  }
  const overhead = pod?.spec?.overhead;
  if (overhead) {
    const o = { milliCpu: cpuOf(overhead.cpu), memory: memoryOf(overhead.memory) };
    requests.milliCpu += o.milliCpu;
    requests.memory += o.memory;
    nonZero.milliCpu += o.milliCpu;
    nonZero.memory += o.memory;
  }
  return { requests, nonZero };
}

/** node.status.allocatable, falling back to capacity; pods default to the kubelet's 110. */
export function nodeAllocatable(node: any): NodeResources {
  const a = node?.status?.allocatable ?? node?.status?.capacity ?? {};
  const cap = node?.status?.capacity ?? {};
  const pods = a.pods ?? cap.pods;
  return {
    milliCpu: cpuOf(a.cpu ?? cap.cpu),
    memory: memoryOf(a.memory ?? cap.memory),
    pods: pods === undefined ? DEFAULT_MAX_PODS : countOf(pods),
  };
}

/** A pod that has finished no longer holds its node's resources. */
export function isTerminated(pod: any): boolean {
  const phase = pod?.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}
