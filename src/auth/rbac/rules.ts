// Does one PolicyRule cover one request? Kubernetes' RBAC matching (plugin/pkg/auth/authorizer/rbac and
// rbac/v1 helpers), kept as pure functions so the authorizer, the escalation check and the rules reviews
// all read the rules the same way.
import type { PolicyRule } from '../../api/kinds/rbac.ts';
import type { RequestAttributes } from '../authorizer.ts';

export const ALL = '*';

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === ALL || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === ALL || g === group);
}

/**
 * `*` is every resource and subresource; `pods/log` is one subresource; `*\/scale` is that subresource of
 * any resource. A rule naming `pods` does not cover `pods/log`.
 */
export function resourceMatches(
  rule: PolicyRule,
  resource: string,
  subresource: string | undefined,
): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === ALL || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

/** No resourceNames means every name; otherwise the request must name one of them (so never list/create). */
export function resourceNameMatches(rule: PolicyRule, name: string | undefined): boolean {
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return name !== undefined && name !== '' && names.includes(name);
}

/** `*` is every path; a trailing `*` is a prefix (`/apis/*`); anything else is the exact path. */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === ALL || u === path) return true;
    if (u.endsWith(ALL) && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** The part of RequestAttributes a rule is matched against (no user). */
export type RuleTarget = Omit<RequestAttributes, 'user'>;

export function ruleAllows(target: RuleTarget, rule: PolicyRule): boolean {
  if (!verbMatches(rule, target.verb)) return false;
  if (target.resourceRequest)
    return (
      apiGroupMatches(rule, target.apiGroup ?? '') &&
      resourceMatches(rule, target.resource ?? '', target.subresource) &&
      resourceNameMatches(rule, target.name)
    );
  return nonResourceURLMatches(rule, target.path);
}

export function rulesAllow(target: RuleTarget, rules: readonly PolicyRule[]): boolean {
  for (const r of rules) if (ruleAllows(target, r)) return true;
  return false;
}

/** A holder of `*` verbs on `*` resources in `*` groups: kube's test for a cluster-admin-like power. */
export function isSuperuserRule(rule: PolicyRule): boolean {
  return (
    rule.verbs.includes(ALL) && (rule.apiGroups ?? []).includes(ALL) && (rule.resources ?? []).includes(ALL)
  );
}
