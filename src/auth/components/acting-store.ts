// An ObjectStore that acts as one identity: every call the control plane's own components make (the
// controllers, the scheduler) is first asked of the same AuthorizerChain the API asks for a request —
// with the verb, resource, subresource, namespace and name the equivalent API request would carry — and
// refused with kube's 403 when the component's role does not cover it. Each answer is reported (the
// audit log records it under the component's user). In kube these components are API clients; here
// they stay in-process, so there is no HTTP round trip, but they hold no more than their role.
//
// Admission hooks keep seeing these writes as in-process ones (no WriteOptions.user): the tenancy guard
// and escalation check judge what an API client asks for, and a workload an administrator was allowed
// to create must still get its pods; validating admission already names them system:kube-controller-manager.
import type { KindInfo } from '../../api/index.ts';
import { kindFor, statusFailure } from '../../api/index.ts';
import type { Log } from '../../lib/log.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import type { Authorizer, RequestAttributes } from '../authorizer.ts';
import type { UserInfo } from '../identities.ts';

/** The outcome of one call, for the audit log: the request it stands for and its status code. */
export interface ActingStoreOutcome {
  attrs: RequestAttributes;
  code: number;
  /** The refusal's message (403s and other errors). */
  message?: string;
  /** Refused by authorization (not by admission or the store). */
  forbidden?: boolean;
  /** The object's name a create gave it (kube's objectRef.name of a create). */
  createdName?: string;
}

export interface ActingStoreOptions {
  user: UserInfo;
  authorizer: Authorizer;
  /** kube's forbidden message for a denial (src/server/authorization-attributes.ts). */
  forbiddenMessage?: (attrs: RequestAttributes, reason: string | undefined) => string;
  /** Told of every call once answered (audit). */
  onOutcome?: (outcome: ActingStoreOutcome) => void;
  log?: Log;
}

type Method = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
const STATUS_CREATED = 201;

/** Attributes of the API request a store call stands for. */
function attributes(
  user: UserInfo,
  verb: Method,
  kind: KindInfo,
  namespace: string | undefined,
  name: string | undefined,
  subresource?: string,
): RequestAttributes {
  const ns = kind.namespaced ? namespace : undefined;
  const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  const path = [base, ...(ns ? ['namespaces', ns] : []), kind.plural, ...(name ? [name] : [])]
    .concat(subresource ? [subresource] : [])
    .join('/');
  return {
    user,
    verb,
    resourceRequest: true,
    apiGroup: kind.group,
    apiVersion: kind.version,
    resource: kind.plural,
    ...(subresource ? { subresource } : {}),
    ...(ns ? { namespace: ns } : {}),
    ...(name ? { name } : {}),
    path,
  };
}

function defaultForbiddenMessage(a: RequestAttributes, reason: string | undefined): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return `User "${a.user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup ?? ''}"${a.namespace ? ` in the namespace "${a.namespace}"` : ''}${reason ? `: ${reason}` : ''}`;
}

/**
 * `objects`, acting as `opts.user`. Reads (get, list, watch) and writes (create, update, updateStatus,
 * updateEphemeralContainers, mutate, patch, bind, delete) are authorized; hooks and the raw store pass
 * through (the raw store is for storage migrations, which are not API requests).
 */
