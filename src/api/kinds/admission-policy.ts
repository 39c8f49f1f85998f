// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding: CEL
// rules the server applies to API writes (src/policy/ evaluates them). The schema and the structural
// rules here are kube-apiserver's (pkg/apis/admissionregistration/validation); the expressions themselves
// are compiled by the admission plugin when a policy is written, so a syntax error is a 422 naming
// spec.validations[i].expression.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { LabelSelector, ObjectMeta } from '../meta.ts';

const OPERATIONS = ['*', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export const VALIDATION_ACTIONS = ['Deny', 'Warn', 'Audit'] as const;
export type ValidationAction = (typeof VALIDATION_ACTIONS)[number];
const MAX_EXPRESSION_LENGTH = 5 * 1024;

export const NamedRuleWithOperations = z.strictObject({
  apiGroups: z.array(z.string()).optional(),
  apiVersions: z.array(z.string()).optional(),
  operations: z.array(z.enum(OPERATIONS)).optional(),
  resources: z.array(z.string()).optional(),
  resourceNames: z.array(z.string()).optional(),
  scope: z.enum(['*', 'Cluster', 'Namespaced']).optional(),
});
export type NamedRuleWithOperations = z.infer<typeof NamedRuleWithOperations>;

export const MatchResources = z.strictObject({
  namespaceSelector: LabelSelector.optional(),
  objectSelector: LabelSelector.optional(),
  resourceRules: z.array(NamedRuleWithOperations).optional(),
  excludeResourceRules: z.array(NamedRuleWithOperations).optional(),
  matchPolicy: z.enum(['Exact', 'Equivalent']).optional(),
});
export type MatchResources = z.infer<typeof MatchResources>;

const Expression = z.string();

export const Validation = z.strictObject({
  expression: Expression,
  message: z.string().optional(),
  reason: z.enum(['Unauthorized', 'Forbidden', 'Invalid', 'RequestEntityTooLarge']).optional(),
  messageExpression: Expression.optional(),
});

export const AuditAnnotation = z.strictObject({ key: z.string(), valueExpression: Expression });
export const MatchCondition = z.strictObject({ name: z.string(), expression: Expression });
export const Variable = z.strictObject({ name: z.string(), expression: Expression });
export const ParamKind = z.strictObject({ apiVersion: z.string().optional(), kind: z.string().optional() });

export const ValidatingAdmissionPolicySpec = z.strictObject({
  paramKind: ParamKind.optional(),
  matchConstraints: MatchResources.optional(),
  validations: z.array(Validation).optional(),
  failurePolicy: z.enum(['Fail', 'Ignore']).optional(),
  auditAnnotations: z.array(AuditAnnotation).optional(),
  matchConditions: z.array(MatchCondition).optional(),
  variables: z.array(Variable).optional(),
});
export type ValidatingAdmissionPolicySpec = z.infer<typeof ValidatingAdmissionPolicySpec>;

const Condition = z.strictObject({
  type: z.string(),
  status: z.string(),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

export const ValidatingAdmissionPolicyStatus = z.strictObject({
  observedGeneration: z.number().int().optional(),
  typeChecking: z
    .strictObject({
      expressionWarnings: z.array(z.strictObject({ fieldRef: z.string(), warning: z.string() })).optional(),
    })
    .optional(),
  conditions: z.array(Condition).optional(),
});

const CEL_IDENTIFIER = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
const QUALIFIED_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function checkRules(
  rules: NamedRuleWithOperations[] | undefined,
  path: PropertyKey[],
  ctx: z.RefinementCtx,
): void {
  for (const [i, r] of (rules ?? []).entries()) {
    for (const field of ['apiGroups', 'apiVersions', 'operations', 'resources'] as const)
      if (!r[field]?.length) addCause(ctx, [...path, i, field], Reason.Required, msg.required());
    for (const field of ['apiGroups', 'apiVersions', 'operations', 'resources'] as const) {
      const v = r[field] as string[] | undefined;
      if (v && v.length > 1 && v.includes('*'))
        addCause(
          ctx,
          [...path, i, field],
          Reason.Invalid,
          msg.invalid(v, "if '*' is present, must not specify other values"),
        );
    }
  }
}

function checkExpressions(
  list: { expression?: string; valueExpression?: string; messageExpression?: string }[] | undefined,
  path: string,
  ctx: z.RefinementCtx,
): void {
  for (const [i, item] of (list ?? []).entries())
    for (const field of ['expression', 'valueExpression', 'messageExpression'] as const) {
      const v = item[field];
      if (v === undefined) continue;
      if (field !== 'messageExpression' && v.trim() === '')
        addCause(ctx, [path, i, field], Reason.Required, msg.required());
      if (v.length > MAX_EXPRESSION_LENGTH)
        addCause(ctx, [path, i, field], Reason.TooLong, msg.tooLong(MAX_EXPRESSION_LENGTH));
    }
}

function checkSpec(spec: ValidatingAdmissionPolicySpec, ctx: z.RefinementCtx): void {
  if (!spec.matchConstraints) addCause(ctx, ['matchConstraints'], Reason.Required, msg.required());
  else if (!spec.matchConstraints.resourceRules?.length)
    addCause(ctx, ['matchConstraints', 'resourceRules'], Reason.Required, msg.required());
  checkRules(spec.matchConstraints?.resourceRules, ['matchConstraints', 'resourceRules'], ctx);
  checkRules(spec.matchConstraints?.excludeResourceRules, ['matchConstraints', 'excludeResourceRules'], ctx);
  if (!spec.validations?.length && !spec.auditAnnotations?.length)
    addCause(
      ctx,
      ['validations'],
      Reason.Required,
      msg.required('validations or auditAnnotations must contain at least one item'),
    );
  if (spec.paramKind && (!spec.paramKind.apiVersion || !spec.paramKind.kind))
    addCause(
      ctx,
      ['paramKind', spec.paramKind.kind ? 'apiVersion' : 'kind'],
      Reason.Required,
      msg.required(),
    );
  checkExpressions(spec.validations, 'validations', ctx);
  checkExpressions(spec.auditAnnotations, 'auditAnnotations', ctx);
  checkExpressions(spec.matchConditions, 'matchConditions', ctx);
  checkExpressions(spec.variables, 'variables', ctx);
  for (const [field, list] of [
    ['matchConditions', spec.matchConditions],
    ['variables', spec.variables],
  ] as const) {
    const seen = new Set<string>();
    for (const [i, item] of (list ?? []).entries()) {
      const ok = field === 'variables' ? CEL_IDENTIFIER.test(item.name) : QUALIFIED_KEY.test(item.name);
      if (!ok)
        addCause(
          ctx,
          [field, i, 'name'],
          Reason.Invalid,
          msg.invalid(
            item.name,
            field === 'variables' ? 'name is not a valid CEL identifier' : 'must be a qualified name',
          ),
        );
      if (seen.has(item.name)) addCause(ctx, [field, i, 'name'], Reason.Duplicate, msg.duplicate(item.name));
      seen.add(item.name);
    }
  }
  const keys = new Set<string>();
  for (const [i, a] of (spec.auditAnnotations ?? []).entries()) {
    if (!QUALIFIED_KEY.test(`${'x.io'}/${a.key}`) || a.key.length > 63)
      addCause(
        ctx,
        ['auditAnnotations', i, 'key'],
        Reason.Invalid,
        msg.invalid(a.key, 'must be a valid annotation key segment'),
      );
    if (keys.has(a.key))
      addCause(ctx, ['auditAnnotations', i, 'key'], Reason.Duplicate, msg.duplicate(a.key));
    keys.add(a.key);
  }
  for (const [i, v] of (spec.validations ?? []).entries())
    if (v.message !== undefined && v.message.includes('\n'))
      addCause(
        ctx,
        ['validations', i, 'message'],
        Reason.Invalid,
        msg.invalid(v.message, 'message must not contain line breaks'),
      );
}

export const ValidatingAdmissionPolicy = z.strictObject({
  apiVersion: z.literal('admissionregistration.k8s.io/v1'),
  kind: z.literal('ValidatingAdmissionPolicy'),
  metadata: ObjectMeta,
  spec: ValidatingAdmissionPolicySpec.prefault({})
    .transform((spec) => ({ ...spec, failurePolicy: spec.failurePolicy ?? 'Fail' }))
    .superRefine(checkSpec),
  status: ValidatingAdmissionPolicyStatus.optional(),
});
export type ValidatingAdmissionPolicy = z.infer<typeof ValidatingAdmissionPolicy>;

export const ParamRef = z.strictObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  selector: LabelSelector.optional(),
  parameterNotFoundAction: z.enum(['Allow', 'Deny']).optional(),
});

export const ValidatingAdmissionPolicyBindingSpec = z.strictObject({
  policyName: z.string().optional(),
  paramRef: ParamRef.optional(),
  matchResources: MatchResources.optional(),
  validationActions: z.array(z.enum(VALIDATION_ACTIONS)).optional(),
});
export type ValidatingAdmissionPolicyBindingSpec = z.infer<typeof ValidatingAdmissionPolicyBindingSpec>;

function checkBinding(spec: ValidatingAdmissionPolicyBindingSpec, ctx: z.RefinementCtx): void {
  if (!spec.policyName) addCause(ctx, ['policyName'], Reason.Required, msg.required());
  const actions = spec.validationActions ?? [];
  if (actions.length === 0) addCause(ctx, ['validationActions'], Reason.Required, msg.required());
  const seen = new Set<string>();
  for (const [i, a] of actions.entries()) {
    if (seen.has(a)) addCause(ctx, ['validationActions', i], Reason.Duplicate, msg.duplicate(a));
    seen.add(a);
  }
  if (seen.has('Deny') && seen.has('Warn'))
    addCause(
      ctx,
      ['validationActions'],
      Reason.Invalid,
      msg.invalid(
        actions,
        'must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)',
      ),
    );
  const p = spec.paramRef;
  if (p) {
    if (p.name && p.selector)
      addCause(
        ctx,
        ['paramRef', 'name'],
        Reason.Forbidden,
        msg.forbidden('name and selector are mutually exclusive'),
      );
    if (!p.name && !p.selector)
      addCause(ctx, ['paramRef'], Reason.Required, msg.required('one of name or selector must be specified'));
    if (!p.parameterNotFoundAction)
      addCause(ctx, ['paramRef', 'parameterNotFoundAction'], Reason.Required, msg.required());
  }
  checkRules(spec.matchResources?.resourceRules, ['matchResources', 'resourceRules'], ctx);
  checkRules(spec.matchResources?.excludeResourceRules, ['matchResources', 'excludeResourceRules'], ctx);
}

export const ValidatingAdmissionPolicyBinding = z.strictObject({
  apiVersion: z.literal('admissionregistration.k8s.io/v1'),
  kind: z.literal('ValidatingAdmissionPolicyBinding'),
  metadata: ObjectMeta,
  spec: ValidatingAdmissionPolicyBindingSpec.prefault({}).superRefine(checkBinding),
});
export type ValidatingAdmissionPolicyBinding = z.infer<typeof ValidatingAdmissionPolicyBinding>;
