// Impersonation (kube's filters/impersonation.go): `Impersonate-User`, `-Group` (repeatable), `-Uid` and
// `-Extra-<key>` headers make the request act as another user — `kubectl --as bob --as-group devs`.
// Each part is authorized first with the `impersonate` verb: users (or serviceaccounts, for a
// system:serviceaccount:NS:NAME user), groups, uids and userextras/<key>.
import type { IncomingHttpHeaders } from 'node:http';
import { badRequest, statusFailure } from '../api/index.ts';
import type { Authorizer, RequestAttributes } from '../auth/authorizer.ts';
import { AUTHENTICATED_GROUP, type UserInfo } from '../auth/identities.ts';
import { ApiError } from '../store/objects.ts';
import { forbiddenMessage } from './authorization-attributes.ts';

const USER = 'impersonate-user';
const GROUP = 'impersonate-group';
const UID = 'impersonate-uid';
const EXTRA_PREFIX = 'impersonate-extra-';
const SA_PREFIX = 'system:serviceaccount:';

function all(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** True when the request asks to impersonate anyone. */
export function wantsImpersonation(headers: IncomingHttpHeaders): boolean {
  return Object.keys(headers).some(
    (h) => h === USER || h === GROUP || h === UID || h.startsWith(EXTRA_PREFIX),
  );
}

/**
 * The user the request acts as: `user` itself without impersonation headers, or the impersonated user
 * once every part is allowed. Throws 403 (not allowed) or 400 (groups/extra without a user).
 */
export async function impersonate(
  headers: IncomingHttpHeaders,
  user: UserInfo,
  authorizer: Authorizer,
): Promise<UserInfo> {
  if (!wantsImpersonation(headers)) return user;
  const username = all(headers[USER])[0];
  const groups = all(headers[GROUP])
    .flatMap((g) => g.split(',').map((s) => s.trim()))
    .filter(Boolean);
  const uid = all(headers[UID])[0];
  const extra: Record<string, string[]> = {};
  for (const [h, v] of Object.entries(headers)) {
    if (!h.startsWith(EXTRA_PREFIX)) continue;
    // Keys are percent-encoded in the header name (kube decodes them).
    const key = decodeURIComponent(h.slice(EXTRA_PREFIX.length));
    extra[key] = all(v).flatMap((x) => x.split(',').map((s) => s.trim()));
  }
  if (!username)
    throw new ApiError(
      badRequest('requested impersonation of groups, a uid or extra fields without impersonating a user'),
    );

  const checks: Omit<RequestAttributes, 'user' | 'verb' | 'resourceRequest' | 'path'>[] = [];
  if (username.startsWith(SA_PREFIX)) {
    const [ns, name] = username.slice(SA_PREFIX.length).split(':');
    checks.push({ apiGroup: '', resource: 'serviceaccounts', namespace: ns, name });
  } else checks.push({ apiGroup: '', resource: 'users', name: username });
  for (const g of groups) checks.push({ apiGroup: '', resource: 'groups', name: g });
  if (uid) checks.push({ apiGroup: 'authentication.k8s.io', resource: 'uids', name: uid });
  for (const [k, values] of Object.entries(extra))
    for (const v of values)
      checks.push({ apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v });
  for (const c of checks) {
    const attrs: RequestAttributes = { user, verb: 'impersonate', resourceRequest: true, path: '', ...c };
    const r = await authorizer.authorize(attrs);
    if (r.decision !== 'allow')
      throw new ApiError(
        statusFailure(403, 'Forbidden', forbiddenMessage(attrs, r.reason), {
          name: c.name,
          group: c.apiGroup,
          kind: c.resource,
        }),
      );
  }

  const outGroups = [...groups];
  if (username.startsWith(SA_PREFIX) && groups.length === 0) {
    const ns = username.slice(SA_PREFIX.length).split(':')[0];
    outGroups.push('system:serviceaccounts', `system:serviceaccounts:${ns}`);
  }
  if (username !== 'system:anonymous' && !outGroups.includes(AUTHENTICATED_GROUP))
    outGroups.push(AUTHENTICATED_GROUP);
  return {
    username,
    groups: outGroups,
    via: user.via,
    ...(uid ? { uid } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}
