// The one entry point for "is this object acceptable, and what does it look like once defaulted?".
// The API server calls it on every write and in-process controllers call it on what they create, so
// both see the same validation and the same defaults.
import { type Cause, formatCauses, issuesToCauses, msg, Reason } from './causes.ts';
import { defaultCronJob } from './kinds/cronjob.ts';
import { defaultDaemonSet } from './kinds/daemonset.ts';
import { defaultDeployment } from './kinds/deployment.ts';
import { defaultEvent } from './kinds/event.ts';
import { defaultHorizontalPodAutoscaler } from './kinds/hpa.ts';
import { defaultPingSource } from './kinds/pingsource.ts';
import { defaultTrigger } from './kinds/eventing.ts';
import { defaultHorizontalPodAutoscalerV1 } from './kinds/hpa-v1.ts';
import { defaultJob } from './kinds/job.ts';
import { defaultNamespace } from './kinds/namespace.ts';
import { defaultNetworkPolicy } from './kinds/networkpolicy.ts';
import { defaultPod } from './kinds/pod.ts';
import { defaultBindingSubjects } from './kinds/rbac.ts';
import { defaultReplicaSet } from './kinds/replicaset.ts';
import { defaultSecret } from './kinds/secret.ts';
import { defaultService } from './kinds/service.ts';
import { defaultStatefulSet } from './kinds/statefulset.ts';
import { allKinds, kindFor, type KindInfo, resolveKind } from './registry.ts';

export type { Cause } from './causes.ts';

export type ValidateResult =
  { ok: true; object: any; kind: KindInfo } | { ok: false; causes: Cause[]; kind?: KindInfo };

/** Thrown by applyDefaults() when the object does not validate; carries the causes for a 422. */
export class ValidationError extends Error {
  readonly kind: KindInfo;
  readonly causes: Cause[];
  constructor(kind: KindInfo, causes: Cause[]) {
    super(`${kind.kind} is invalid: ${formatCauses(causes)}`);
    this.name = 'ValidationError';
    this.kind = kind;
    this.causes = causes;
  }
}

// Defaults that depend on other fields; static ones are zod `.default()`s in the schemas.
const DEFAULTERS: Record<string, (obj: any) => void> = {
  'v1/Pod': defaultPod,
  'v1/Namespace': defaultNamespace,
  'v1/Secret': defaultSecret,
  'v1/Event': defaultEvent,
  'v1/Service': defaultService,
  'apps/v1/Deployment': defaultDeployment,
  'apps/v1/ReplicaSet': defaultReplicaSet,
  'apps/v1/DaemonSet': defaultDaemonSet,
  'apps/v1/StatefulSet': defaultStatefulSet,
  'batch/v1/Job': defaultJob,
  'batch/v1/CronJob': defaultCronJob,
  'autoscaling/v2/HorizontalPodAutoscaler': defaultHorizontalPodAutoscaler,
  'sources.knative.dev/v1/PingSource': defaultPingSource,
  'eventing.knative.dev/v1/Trigger': defaultTrigger,
  'autoscaling/v1/HorizontalPodAutoscaler': defaultHorizontalPodAutoscalerV1,
  'networking.k8s.io/v1/NetworkPolicy': defaultNetworkPolicy,
  'rbac.authorization.k8s.io/v1/RoleBinding': defaultBindingSubjects,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': defaultBindingSubjects,
};

function finishDefaults(kind: KindInfo, obj: any): void {
  DEFAULTERS[`${kind.apiVersion}/${kind.kind}`]?.(obj);
  // `creationTimestamp: null` (kubectl dry-run output) is accepted on input but never stored.
  const templates = [obj.spec?.template, obj.spec?.jobTemplate, obj.spec?.jobTemplate?.spec?.template];
  for (const meta of [obj.metadata, ...templates.map((t) => t?.metadata)])
    if (meta && meta.creationTimestamp === null) delete meta.creationTimestamp;
  // Cluster-scoped objects have no namespace; Kubernetes clears one that was sent, and so do we.
  if (!kind.namespaced) delete obj.metadata.namespace;
}

