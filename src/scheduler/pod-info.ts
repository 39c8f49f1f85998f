// A pod, pre-digested once per scheduling attempt (and once per pod accounted on a node): requests as
// numbers, label selectors and node-selector terms compiled into predicates, tolerations, priority. The
// filter and score plugins then run per node without parsing or allocating.
import { type LabelMatcher, labelSelectorMatcher } from '../api/index.ts';
import { type PodResources, podResources } from './resources.ts';

/** The node facts the matchers read (NodeInfo implements it). */
export interface NodeFacts {
  readonly name: string;
  /** The node's labels as a Map: hot paths look labels up by key, and Map lookups stay fast. */
  readonly labelMap: ReadonlyMap<string, string>;
}

export type NodeMatcher = (node: NodeFacts) => boolean;

/** A pod (anti-)affinity term or spread constraint, compiled. */
export interface PodSetTerm {
  /** Namespaces whose pods count; the pod's own when the term names none. Sorted. */
  namespaces: string[];
  matcher: LabelMatcher;
  /** The LabelSelector the matcher was compiled from (undefined matches no pod). */
  selector: any;
  /** Identifies (namespaces, selector) — the key of the shared counter in the topology index. */
  setKey: string;
  topologyKey: string;
  /** Preferred terms: 1..100; required terms: 0. */
  weight: number;
}