export function actingAs(objects: ObjectStore, opts: ActingStoreOptions): ObjectStore {
  const message = opts.forbiddenMessage ?? defaultForbiddenMessage;

  const authorize = async (attrs: RequestAttributes): Promise<void> => {
    const r = await opts.authorizer.authorize(attrs);
    if (r.decision === 'allow') return;
    const msg = message(attrs, r.reason);
    opts.log?.warn(
      {
        user: attrs.user.username,
        verb: attrs.verb,
        resource: attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource,
        group: attrs.apiGroup,
        namespace: attrs.namespace,
        name: attrs.name,
      },
      `forbidden: ${msg}`,
    );
    opts.onOutcome?.({ attrs, code: 403, message: msg, forbidden: true });
    throw new ApiError(
      statusFailure(403, 'Forbidden', msg, {
        ...(attrs.name ? { name: attrs.name } : {}),
        group: attrs.apiGroup,
        kind: attrs.resource,
      }),
    );
  };

  /** Authorize, run, report the answer. `wrote` says whether a request was really made (mutate may skip). */
  const run = async <T>(
    attrs: RequestAttributes,
    call: () => Promise<T>,
    success = 200,
    wrote: () => boolean = () => true,
  ): Promise<T> => {
    await authorize(attrs);
    try {
      const out = await call();
      if (wrote()) {
        const createdName =
          attrs.verb === 'create' && !attrs.name
            ? (out as { metadata?: { name?: string } } | undefined)?.metadata?.name
            : undefined;
        opts.onOutcome?.({ attrs, code: success, ...(createdName ? { createdName } : {}) });
      }
      return out;
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 500;
      opts.onOutcome?.({ attrs, code, message: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  };

  const as = (verb: Method, kind: KindInfo, ns: string | undefined, name?: string, sub?: string) =>
    attributes(opts.user, verb, kind, ns, name, sub);

  // The object a create or update names its kind and namespace in (unknown kinds: the store refuses them).
  const target = (input: any, namespace: string | undefined) => {
    const kind = kindFor(input?.apiVersion, input?.kind);
    const ns = kind?.namespaced ? (namespace ?? input?.metadata?.namespace ?? 'default') : undefined;
    return { kind, ns };
  };

  const overrides: Partial<ObjectStore> = {
    get: (kind, ns, name) => run(as('get', kind, ns, name), () => objects.get(kind, ns, name)),
    mustGet: (kind, ns, name) => run(as('get', kind, ns, name), () => objects.mustGet(kind, ns, name)),
    list: (kind, ns, o) => run(as('list', kind, ns), () => objects.list(kind, ns, o)),
    watch: (kind, ns, rv, onEvent, onClose) =>
      run(as('watch', kind, ns), () => objects.watch(kind, ns, rv, onEvent, onClose)),
    create: (input, namespace, o) => {
      const { kind, ns } = target(input, namespace);
      if (!kind) return objects.create(input, namespace, o);
      return run(as('create', kind, ns), () => objects.create(input, namespace, o), STATUS_CREATED);
    },
    update: (input, namespace, o) => {
      const { kind, ns } = target(input, namespace);
      if (!kind) return objects.update(input, namespace, o);
      return run(as('update', kind, ns, input?.metadata?.name), () => objects.update(input, namespace, o));
    },
    updateStatus: (kind, ns, name, input, o) =>
      run(as('update', kind, ns, name, 'status'), () => objects.updateStatus(kind, ns, name, input, o)),
    updateEphemeralContainers: (ns, name, input, o) =>
      run(as('update', kindFor('v1', 'Pod')!, ns, name, 'ephemeralcontainers'), () =>
        objects.updateEphemeralContainers(ns, name, input, o),
      ),
    mutate: (kind, ns, name, fn, sub, o) => {
      // A mutation that changes nothing writes nothing: no request to report.
      let changed = false;
      const tracked = (obj: any) => {
        const next = fn(obj);
        changed = next !== undefined;
        return next;
      };
      return run(
        as('update', kind, ns, name, sub),
        () => objects.mutate(kind, ns, name, tracked, sub, o),
        200,
        () => changed,
      );
    },
    patch: (kind, ns, name, patch, sub, o) =>
      run(as('patch', kind, ns, name, sub), () => objects.patch(kind, ns, name, patch, sub, o)),
    bind: (ns, name, node, rv, o) =>
      run(
        as('create', kindFor('v1', 'Pod')!, ns, name, 'binding'),
        () => objects.bind(ns, name, node, rv, o),
        STATUS_CREATED,
      ),
    delete: (kind, ns, name, o) => run(as('delete', kind, ns, name), () => objects.delete(kind, ns, name, o)),
  };

  return new Proxy(objects, {
    get(t, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof ObjectStore];
      const v = Reflect.get(t, prop, receiver);
      // The store's own methods run on the store itself (their internal calls are not re-authorized).
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}