/**
 * In-process callers build objects like `{ ...pod, status: undefined }`; JSON would drop such keys, so
 * drop them too rather than reporting a "field not declared" for a field that is not really there.
 */
function withoutUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutUndefined);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = withoutUndefined(x);
  return out;
}

function toKind(kind: KindInfo | string): KindInfo {
  const info = typeof kind === 'string' ? resolveKind(kind) : kind;
  if (!info) throw new Error(`unknown kind ${JSON.stringify(kind)}`);
  return info;
}

function checkTypeField(obj: Record<string, unknown>, field: 'apiVersion' | 'kind'): Cause | undefined {
  const v = obj[field];
  if (v === undefined || v === '') return { field, reason: Reason.Required, message: msg.required() };
  if (typeof v !== 'string')
    return { field, reason: Reason.TypeInvalid, message: msg.invalid(v, 'must be of type string') };
  return undefined;
}

/**
 * Validate a whole object (any supported kind) and return it with server-side defaults applied.
 * The input is not modified. Field paths in causes are Kubernetes style: `spec.containers[0].name`.
 */
export function validateObject(obj: unknown): ValidateResult {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    return {
      ok: false,
      causes: [
        {
          field: '',
          reason: Reason.TypeInvalid,
          message: msg.invalid(obj, 'must be an object with apiVersion, kind and metadata'),
        },
      ],
    };
  const o = obj as Record<string, unknown>;
  const typeCauses = [checkTypeField(o, 'apiVersion'), checkTypeField(o, 'kind')].filter(
    (c) => c !== undefined,
  );
  if (typeCauses.length) return { ok: false, causes: typeCauses };
  const apiVersion = o.apiVersion as string;
  const kindName = o.kind as string;

  const kind = kindFor(apiVersion, kindName);
  if (!kind) {
    const sameKind = allKinds().filter((k) => k.kind === kindName);
    if (sameKind.length)
      return {
        ok: false,
        causes: [
          {
            field: 'apiVersion',
            reason: Reason.NotSupported,
            message: msg.notSupported(
              apiVersion,
              sameKind.map((k) => k.apiVersion),
            ),
          },
        ],
      };
    return {
      ok: false,
      causes: [
        {
          field: 'kind',
          reason: Reason.NotSupported,
          message: msg.notSupported(
            kindName,
            allKinds().map((k) => k.kind),
          ),
        },
      ],
    };
  }

  const parsed = kind.schema.safeParse(withoutUndefined(obj), { reportInput: true });
  if (!parsed.success) return { ok: false, causes: issuesToCauses(parsed.error.issues), kind };
  finishDefaults(kind, parsed.data);
  return { ok: true, object: parsed.data, kind };
}

/**
 * Return a defaulted copy of `obj` (for a KindInfo, or a name resolveKind() knows). Throws
 * ValidationError when `obj` is not valid for the kind, since defaults are only defined for valid objects.
 */
export function applyDefaults<T = any>(kind: KindInfo | string, obj: unknown): T {
  const info = toKind(kind);
  const parsed = info.schema.safeParse(withoutUndefined(obj), { reportInput: true });
  if (!parsed.success) throw new ValidationError(info, issuesToCauses(parsed.error.issues));
  finishDefaults(info, parsed.data);
  return parsed.data as T;
}

/** Validate the body of a status subresource write; causes are rooted at `status`. */
export function validateStatus(kind: KindInfo | string, status: unknown): Cause[] {
  const info = toKind(kind);
  if (!info.statusSchema)
    return [
      { field: 'status', reason: Reason.Forbidden, message: msg.forbidden(`${info.kind} has no status`) },
    ];
  const parsed = info.statusSchema.safeParse(withoutUndefined(status), { reportInput: true });
  return parsed.success ? [] : issuesToCauses(parsed.error.issues, ['status']);
}
