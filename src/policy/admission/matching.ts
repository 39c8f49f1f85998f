// Which requests a policy (matchConstraints) and a binding (matchResources) apply to, as
// kube-apiserver's matching.Matcher decides: resource rules by operation, group, version, resource and
// scope; exclude rules; the namespace selector (on the namespace's labels; a Namespace matches on its
// own labels, other cluster-scoped objects always match); the object selector (on the new object's
// labels, or the old one's on delete).
import { labelSelectorMatcher, type KindInfo } from '../../api/index.ts';
import type { MatchResources, NamedRuleWithOperations } from '../../api/kinds/admission-policy.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What matching needs to know about a request. */
export interface MatchRequest {
  operation: Operation;
  kind: KindInfo;
  /** '' for the main resource. */
  subresource: string;
  name: string;
  object: { metadata?: { labels?: Record<string, string> } } | null;
  oldObject: { metadata?: { labels?: Record<string, string> } } | null;
  /** Labels of the request's namespace (undefined for cluster-scoped objects). */
  namespaceLabels: Record<string, string> | undefined;
}

function listMatches(list: readonly string[] | undefined, value: string): boolean {
  return !!list && (list.includes('*') || list.includes(value));
}

function resourceMatches(resources: readonly string[] | undefined, plural: string, sub: string): boolean {
  const wanted = sub ? `${plural}/${sub}` : plural;
  return (resources ?? []).some((r) => {
    if (r === '*/*') return true;
    if (r === '*') return sub === '';
    if (r === wanted) return true;
    const [res, subres] = r.split('/');
    return subres !== undefined && (res === '*' ? subres === sub : res === plural && subres === '*');
  });
}

export function ruleMatches(rule: NamedRuleWithOperations, req: MatchRequest): boolean {
  if (!listMatches(rule.operations, req.operation)) return false;
  if (!listMatches(rule.apiGroups, req.kind.group)) return false;
  if (!listMatches(rule.apiVersions, req.kind.version)) return false;
  if (!resourceMatches(rule.resources, req.kind.plural, req.subresource)) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Cluster' && req.kind.namespaced) return false;
  if (scope === 'Namespaced' && !req.kind.namespaced) return false;
  if (rule.resourceNames?.length && !rule.resourceNames.includes(req.name)) return false;
  return true;
}

function labelsOf(req: MatchRequest): Record<string, string> {
  return (req.object ?? req.oldObject)?.metadata?.labels ?? {};
}

/**
 * Does `match` select the request? `requireRules`: a policy's matchConstraints must list resource
 * rules; a binding's matchResources without rules narrows only by selectors.
 */
export function matchResources(
  match: MatchResources | undefined,
  req: MatchRequest,
  requireRules: boolean,
): boolean {
  if (!match) return !requireRules;
  if (match.resourceRules?.length) {
    if (!match.resourceRules.some((r) => ruleMatches(r, req))) return false;
  } else if (requireRules) return false;
  if (match.excludeResourceRules?.some((r) => ruleMatches(r, req))) return false;
  const nsSelector = match.namespaceSelector ?? {};
  if (req.kind.kind === 'Namespace') {
    if (!labelSelectorMatcher(nsSelector)(labelsOf(req))) return false;
  } else if (req.kind.namespaced && !labelSelectorMatcher(nsSelector)(req.namespaceLabels ?? {}))
    return false;
  if (!labelSelectorMatcher(match.objectSelector ?? {})(labelsOf(req))) return false;
  return true;
}
