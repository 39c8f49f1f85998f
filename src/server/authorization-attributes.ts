// What a request does, in the terms authorizers speak (kube-apiserver's RequestInfoFactory): resource
// requests under /api and /apis get a verb (get, list, watch, create, update, patch, delete,
// deletecollection), group, version, resource, subresource, namespace and name; every other path —
// discovery (/api, /apis/apps), /openapi, /version — is a non-resource request authorized on its path
// with the lower-cased HTTP method as verb.
import type { RequestAttributes } from '../auth/authorizer.ts';
import type { UserInfo } from '../auth/identities.ts';

const RESOURCE_VERBS: Record<string, string> = {
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
};

/** The X of a field selector that is exactly `metadata.name=X` (or `==`), else undefined. */
function selectedName(selector: string | null): string | undefined {
  if (!selector) return undefined;
  const parts = selector.split(',');
  for (const p of parts) {
    const m = /^metadata\.name(==|=)(.*)$/.exec(p.trim());
    if (m && parts.length === 1) return m[2] || undefined;
  }
  return undefined;
}

/** namespaces/{name}/status and /finalize are the Namespace's own subresources, not resources in it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function isTrue(v: string | null): boolean {
  return v === 'true' || v === '1';
}

export function requestAttributes(method: string, rawUrl: string, user: UserInfo): RequestAttributes {
  const url = new URL(rawUrl, 'http://strata');
  const path = url.pathname;
  const nonResource: RequestAttributes = { user, verb: method.toLowerCase(), resourceRequest: false, path };
  let seg = path.split('/').filter((s) => s.length > 0);
  let apiGroup: string;
  let apiVersion: string;
  if (seg[0] === 'api' && seg.length >= 3) {
    apiGroup = '';
    apiVersion = seg[1];
    seg = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 4) {
    apiGroup = seg[1];
    apiVersion = seg[2];
    seg = seg.slice(3);
  } else return nonResource;
  try {
    seg = seg.map(decodeURIComponent);
  } catch {
    return nonResource;
  }
  // The deprecated /api/v1/watch/... form is a watch of what follows.
  let watchPath = false;
  if (seg[0] === 'watch') {
    watchPath = true;
    seg = seg.slice(1);
  }
  let namespace: string | undefined;
  // namespaces/{ns}/{resource}...: namespaced; namespaces[/{name}[/{sub}]]: the Namespace object itself,
  // which kube also files under its own namespace.
  if (seg[0] === 'namespaces' && seg.length >= 2) {
    namespace = seg[1];
    if (seg.length >= 3 && !NAMESPACE_SUBRESOURCES.has(seg[2])) seg = seg.slice(2);
  }
  const [resource, pathName, subresource] = seg;
  let name: string | undefined = pathName;
  let verb: string;
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') {
    verb = watchPath || isTrue(url.searchParams.get('watch')) ? 'watch' : name ? 'get' : 'list';
  } else if (m === 'DELETE') {
    verb = name ? 'delete' : 'deletecollection';
  } else verb = RESOURCE_VERBS[m] ?? m.toLowerCase();
  // A list or watch of one object by `fieldSelector=metadata.name=X` is about that object: kube fills in
  // the name so that rules with resourceNames can allow it (`kubectl get pod x -w`).
  if ((verb === 'list' || verb === 'watch') && !name)
    name = selectedName(url.searchParams.get('fieldSelector'));
  // The streaming subresources run something in the pod whatever the transport's method (WebSocket
  // upgrades are GETs): kube asks for `create` on them (AuthorizePodWebsocketUpgradeCreatePermission).
  if (
    resource === 'pods' &&
    (subresource === 'exec' || subresource === 'attach' || subresource === 'portforward')
  )
    verb = 'create';
  return {
    user,
    verb,
    resourceRequest: true,
    apiGroup,
    apiVersion,
    resource,
    subresource,
    namespace,
    name,
    path,
  };
}

/**
 * kube's forbidden message (endpoints/handlers/responsewriters): `pods is forbidden: User "alice" cannot
 * list resource "pods" in API group "" in the namespace "default"`, with the authorizer's reason after a
 * colon when it gave one.
 */
export function forbiddenMessage(a: RequestAttributes, reason?: string): string {
  const who = `User ${JSON.stringify(a.user.username)}`;
  let what: string;
  if (!a.resourceRequest) what = `${who} cannot ${a.verb} path ${JSON.stringify(a.path)}`;
  else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '');
    const where = a.namespace ? `in the namespace ${JSON.stringify(a.namespace)}` : 'at the cluster scope';
    what = `${who} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.apiGroup ?? '')} ${where}`;
  }
  if (reason) what += `: ${reason}`;
  if (!a.resourceRequest || !a.resource) return `forbidden: ${what}`;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return a.name
    ? `${qualified} ${JSON.stringify(a.name)} is forbidden: ${what}`
    : `${qualified} is forbidden: ${what}`;
}