export interface SpreadConstraint extends PodSetTerm {
  maxSkew: number;
  minDomains: number;
  hard: boolean;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** Bits for the runtime classes, so the per-node check is one AND (0 = a class without a bit). */
export const RUNTIME_BITS: Readonly<Record<string, number>> = { wasm: 1, container: 2, microvm: 4 };

export interface PodInfo {
  key: string;
  pod: any;
  namespace: string;
  labels: Record<string, string>;
  priority: number;
  /** False when spec.preemptionPolicy is Never. */
  canPreempt: boolean;
  resources: PodResources;
  runtimeClassName: string | undefined;
  /** RUNTIME_BITS of runtimeClassName (0 when unset or unknown). */
  runtimeBit: number;
  nodeSelector: [string, string][];
  /** Required node affinity: the node must match one of the terms; undefined = no rule. */
  requiredNodeAffinity?: NodeMatcher;
  /**
   * For the node label index: a `key In (values)` requirement every node passing the required node
   * affinity meets; `exact` when it is the whole rule.
   */
  nodeAffinityIndex?: { key: string; values: string[]; exact: boolean } | { names: string[]; exact: boolean };
  preferredNodeAffinity?: { weight: number; match: NodeMatcher }[];
  /** Identifies nodeSelector + required node affinity, for caches of "nodes this pod may use". */
  nodeSelectionKey: string;
  tolerations: Toleration[];
  requiredAffinity?: PodSetTerm[];
  requiredAntiAffinity?: PodSetTerm[];
  preferredAffinity?: PodSetTerm[];
  preferredAntiAffinity?: PodSetTerm[];
  spreadConstraints?: SpreadConstraint[];
  /** The host ports the pod's containers publish; undefined when none does. */
  hostPorts?: HostPort[];
  /** Set by preemption once the pod is chosen as a victim (before the informer shows its deletion). */
  terminating?: boolean;
}

/** A port published on the node (containers[].ports[].hostPort), as kube-scheduler's NodePorts sees it. */
export interface HostPort {
  /** '' for every address of the node (hostIP unset or 0.0.0.0). */
  ip: string;
  protocol: string;
  port: number;
}

/**
 * The host ports of the app containers and of the sidecars (init containers with restartPolicy Always,
 * which keep running beside them); plain init containers end before the others start, as kube counts them.
 */
export function podHostPorts(pod: any): HostPort[] | undefined {
  const containers: any[] = [
    ...(pod?.spec?.containers ?? []),
    ...((pod?.spec?.initContainers ?? []) as any[]).filter((c) => c?.restartPolicy === 'Always'),
  ];
  const out: HostPort[] = [];
  for (const c of containers) {
    for (const p of c?.ports ?? []) {
      const port = Number(p?.hostPort);
      if (!Number.isInteger(port) || port <= 0) continue;
      const ip = !p.hostIP || p.hostIP === '0.0.0.0' || p.hostIP === '::' ? '' : String(p.hostIP);
      out.push({ ip, protocol: p.protocol || 'TCP', port });
    }
  }
  return out.length ? out : undefined;
}

/** Two host ports collide when protocol and port match and either takes every address or both the same. */
export function hostPortsConflict(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && a.protocol === b.protocol && (a.ip === '' || b.ip === '' || a.ip === b.ip);
}

export function podKey(pod: any): string {
  return `${pod?.metadata?.namespace ?? ''}/${pod?.metadata?.name ?? ''}`;
}

/** Canonical text of a selector (key order does not matter), for sharing counters between pods. */
export function selectorKey(sel: any): string {
  if (sel === undefined || sel === null) return '<none>';
  const ml = Object.entries((sel.matchLabels ?? {}) as Record<string, string>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const me = ((sel.matchExpressions ?? []) as any[])
    .map((e) => `${e.key} ${e.operator} (${[...(e.values ?? [])].sort().join(',')})`)
    .sort();
  return `${ml.join(',')};${me.join(',')}`;
}

function requirementMatcher(r: any): NodeMatcher {
  const key: string = r.key;
  const values: string[] = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return (n) => {
        const v = n.labelMap.get(key);
        return v !== undefined && values.includes(v);
      };
    case 'NotIn':
      return (n) => {
        const v = n.labelMap.get(key);
        return v === undefined || !values.includes(v);
      };
    case 'Exists':
      return (n) => n.labelMap.has(key);
    case 'DoesNotExist':
      return (n) => !n.labelMap.has(key);
    case 'Gt':
    case 'Lt': {
      const bound = Number.parseInt(values[0] ?? '', 10);
      const gt = r.operator === 'Gt';
      return (n) => {
        const v = n.labelMap.get(key);
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        const x = Number.parseInt(v, 10);
        return gt ? x > bound : x < bound;
      };
    }
    default:
      return () => false;
  }
}

function fieldMatcher(r: any): NodeMatcher {
  const values: string[] = r.values ?? [];
  // Only metadata.name is supported (validated at the API edge).
  return r.operator === 'NotIn' ? (n) => !values.includes(n.name) : (n) => values.includes(n.name);
}

/** A NodeSelectorTerm: all requirements must hold; an empty term matches no node (as in Kubernetes). */
export function nodeSelectorTermMatcher(term: any): NodeMatcher {
  const parts = [
    ...((term?.matchExpressions ?? []) as any[]).map(requirementMatcher),
    ...((term?.matchFields ?? []) as any[]).map(fieldMatcher),
  ];
  if (parts.length === 0) return () => false;
  if (parts.length === 1) return parts[0];
  return (n) => parts.every((p) => p(n));
}

function compileTerm(term: any, podNamespace: string, weight: number): PodSetTerm {
  const namespaces = [...new Set<string>(term?.namespaces?.length ? term.namespaces : [podNamespace])].sort();
  return {
    namespaces,
    matcher: labelSelectorMatcher(term?.labelSelector),
    selector: term?.labelSelector,
    setKey: `${namespaces.join(',')}|${selectorKey(term?.labelSelector)}`,
    topologyKey: term?.topologyKey ?? '',
    weight,
  };
}

/** A single-term rule's first `In` requirement (several ORed terms would need de-duplicated lists). */
function indexHint(terms: any[] | undefined): PodInfo['nodeAffinityIndex'] {
  if (terms?.length !== 1) return undefined;
  const exprs: any[] = terms[0].matchExpressions ?? [];
  const fields: any[] = terms[0].matchFields ?? [];
  // Pinned by name (DaemonSet pods): the most selective of all.
  const byName = fields.find((f) => f.key === 'metadata.name' && f.operator === 'In' && f.values?.length);
  if (byName)
    return { names: [...new Set<string>(byName.values)], exact: exprs.length === 0 && fields.length === 1 };
  const e = exprs.find((x) => x.operator === 'In' && x.values?.length);
  if (!e) return undefined;
  return {
    key: e.key,
    values: [...new Set<string>(e.values)],
    exact: exprs.length === 1 && !terms[0].matchFields?.length,
  };
}

const nonEmpty = <T>(a: T[]): T[] | undefined => (a.length ? a : undefined);

export function podInfo(pod: any): PodInfo {
  const spec = pod?.spec ?? {};
  const namespace: string = pod?.metadata?.namespace ?? '';
  const nodeSelector = Object.entries((spec.nodeSelector ?? {}) as Record<string, string>);
  const na = spec.affinity?.nodeAffinity;
  const required = na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as any[] | undefined;
  let requiredNodeAffinity: NodeMatcher | undefined;
  if (required) {
    const terms = required.map(nodeSelectorTermMatcher);
    requiredNodeAffinity = terms.length === 1 ? terms[0] : (n) => terms.some((t) => t(n));
  }
  const preferred = ((na?.preferredDuringSchedulingIgnoredDuringExecution ?? []) as any[]).map((p) => ({
    weight: Number(p.weight) || 0,
    match: nodeSelectorTermMatcher(p.preference),
  }));
  const pa = spec.affinity?.podAffinity;
  const paa = spec.affinity?.podAntiAffinity;
  const req = (terms: any[] | undefined) => nonEmpty((terms ?? []).map((t) => compileTerm(t, namespace, 0)));
  const pref = (terms: any[] | undefined) =>
    nonEmpty((terms ?? []).map((t) => compileTerm(t.podAffinityTerm, namespace, Number(t.weight) || 0)));
  const spread = ((spec.topologySpreadConstraints ?? []) as any[]).map((c): SpreadConstraint => ({
    ...compileTerm({ labelSelector: c.labelSelector, topologyKey: c.topologyKey }, namespace, 0),
    maxSkew: Number(c.maxSkew) || 1,
    minDomains: Number(c.minDomains) || 1,
    hard: c.whenUnsatisfiable !== 'ScheduleAnyway',
  }));
  return {
    key: podKey(pod),
    pod,
    namespace,
    labels: pod?.metadata?.labels ?? {},
    priority: typeof spec.priority === 'number' ? spec.priority : 0,
    canPreempt: spec.preemptionPolicy !== 'Never',
    resources: podResources(pod),
    runtimeClassName: spec.runtimeClassName || undefined,
    runtimeBit: RUNTIME_BITS[spec.runtimeClassName] ?? 0,
    nodeSelector,
    requiredNodeAffinity,
    nodeAffinityIndex: indexHint(required),
    preferredNodeAffinity: nonEmpty(preferred),
    nodeSelectionKey:
      nodeSelector.length || required ? JSON.stringify([spec.nodeSelector ?? null, required ?? null]) : '',
    tolerations: spec.tolerations ?? [],
    requiredAffinity: req(pa?.requiredDuringSchedulingIgnoredDuringExecution),
    requiredAntiAffinity: req(paa?.requiredDuringSchedulingIgnoredDuringExecution),
    preferredAffinity: pref(pa?.preferredDuringSchedulingIgnoredDuringExecution),
    preferredAntiAffinity: pref(paa?.preferredDuringSchedulingIgnoredDuringExecution),
    spreadConstraints: nonEmpty(spread),
    hostPorts: podHostPorts(pod),
  };
}

/** Whether the node passes the pod's nodeSelector and required node affinity. */
export function matchesNodeSelection(pod: PodInfo, node: NodeFacts): boolean {
  for (const [k, v] of pod.nodeSelector) if (node.labelMap.get(k) !== v) return false;
  return pod.requiredNodeAffinity === undefined || pod.requiredNodeAffinity(node);
}

/** Kubernetes' toleration matching: effect (if given), key (empty = any, with Exists), value for Equal. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (!t.key) return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

export function isTolerated(tolerations: readonly Toleration[], taint: Taint): boolean {
  for (const t of tolerations) if (tolerates(t, taint)) return true;
  return false;
}
