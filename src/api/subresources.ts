// The subresources each kind offers — what discovery lists (`pods/log`, `deployments/scale`…) and the
// OpenAPI documents describe. The server's routes (src/server/routes/resources.ts, subresources.ts)
// implement them; src/server/routes/discovery.test.ts checks that every one listed here is served.
import type { KindInfo } from './registry.ts';

export type Verb = 'create' | 'delete' | 'get' | 'list' | 'patch' | 'update' | 'watch';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface SubresourceInfo {
  /** `status`, `scale`, `log`… (discovery lists it as `<plural>/<name>`). */
  name: string;
  /** What the subresource takes and returns (kube's APIResource.kind/group/version). */
  responseKind: GroupVersionKind;
  verbs: Verb[];
  description: string;
}

/** The verbs of every stored kind: no deletecollection (DELETE on a collection is refused). */
export const RESOURCE_VERBS: readonly Verb[] = [
  'create',
  'delete',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];

/** Kinds with a `scale` subresource (autoscaling/v1 Scale over spec.replicas). */
const SCALABLE = new Set(['apps/v1/Deployment', 'apps/v1/ReplicaSet', 'apps/v1/StatefulSet']);

export function hasScaleSubresource(k: KindInfo): boolean {
  return SCALABLE.has(`${k.apiVersion}/${k.kind}`);
}

const own = (k: KindInfo): GroupVersionKind => ({ group: k.group, version: k.version, kind: k.kind });
const core = (kind: string): GroupVersionKind => ({ group: '', version: 'v1', kind });

/** The subresources of a kind, in the order discovery lists them. */
export function subresourcesOf(k: KindInfo): SubresourceInfo[] {
  const out: SubresourceInfo[] = [];
  const id = `${k.apiVersion}/${k.kind}`;
  if (id === 'v1/Pod') {
    out.push(
      {
        name: 'binding',
        responseKind: core('Binding'),
        verbs: ['create'],
        description: 'bind the pod to a node',
      },
      {
        name: 'ephemeralcontainers',
        responseKind: core('Pod'),
        verbs: ['get', 'patch', 'update'],
        description: 'add ephemeral (debug) containers to the pod',
      },
      {
        name: 'eviction',
        responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' },
        verbs: ['create'],
        description: 'delete the pod unless a PodDisruptionBudget forbids it (429)',
      },
      {
        name: 'exec',
        responseKind: core('PodExecOptions'),
        verbs: ['create', 'get'],
        description: 'run a command in a container (WebSocket or SPDY upgrade)',
      },
      { name: 'log', responseKind: core('Pod'), verbs: ['get'], description: 'read the log of a container' },
    );
  }
  if (id === 'v1/ServiceAccount') {
    out.push({
      name: 'token',
      responseKind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' },
      verbs: ['create'],
      description: 'request a bound, expiring token of the service account (TokenRequest)',
    });
  }
  if (hasScaleSubresource(k)) {
    out.push({
      name: 'scale',
      responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      verbs: ['get', 'patch', 'update'],
      description: `read or change the replicas of the ${k.kind}`,
    });
  }
  if (id === 'certificates.k8s.io/v1/CertificateSigningRequest') {
    out.push({
      name: 'approval',
      responseKind: own(k),
      verbs: ['get', 'patch', 'update'],
      description: 'approve or deny the request (its Approved/Denied conditions)',
    });
  }
  if (k.hasStatus) {
    out.push({
      name: 'status',
      responseKind: own(k),
      verbs: ['get', 'patch', 'update'],
      description: `read or replace the status of the ${k.kind}`,
    });
  }
  return out;
}

/** kubectl's `all` category: the workload kinds `kubectl get all` lists. */
const ALL_CATEGORY = new Set([
  'v1/Pod',
  'v1/Service',
  'v1/ReplicationController',
  'apps/v1/Deployment',
  'apps/v1/DaemonSet',
  'apps/v1/ReplicaSet',
  'apps/v1/StatefulSet',
  'batch/v1/Job',
  'batch/v1/CronJob',
  'autoscaling/v2/HorizontalPodAutoscaler',
]);

export function categoriesOf(k: KindInfo): string[] {
  return ALL_CATEGORY.has(`${k.apiVersion}/${k.kind}`) ? ['all'] : [];
}
