// What an object counts against a ResourceQuota — kube's quota evaluators for pods, services, claims and
// object counts — and whether a quota's scopes cover a pod. Pure functions shared by quota admission
// (src/policy/quota) and the quota controller (src/controllers/resourcequota.ts), so both count alike.
import { formatCpu, formatMemory, parseCpu, parseMemory } from '../quantity.ts';
import { type KindInfo, allKinds } from '../registry.ts';
import { type ResourceQuota, type ScopedResourceSelectorRequirement, quotaAmount } from './resourcequota.ts';

/** Resource name → amount (millicores for cpu-like names, base units otherwise). */
export type Usage = Map<string, number>;

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** A pod that no longer holds resources: finished (kube's quota ignores terminal pods). */
export function podReleased(pod: any): boolean {
  return TERMINAL.has(pod?.status?.phase);
}

/** The pod's effective request or limit of one resource: max(sum of containers, largest init container). */
function podAmount(pod: any, which: 'requests' | 'limits', resource: 'cpu' | 'memory'): number | undefined {
  const parse = resource === 'cpu' ? parseCpu : parseMemory;
  const amount = (c: any): number | undefined => {
    const v =
      c.resources?.[which]?.[resource] ??
      (which === 'requests' ? c.resources?.limits?.[resource] : undefined);
    return v === undefined ? undefined : parse(v);
  };
  let sum = 0;
  let any = false;
  for (const c of pod.spec?.containers ?? []) {
    const a = amount(c);
    if (a !== undefined) {
      sum += a;
      any = true;
    }
  }
  let init = 0;
  for (const c of pod.spec?.initContainers ?? []) {
    const a = amount(c);
    if (a !== undefined) {
      init = Math.max(init, a);
      any = true;
    }
  }
  return any ? Math.max(sum, init) : undefined;
}

function countName(kind: KindInfo): string {
  return kind.group ? `count/${kind.plural}.${kind.group}` : `count/${kind.plural}`;
}

/** Everything `obj` counts for, whatever quotas exist (empty for a released pod). */
export function usageOf(kind: KindInfo, obj: any): Usage {
  const u: Usage = new Map();
  if (kind.group === '' && kind.kind === 'Pod') {
    if (podReleased(obj)) return u;
    u.set('pods', 1);
    for (const res of ['cpu', 'memory'] as const) {
      const req = podAmount(obj, 'requests', res);
      const lim = podAmount(obj, 'limits', res);
      if (req !== undefined) {
        u.set(res, req);
        u.set(`requests.${res}`, req);
      }
      if (lim !== undefined) u.set(`limits.${res}`, lim);
    }
  } else if (kind.group === '' && kind.kind === 'Service') {
    u.set('services', 1);
    const type = obj.spec?.type ?? 'ClusterIP';
    if (type === 'NodePort' || type === 'LoadBalancer')
      u.set('services.nodeports', (obj.spec?.ports ?? []).length);
    if (type === 'LoadBalancer') u.set('services.loadbalancers', 1);
  } else if (kind.group === '' && kind.kind === 'PersistentVolumeClaim') {
    u.set('persistentvolumeclaims', 1);
    const storage = obj.spec?.resources?.requests?.storage;
    const bytes = storage === undefined ? 0 : parseMemory(storage);
    u.set('requests.storage', bytes);
    const cls = obj.spec?.storageClassName;
    if (cls) {
      u.set(`${cls}.storageclass.storage.k8s.io/persistentvolumeclaims`, 1);
      u.set(`${cls}.storageclass.storage.k8s.io/requests.storage`, bytes);
    }
  } else if (kind.group === '') {
    const legacy: Record<string, string> = {
      ConfigMap: 'configmaps',
      Secret: 'secrets',
      ResourceQuota: 'resourcequotas',
      ReplicationController: 'replicationcontrollers',
    };
    if (legacy[kind.kind]) u.set(legacy[kind.kind]!, 1);
  }
  u.set(countName(kind), 1);
  return u;
}

/** The kinds whose objects a quota resource counts (for a full recount). */
export function kindsCountedBy(resource: string): KindInfo[] {
  const byKind = (apiVersion: string, kind: string) =>
    allKinds().filter((k) => k.apiVersion === apiVersion && k.kind === kind);
  if (resource.startsWith('count/')) {
    const [plural, ...group] = resource.slice('count/'.length).split('.');
    return allKinds().filter((k) => k.plural === plural && k.group === group.join('.'));
  }
  if (resource === 'pods' || /^(requests\.|limits\.)?(cpu|memory|ephemeral-storage)$/.test(resource))
    return byKind('v1', 'Pod');
  if (resource.startsWith('services')) return byKind('v1', 'Service');
  if (
    resource === 'persistentvolumeclaims' ||
    resource === 'requests.storage' ||
    resource.includes('.storageclass.')
  )
    return byKind('v1', 'PersistentVolumeClaim');
  const legacy: Record<string, string> = {
    configmaps: 'ConfigMap',
    secrets: 'Secret',
    resourcequotas: 'ResourceQuota',
  };
  return legacy[resource] ? byKind('v1', legacy[resource]!) : [];
}

function isBestEffort(pod: any): boolean {
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return all.every(
    (c) => !Object.keys(c.resources?.requests ?? {}).length && !Object.keys(c.resources?.limits ?? {}).length,
  );
}

function crossNamespaceAffinity(pod: any): boolean {
  const a = pod.spec?.affinity ?? {};
  const terms = [
    ...(a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
      (w: any) => w.podAffinityTerm,
    ),
    ...(a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
      (w: any) => w.podAffinityTerm,
    ),
  ];
  return terms.some((t: any) => t?.namespaceSelector || t?.namespaces?.length);
}

function scopeMatches(req: ScopedResourceSelectorRequirement, pod: any): boolean {
  let has: boolean;
  switch (req.scopeName) {
    case 'Terminating':
      has = pod.spec?.activeDeadlineSeconds !== undefined;
      break;
    case 'NotTerminating':
      has = pod.spec?.activeDeadlineSeconds === undefined;
      break;
    case 'BestEffort':
      has = isBestEffort(pod);
      break;
    case 'NotBestEffort':
      has = !isBestEffort(pod);
      break;
    case 'CrossNamespacePodAffinity':
      has = crossNamespaceAffinity(pod);
      break;
    case 'PriorityClass': {
      const cls = pod.spec?.priorityClassName;
      switch (req.operator) {
        case 'In':
          return cls !== undefined && (req.values ?? []).includes(cls);
        case 'NotIn':
          return cls === undefined || !(req.values ?? []).includes(cls);
        case 'DoesNotExist':
          return cls === undefined;
        default:
          return cls !== undefined;
      }
    }
  }
  return req.operator === 'DoesNotExist' ? !has : has;
}

/** Whether the quota covers the object: unscoped quotas cover everything, scoped ones only matching pods. */
export function quotaCovers(quota: Pick<ResourceQuota, 'spec'>, kind: KindInfo, obj: any): boolean {
  const reqs: ScopedResourceSelectorRequirement[] = [
    ...(quota.spec.scopes ?? []).map((scopeName) => ({ scopeName, operator: 'Exists' as const })),
    ...(quota.spec.scopeSelector?.matchExpressions ?? []),
  ];
  if (!reqs.length) return true;
  if (!(kind.group === '' && kind.kind === 'Pod')) return false;
  return reqs.every((r) => scopeMatches(r, obj));
}

/** An amount as a quantity string in status and messages. */
export function formatAmount(resource: string, amount: number): string {
  if (resource === 'cpu' || resource.endsWith('.cpu')) return formatCpu(amount);
  if (/memory|storage/.test(resource)) return formatMemory(amount);
  return String(amount);
}

/** A quota's `hard` parsed into amounts. */
export function hardAmounts(quota: Pick<ResourceQuota, 'spec'>): Usage {
  return new Map(Object.entries(quota.spec.hard ?? {}).map(([r, q]) => [r, quotaAmount(r, q)]));
}

/** Sums the usage of `objects` (of one kind) under a quota's tracked resources into `into`. */
export function addUsage(
  into: Usage,
  quota: Pick<ResourceQuota, 'spec'>,
  kind: KindInfo,
  objects: readonly any[],
): Usage {
  const hard = hardAmounts(quota);
  for (const obj of objects) {
    if (!quotaCovers(quota, kind, obj)) continue;
    for (const [res, amount] of usageOf(kind, obj))
      if (hard.has(res)) into.set(res, (into.get(res) ?? 0) + amount);
  }
  return into;
}

/** status.used as stored: every hard resource, formatted (0 when nothing uses it). */
export function usedStatus(quota: Pick<ResourceQuota, 'spec'>, used: Usage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const res of Object.keys(quota.spec.hard ?? {}).sort())
    out[res] = formatAmount(res, used.get(res) ?? 0);
  return out;
}

/** status.used read back into amounts (undefined when the quota has never been counted). */
export function parseUsed(quota: Pick<ResourceQuota, 'status'>): Usage | undefined {
  const used = quota.status?.used;
  if (!used) return undefined;
  return new Map(Object.entries(used).map(([r, q]) => [r, quotaAmount(r, q)]));
}
