// Subresources beyond status: `deployments/{name}/scale` (autoscaling/v1 Scale, what `strata scale`
// and HorizontalPodAutoscaler-style tools use) and `pods/{name}/eviction` (policy/v1 Eviction: a delete
// that a PodDisruptionBudget may refuse with 429, what `strata drain` uses).
import jsonMergePatch from 'json-merge-patch';
import {
  EvictionSchema,
  badRequest,
  issuesToCauses,
  invalid,
  labelSelectorToString,
  statusFailure,
  type KindInfo,
} from '../../api/index.ts';
import { evictPod } from '../../policy/eviction.ts';
import { ApiError, type ObjectStore, type WriteOptions } from '../../store/objects.ts';

/** Kinds with a scale subresource: their spec.replicas and selector. */
const SCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet']);

export function hasScale(kind: KindInfo): boolean {
  return SCALABLE.has(kind.kind);
}

function toScale(obj: any): any {
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: obj.spec.replicas ?? 1 },
    status: {
      replicas: obj.status?.replicas ?? 0,
      selector: labelSelectorToString(obj.spec.selector),
    },
  };
}

function replicasOf(kind: KindInfo, name: string, scale: any): number {
  const r = scale?.spec?.replicas;
  if (!Number.isInteger(r) || r < 0) {
    throw new ApiError(
      invalid(kind, name, [
        {
          field: 'spec.replicas',
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(r)}: must be a non-negative integer`,
        },
      ]),
    );
  }
  return r;
}

/** GET, PUT (a Scale) or PATCH (merge patch of the Scale) of `{kind}/{name}/scale`. */
export async function handleScale(
  objects: ObjectStore,
  method: string,
  kind: KindInfo,
  namespace: string | undefined,
  name: string,
  body: any,
  opts: WriteOptions = {},
): Promise<any> {
  const current = await objects.mustGet(kind, namespace, name);
  if (method === 'GET') return toScale(current);
  if (method !== 'PUT' && method !== 'PATCH')
    throw new ApiError(badRequest(`${method} is not supported on the scale subresource`));
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError(badRequest('the request body must be a Scale object'));
  const wanted = method === 'PUT' ? body : jsonMergePatch.apply(toScale(current), structuredClone(body));
  const replicas = replicasOf(kind, name, wanted);
  const pinned = method === 'PUT' ? wanted.metadata?.resourceVersion : body.metadata?.resourceVersion;
  const next = structuredClone(current);
  next.spec.replicas = replicas;
  if (pinned !== undefined) next.metadata.resourceVersion = pinned;
  const updated = await objects.update(next, namespace, opts);
  return toScale(updated);
}

/**
 * `POST pods/{name}/eviction` with a policy/v1 Eviction: deletes the pod (with the Eviction's
 * deleteOptions) unless a PodDisruptionBudget forbids it, which is a 429 Status the caller retries.
 */
export async function handleEviction(
  objects: ObjectStore,
  kind: KindInfo,
  namespace: string,
  name: string,
  body: any,
): Promise<{ code: number; status: any }> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError(badRequest('the request body must be a policy/v1 Eviction'));
  const parsed = EvictionSchema.safeParse(body);
  if (!parsed.success) throw new ApiError(invalid('Eviction', name, issuesToCauses(parsed.error.issues)));
  const ev = parsed.data;
  if (ev.metadata.name !== name)
    throw new ApiError(
      badRequest(`name in URL does not match name in Eviction object (${ev.metadata.name})`),
    );
  if (ev.metadata.namespace !== undefined && ev.metadata.namespace !== namespace)
    throw new ApiError(badRequest(`namespace in URL does not match namespace in Eviction object`));
  const result = await evictPod(objects, namespace, name, ev.deleteOptions ?? {});
  if (!result.allowed) {
    throw new ApiError(
      statusFailure(429, 'TooManyRequests', result.reason, {
        name,
        kind: kind.plural,
        causes: [{ reason: 'DisruptionBudget', field: '', message: result.cause ?? result.reason }],
        // kubectl drain retries after 5 s; tell other clients the same.
        retryAfterSeconds: 5,
      }),
    );
  }
  return {
    code: 201,
    status: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 },
  };
}
