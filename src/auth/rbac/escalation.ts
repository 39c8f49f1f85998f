// Escalation prevention (kube's pkg/registry/rbac/validation and the roles/bindings REST strategies):
// nobody grants what they do not hold. Creating or updating a Role/ClusterRole needs every permission it
// grants — or the `escalate` verb on roles/clusterroles; a binding needs the permissions of the role it
// refers to — or the `bind` verb on that role. Runs as an ObjectStore create/update hook, so it sees
// every write that came through the API (opts.user) and leaves the control plane's own writers alone.
import type { KindInfo } from '../../api/index.ts';
import { RBAC_GROUP, type PolicyRule, type RoleRef } from '../../api/kinds/rbac.ts';
import { statusFailure } from '../../api/status.ts';
import { ApiError, type WriteOptions } from '../../store/objects.ts';
import type { Authorizer } from '../authorizer.ts';
import type { UserInfo } from '../identities.ts';
import type { RBACAuthorizer } from './authorizer.ts';
import { ALL } from './rules.ts';

/** One verb on one group/resource/name, or one verb on one URL: the unit `covers` compares. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const verb of rule.verbs) {
    for (const g of rule.apiGroups ?? [])
      for (const r of rule.resources ?? []) {
        const names = rule.resourceNames ?? [];
        if (names.length === 0) out.push({ verbs: [verb], apiGroups: [g], resources: [r] });
        else
          for (const n of names)
            out.push({ verbs: [verb], apiGroups: [g], resources: [r], resourceNames: [n] });
      }
    for (const u of rule.nonResourceURLs ?? []) out.push({ verbs: [verb], nonResourceURLs: [u] });
  }
  return out;
}

const has = (list: readonly string[] | undefined, v: string) => (list ?? []).includes(v);

function resourceCovers(owner: readonly string[], wanted: string): boolean {
  if (owner.includes(ALL) || owner.includes(wanted)) return true;
  const slash = wanted.indexOf('/');
  return slash > 0 && owner.includes(`*${wanted.slice(slash)}`);
}

function urlCovers(owner: readonly string[], wanted: string): boolean {
  return owner.some(
    (o) => o === wanted || o === ALL || (o.endsWith(ALL) && wanted.startsWith(o.slice(0, -1))),
  );
}

/** kube's ruleCovers for an atomic rule (one verb, one group/resource/name or one URL). */
function ruleCovers(owner: PolicyRule, atom: PolicyRule): boolean {
  if (!has(owner.verbs, ALL) && !has(owner.verbs, atom.verbs[0])) return false;
  if (atom.nonResourceURLs?.length) return urlCovers(owner.nonResourceURLs ?? [], atom.nonResourceURLs[0]);
  if (!has(owner.apiGroups, ALL) && !has(owner.apiGroups, atom.apiGroups![0])) return false;
  if (!resourceCovers(owner.resources ?? [], atom.resources![0])) return false;
  const ownerNames = owner.resourceNames ?? [];
  if (ownerNames.length === 0) return true;
  return (atom.resourceNames ?? []).length > 0 && ownerNames.includes(atom.resourceNames![0]);
}

/** The parts of `wanted` that `owner` does not cover (empty: fully covered). */
export function uncoveredRules(owner: readonly PolicyRule[], wanted: readonly PolicyRule[]): PolicyRule[] {
  const missing: PolicyRule[] = [];
  for (const rule of wanted)
    for (const atom of breakdown(rule)) if (!owner.some((o) => ruleCovers(o, atom))) missing.push(atom);
  return missing;
}

/** kube's rendering of a rule in escalation messages: {APIGroups:[""], Resources:["pods"], Verbs:["get"]}. */
export function describeRule(r: PolicyRule): string {
  const q = (l: readonly string[]) => `[${l.map((s) => JSON.stringify(s)).join(' ')}]`;
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${q(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${q(r.resources)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${q(r.resourceNames)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${q(r.nonResourceURLs)}`);
  parts.push(`Verbs:${q(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

type Caller = NonNullable<WriteOptions['user']>;

const asUser = (u: Caller): UserInfo => ({ via: 'token', ...u });

export class EscalationCheck {
  private readonly rbac: RBACAuthorizer;
  private readonly authorizer: Authorizer;

  /** `authorizer` answers the escalate/bind questions (the whole chain); `rbac` resolves rules. */
  constructor(rbac: RBACAuthorizer, authorizer: Authorizer) {
    this.rbac = rbac;
    this.authorizer = authorizer;
  }

  /** An ObjectStore create hook. */
  readonly onCreate = (obj: any, kind: KindInfo, opts: WriteOptions) => this.check(obj, kind, opts);
  /** An ObjectStore update hook (an unchanged role or binding passes: it grants nothing new). */
  readonly onUpdate = (next: any, _current: any, kind: KindInfo, opts: WriteOptions) =>
    this.check(next, kind, opts);

  private async check(obj: any, kind: KindInfo, opts: WriteOptions): Promise<void> {
    if (kind.group !== RBAC_GROUP || !opts.user) return;
    const user = asUser(opts.user);
    const namespace: string | undefined = kind.namespaced ? obj.metadata.namespace : undefined;
    if (kind.kind === 'Role' || kind.kind === 'ClusterRole') {
      if (await this.may(user, 'escalate', kind.plural, namespace, obj.metadata.name)) return;
      if (kind.kind === 'ClusterRole' && obj.aggregationRule)
        throw forbidden(
          kind,
          obj.metadata.name,
          `must have cluster-admin privileges to use the aggregationRule`,
        );
      const missing = uncoveredRules(this.rbac.rulesFor(user, namespace).rules, obj.rules ?? []);
      if (missing.length) throw notHeld(kind, obj.metadata.name, user, missing);
      return;
    }
    if (kind.kind === 'RoleBinding' || kind.kind === 'ClusterRoleBinding') {
      const ref: RoleRef = obj.roleRef;
      const rolePlural = ref.kind === 'Role' ? 'roles' : 'clusterroles';
      if (await this.may(user, 'bind', rolePlural, namespace, ref.name)) return;
      const roleRules = this.rbac.roleRules(ref, namespace);
      if (!roleRules)
        throw forbidden(
          kind,
          obj.metadata.name,
          `${ref.kind === 'Role' ? 'roles' : 'clusterroles'}.rbac.authorization.k8s.io "${ref.name}" not found`,
        );
      const missing = uncoveredRules(this.rbac.rulesFor(user, namespace).rules, roleRules);
      if (missing.length) throw notHeld(kind, obj.metadata.name, user, missing);
    }
  }

  private async may(
    user: UserInfo,
    verb: string,
    resource: string,
    namespace: string | undefined,
    name: string,
  ): Promise<boolean> {
    const r = await this.authorizer.authorize({
      user,
      verb,
      resourceRequest: true,
      apiGroup: RBAC_GROUP,
      apiVersion: 'v1',
      resource,
      namespace,
      name,
      path: '',
    });
    return r.decision === 'allow';
  }
}

function forbidden(kind: KindInfo, name: string, message: string): ApiError {
  return new ApiError(
    statusFailure(403, 'Forbidden', `${kind.plural}.${kind.group} "${name}" is forbidden: ${message}`, {
      name,
      group: kind.group,
      kind: kind.plural,
    }),
  );
}

function notHeld(kind: KindInfo, name: string, user: UserInfo, missing: PolicyRule[]): ApiError {
  const groups = `[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]`;
  return forbidden(
    kind,
    name,
    `user "${user.username}" (groups=${groups}) is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join('\n')}`,
  );
}
