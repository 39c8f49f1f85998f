// The RBAC authorizer (kube's plugin/pkg/auth/authorizer/rbac): a request is allowed when a rule of a
// role bound to its user, one of its groups or its service account covers it — ClusterRoleBindings
// everywhere, RoleBindings in their namespace. RBAC only ever allows; otherwise it has no opinion and
// the chain's end denies. The superuser authorizer in front of it lets `system:masters` through, as
// kube-apiserver does, whatever the RBAC objects say (and before their caches are filled).
import type { PolicyRule, RoleRef } from '../../api/kinds/rbac.ts';
import type { AuthorizationResult, Authorizer, RequestAttributes } from '../authorizer.ts';
import { ADMIN_GROUP, type UserInfo } from '../identities.ts';
import type { RbacCache } from './cache.ts';
import { ruleAllows } from './rules.ts';

export const superuserAuthorizer: Authorizer = {
  authorize: (attrs) =>
    attrs.user.groups.includes(ADMIN_GROUP) ? { decision: 'allow' } : { decision: 'no-opinion' },
};

/** The rules a user holds in a namespace (or cluster-wide), with what could not be resolved. */
export interface ResolvedRules {
  rules: PolicyRule[];
  /** Bindings whose role does not exist (kube reports them in SelfSubjectRulesReview's evaluationError). */
  errors: string[];
}

type Who = Pick<UserInfo, 'username' | 'groups'>;

export class RBACAuthorizer implements Authorizer {
  readonly cache: RbacCache;

  constructor(cache: RbacCache) {
    this.cache = cache;
  }

  authorize(attrs: RequestAttributes): AuthorizationResult {
    const allowed = this.visitRules(attrs.user, attrs.namespace, (rule) => ruleAllows(attrs, rule));
    return allowed ? { decision: 'allow' } : { decision: 'no-opinion' };
  }

  /**
   * Calls `visit` with each rule the user holds in `namespace` (cluster-wide rules first) until it
   * returns true; returns whether one did.
   */
  visitRules(user: Who, namespace: string | undefined, visit: (rule: PolicyRule) => boolean): boolean {
    for (const b of this.cache.clusterRoleBindingsFor(user)) {
      for (const r of this.roleRules(b.roleRef, undefined) ?? []) if (visit(r)) return true;
    }
    if (!namespace) return false;
    for (const b of this.cache.roleBindingsFor(user, namespace)) {
      for (const r of this.roleRules(b.roleRef, namespace) ?? []) if (visit(r)) return true;
    }
    return false;
  }

  /** Every rule the user holds in `namespace` (cluster-wide ones included), for reviews and escalation. */
  rulesFor(user: Who, namespace: string | undefined): ResolvedRules {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    const add = (ref: RoleRef, ns: string | undefined, binding: string) => {
      const found = this.roleRules(ref, ns);
      if (found) rules.push(...found);
      else
        errors.push(
          `${ref.kind === 'Role' ? 'role' : 'clusterrole'}.rbac.authorization.k8s.io "${ref.name}" not found (${binding})`,
        );
    };
    for (const b of this.cache.clusterRoleBindingsFor(user))
      add(b.roleRef, undefined, `ClusterRoleBinding "${b.metadata.name}"`);
    if (namespace)
      for (const b of this.cache.roleBindingsFor(user, namespace))
        add(b.roleRef, namespace, `RoleBinding "${b.metadata.name}" in namespace "${namespace}"`);
    return { rules, errors };
  }

  /** The rules of a binding's role; undefined when the role does not exist. */
  roleRules(ref: RoleRef, namespace: string | undefined): PolicyRule[] | undefined {
    const role =
      ref.kind === 'ClusterRole'
        ? this.cache.clusterRole(ref.name)
        : ref.kind === 'Role' && namespace
          ? this.cache.role(namespace, ref.name)
          : undefined;
    return role ? (role.rules ?? []) : undefined;
  }
}
