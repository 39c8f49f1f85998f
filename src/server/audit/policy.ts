// The audit policy (`audit.k8s.io/v1` Policy, kube-apiserver's --audit-policy-file): which requests are
// logged and how much of each. Rules are tried in order; the first whose every given field matches sets
// the level (None, Metadata, Request, RequestResponse) and may omit stages; a request no rule matches is
// not logged (level None), as in Kubernetes. Without a file, Strata logs everything at Metadata.
//
// Whatever the policy says, Secrets, ConfigMaps, TokenReviews and token requests are never logged above
// Metadata: their bodies carry credentials.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type Level = (typeof LEVELS)[number];
export type Stage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

const stage = z.enum(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']);
const ruleSchema = z
  .object({
    level: z.enum(LEVELS),
    users: z.array(z.string()).optional(),
    userGroups: z.array(z.string()).optional(),
    verbs: z.array(z.string()).optional(),
    resources: z
      .array(
        z
          .object({
            group: z.string().optional(),
            resources: z.array(z.string()).optional(),
            resourceNames: z.array(z.string()).optional(),
          })
          .strict(),
      )
      .optional(),
    namespaces: z.array(z.string()).optional(),
    nonResourceURLs: z.array(z.string()).optional(),
    omitStages: z.array(stage).optional(),
    omitManagedFields: z.boolean().optional(),
  })
  .strict();
const policySchema = z.object({
  apiVersion: z.literal('audit.k8s.io/v1'),
  kind: z.literal('Policy'),
  metadata: z.unknown().optional(),
  rules: z.array(ruleSchema).min(1),
  omitStages: z.array(stage).optional(),
  omitManagedFields: z.boolean().optional(),
});
export type PolicyRule = z.infer<typeof ruleSchema>;
export type PolicyDocument = z.infer<typeof policySchema>;

/** What the policy is asked about: kube's authorizer.Attributes, as the request path knows them. */
export interface AuditAttributes {
  /** undefined for a request that did not authenticate (401). */
  user?: { username: string; groups: string[] };
  verb: string;
  resourceRequest: boolean;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path: string;
}

export interface PolicyDecision {
  level: Level;
  omitStages: Stage[];
  omitManagedFields: boolean;
}

/** Resources whose bodies are credentials: never logged above Metadata. */
const SENSITIVE = new Set(['secrets', 'configmaps', 'tokenreviews']);
const SENSITIVE_SUBRESOURCES = new Set(['serviceaccounts/token']);

function rank(l: Level): number {
  return LEVELS.indexOf(l);
}

export class AuditPolicy {
  readonly #rules: PolicyRule[];
  readonly #omitStages: Stage[];
  readonly #omitManagedFields: boolean;
  constructor(doc: PolicyDocument) {
    this.#rules = doc.rules;
    this.#omitStages = doc.omitStages ?? [];
    this.#omitManagedFields = doc.omitManagedFields ?? false;
  }

  /** Strata's default: every request at Metadata. */
  static metadataForAll(): AuditPolicy {
    return new AuditPolicy({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [{ level: 'Metadata' }] });
  }

  decide(a: AuditAttributes): PolicyDecision {
    const rule = this.#rules.find((r) => ruleMatches(r, a));
    let level: Level = rule?.level ?? 'None';
    if (rank(level) > rank('Metadata') && isSensitive(a)) level = 'Metadata';
    return {
      level,
      omitStages: [...this.#omitStages, ...(rule?.omitStages ?? [])],
      omitManagedFields: rule?.omitManagedFields ?? this.#omitManagedFields,
    };
  }
}

export function isSensitive(a: Pick<AuditAttributes, 'resource' | 'subresource'>): boolean {
  if (!a.resource) return false;
  return SENSITIVE.has(a.resource) || SENSITIVE_SUBRESOURCES.has(`${a.resource}/${a.subresource ?? ''}`);
}

function ruleMatches(r: PolicyRule, a: AuditAttributes): boolean {
  if (r.users && !(a.user && r.users.includes(a.user.username))) return false;
  if (r.userGroups && !(a.user && a.user.groups.some((g) => r.userGroups!.includes(g)))) return false;
  if (r.verbs && !r.verbs.includes(a.verb)) return false;
  // kube: a rule with resources or namespaces matches resource requests only; with nonResourceURLs, the others.
  if (r.namespaces || r.resources) {
    if (!a.resourceRequest) return false;
    if (r.namespaces && !r.namespaces.includes(a.namespace ?? '')) return false;
    if (r.resources && !r.resources.some((gr) => groupResourceMatches(gr, a))) return false;
  }
  if (r.nonResourceURLs) {
    if (a.resourceRequest) return false;
    if (!r.nonResourceURLs.some((u) => (u.endsWith('*') ? a.path.startsWith(u.slice(0, -1)) : a.path === u)))
      return false;
  }
  return true;
}

/** kube's GroupResources: "pods", "pods/log", "*" (everything, subresources too), "*\/scale", "pods/*". */
function groupResourceMatches(gr: NonNullable<PolicyRule['resources']>[number], a: AuditAttributes): boolean {
  if ((gr.group ?? '') !== '*' && (gr.group ?? '') !== (a.apiGroup ?? '')) return false;
  if (gr.resources && gr.resources.length > 0) {
    const res = a.resource ?? '';
    const full = a.subresource ? `${res}/${a.subresource}` : res;
    const hit = gr.resources.some(
      (p) =>
        p === full ||
        p === '*' ||
        (p === `${res}/*` && a.subresource !== undefined) ||
        (p.startsWith('*/') && a.subresource !== undefined && p.slice(2) === a.subresource),
    );
    if (!hit) return false;
  }
  if (gr.resourceNames && gr.resourceNames.length > 0 && !gr.resourceNames.includes(a.name ?? ''))
    return false;
  return true;
}

/** Parses a Policy (YAML or JSON); errors name `source` and the field. */
export function parseAuditPolicy(text: string, source: string): AuditPolicy {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new Error(`${source}: not YAML or JSON: ${(err as Error).message}`);
  }
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${source}: ${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  return new AuditPolicy(parsed.data);
}

/** Reads --audit-policy-file. */
export function loadAuditPolicy(path: string): AuditPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--audit-policy-file ${path}: ${(err as Error).message}`);
  }
  return parseAuditPolicy(text, path);
}
