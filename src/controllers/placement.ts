// Placement facts the controllers need without the scheduler: taints against tolerations (the NoExecute
// taint manager, DaemonSets) and whether a node satisfies a pod's node selector and required node
// affinity (DaemonSets place their pods themselves). Same semantics as Kubernetes' helpers.
import { getCondition } from '../api/index.ts';

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** Taints the node lifecycle controller puts on nodes whose Ready condition is False / Unknown. */
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
export const TAINT_NODE_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
export const TAINT_NODE_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
export const TAINT_NODE_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';

/** Kubernetes' Toleration.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  // An empty key with operator Exists matches every key.
  if (t.key ? t.key !== taint.key : t.operator !== 'Exists') return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** The first of `taints` (restricted to `effects`) that no toleration tolerates, if any. */
export function untoleratedTaint(
  taints: readonly Taint[] | undefined,
  tolerations: readonly Toleration[] | undefined,
  effects: readonly Taint['effect'][],
): Taint | undefined {
  return (taints ?? []).find(
    (taint) => effects.includes(taint.effect) && !(tolerations ?? []).some((t) => toleratesTaint(t, taint)),
  );
}

export function nodeTaints(node: any): Taint[] {
  return (node?.spec?.taints as Taint[] | undefined) ?? [];
}

export function nodeReadyStatus(node: any): 'True' | 'False' | 'Unknown' {
  return (
    (getCondition(node?.status?.conditions, 'Ready')?.status as 'True' | 'False' | undefined) ?? 'Unknown'
  );
}

interface Requirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}

function requirementMatches(r: Requirement, value: string | undefined): boolean {
  const has = value !== undefined;
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(value);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || !/^-?\d+$/.test(value)) return false;
      const a = Number(value);
      const b = Number(r.values?.[0]);
      return r.operator === 'Gt' ? a > b : a < b;
    }
  }
}

/** A node selector term: all its requirements hold; an empty term matches nothing. */
export function nodeMatchesTerm(node: any, term: any): boolean {
  const exprs: Requirement[] = term?.matchExpressions ?? [];
  const fields: Requirement[] = term?.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels: Record<string, string> = node?.metadata?.labels ?? {};
  return (
    exprs.every((r) => requirementMatches(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined)) &&
    fields.every((r) => requirementMatches(r, r.key === 'metadata.name' ? node?.metadata?.name : undefined))
  );
}

/** spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution node affinity (terms ORed). */
export function nodeMatchesPodPlacement(node: any, podSpec: any): boolean {
  const labels: Record<string, string> = node?.metadata?.labels ?? {};
  for (const [k, v] of Object.entries((podSpec?.nodeSelector ?? {}) as Record<string, string>)) {
    if (labels[k] !== v) return false;
  }
  const terms: any[] | undefined =
    podSpec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && terms.length > 0 && !terms.some((t) => nodeMatchesTerm(node, t))) return false;
  return true;
}

/** The node offers the pod's runtime class (a node that reports no handlers is taken to offer all). */
export function nodeOffersRuntime(node: any, podSpec: any): boolean {
  const handlers: { name: string }[] | undefined = node?.status?.runtimeHandlers;
  const wanted: string | undefined = podSpec?.runtimeClassName;
  if (!wanted || !handlers) return true;
  return handlers.some((h) => h.name === wanted);
}
