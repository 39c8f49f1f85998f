// Authorization on the request path: every authenticated request — and every exec/attach/port-forward
// upgrade — is asked of an AuthorizerChain (the superuser check for system:masters, then a Node
// authorizer when one is configured, then RBAC) after impersonation headers are applied. A denial is
// kube's 403 Status: `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in
// the namespace "default"`. Public paths (/healthz, /version …) carry no user and are not asked.
//
// startAuthorization also puts RBAC's admission in place on the ObjectStore (escalation prevention,
// roleRef immutability, the tenancy guard on host access) and the default roles and bindings.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { bindingUpdateCauses, invalid, kindFor, statusFailure } from '../api/index.ts';
import { type Authorizer, AuthorizerChain } from '../auth/authorizer.ts';
import type { UserInfo } from '../auth/identities.ts';
import { RBACAuthorizer, superuserAuthorizer } from '../auth/rbac/authorizer.ts';
import { RbacCache, type RbacInformers } from '../auth/rbac/cache.ts';
import { EscalationCheck } from '../auth/rbac/escalation.ts';
import { reconcileBootstrapPolicy } from '../auth/rbac/reconcile.ts';
import { TenancyGuard } from '../auth/rbac/tenancy.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import type { SharedInformers } from '../store/shared-informers.ts';
import type { ServerExtension } from './app.ts';
import { forbiddenMessage, requestAttributes } from './authorization-attributes.ts';
import { impersonate } from './authorization-impersonation.ts';
import { registerAuthorizationRoutes } from './routes/authorization.ts';

const rbacKind = (kind: string) => kindFor('rbac.authorization.k8s.io/v1', kind)!;

export interface AuthorizationOptions {
  objects: ObjectStore;
  /** Started (or to be started) informers; RBAC reads its four kinds through them. */
  informers: SharedInformers;
  /**
   * Authorizers asked after the superuser check and before RBAC — the place of the Node authorizer
   * (system:nodes), which must decide before RBAC's broader rules apply.
   */
  before?: Authorizer[];
}

export interface Authorization {
  /** The whole chain: superuser, `before`, RBAC. */
  authorizer: Authorizer;
  rbac: RBACAuthorizer;
  /** The request-path extension (ServerOptions.extensions). */
  extension: ServerExtension;
}

/** Resolves once RBAC's caches are filled and the default roles are in place. */
export async function startAuthorization(opts: AuthorizationOptions): Promise<Authorization> {
  const informers: RbacInformers = {
    roles: opts.informers.informerFor(rbacKind('Role')),
    clusterRoles: opts.informers.informerFor(rbacKind('ClusterRole')),
    roleBindings: opts.informers.informerFor(rbacKind('RoleBinding')),
    clusterRoleBindings: opts.informers.informerFor(rbacKind('ClusterRoleBinding')),
  };
  const rbac = new RBACAuthorizer(new RbacCache(informers));
  const authorizer = new AuthorizerChain([superuserAuthorizer, ...(opts.before ?? []), rbac]);

  const escalation = new EscalationCheck(rbac, authorizer);
  const tenancy = new TenancyGuard(authorizer);
  opts.objects.addCreateHook(escalation.onCreate);
  opts.objects.addCreateHook(tenancy.onCreate);
  opts.objects.addUpdateHook((next, current, kind, o) => {
    if (kind.kind === 'RoleBinding' || kind.kind === 'ClusterRoleBinding') {
      const causes = bindingUpdateCauses(next, current);
      if (causes.length) throw new ApiError(invalid(kind, current.metadata.name, causes));
    }
    return escalation.onUpdate(next, current, kind, o);
  });
  opts.objects.addUpdateHook(tenancy.onUpdate);

  await reconcileBootstrapPolicy(opts.objects);
  await Promise.all(Object.values(informers).map((i: any) => i.waitForSync()));
  return { authorizer, rbac, extension: authorizationExtension(authorizer, rbac) };
}

const upgradeAuthorizers = new WeakMap<FastifyInstance, Authorizer>();

/** 403 for a denied request, in kube's shape (details name the resource, its group and the object). */
function forbidden(attrs: ReturnType<typeof requestAttributes>, reason: string | undefined): ApiError {
  return new ApiError(
    statusFailure(403, 'Forbidden', forbiddenMessage(attrs, reason), {
      ...(attrs.name ? { name: attrs.name } : {}),
      ...(attrs.resourceRequest ? { group: attrs.apiGroup, kind: attrs.resource } : {}),
    }),
  );
}

/** Applies impersonation, then authorizes; returns the user the request acts as, or throws a 403. */
async function authorizeRequest(
  authorizer: Authorizer,
  raw: IncomingMessage,
  user: UserInfo,
): Promise<UserInfo> {
  const effective = await impersonate(raw.headers, user, authorizer);
  const attrs = requestAttributes(raw.method ?? 'GET', raw.url ?? '/', effective);
  const r = await authorizer.authorize(attrs);
  if (r.decision !== 'allow') throw forbidden(attrs, r.reason);
  return effective;
}

export function authorizationExtension(authorizer: Authorizer, rbac?: RBACAuthorizer): ServerExtension {
  return (app) => {
    upgradeAuthorizers.set(app, authorizer);
    app.addHook('onRequest', async (req, reply) => {
      if (!req.user) return; // a public path
      try {
        req.user = await authorizeRequest(authorizer, req.raw, req.user);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        reply.code(err.code).send(err.status);
        return reply;
      }
    });
    registerAuthorizationRoutes(app, authorizer, rbac);
  };
}

/**
 * For the upgrade paths (exec, attach, port-forward), which Fastify's hooks do not see: the user the
 * upgrade acts as, or a thrown 403. Without an authorization extension on `app`, everyone authenticated
 * is allowed (the server's behaviour without authorization).
 */
export async function authorizeUpgrade(
  app: FastifyInstance,
  req: IncomingMessage,
  user: UserInfo,
): Promise<UserInfo> {
  const authorizer = upgradeAuthorizers.get(app);
  return authorizer ? authorizeRequest(authorizer, req, user) : user;
}
