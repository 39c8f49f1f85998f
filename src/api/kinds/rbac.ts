// rbac.authorization.k8s.io/v1: Role and RoleBinding (namespaced), ClusterRole and ClusterRoleBinding
// (cluster-scoped). A role is a list of PolicyRules (verbs on resources, or on non-resource URLs); a
// binding grants one role to subjects (users, groups, service accounts). A ClusterRole with an
// aggregationRule is filled by the aggregation controller with the rules of the ClusterRoles its label
// selectors match (how `admin`, `edit` and `view` pick up rules from `aggregate-to-*` roles).
// Validation and defaults follow kube-apiserver's pkg/apis/rbac/validation.
import { z } from 'zod';
import { type Cause, addCause, msg, Reason } from '../causes.ts';
import { LabelSelector, objectMetaWith } from '../meta.ts';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const RBAC_API_VERSION = `${RBAC_GROUP}/v1`;

/**
 * RBAC names are path segments, not DNS names (`system:controller:deployment-controller`), as
 * kube's ValidateRBACName (path.IsValidPathSegmentName) checks them.
 */
export function pathSegmentNameErrors(v: string): string[] {
  if (v === '.' || v === '..') return [`may not be '${v}'`];
  const errs: string[] = [];
  if (v.includes('/')) errs.push(`may not contain '/'`);
  if (v.includes('%')) errs.push(`may not contain '%'`);
  return errs;
}

const RbacMeta = objectMetaWith(pathSegmentNameErrors);

export const PolicyRule = z
  .strictObject({
    verbs: z.array(z.string()),
    apiGroups: z.array(z.string()).optional(),
    resources: z.array(z.string()).optional(),
    resourceNames: z.array(z.string()).optional(),
    nonResourceURLs: z.array(z.string()).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.verbs.length === 0)
      addCause(ctx, ['verbs'], Reason.Required, msg.required('verbs must contain at least one value'));
    const nonResource = r.nonResourceURLs ?? [];
    if (nonResource.length > 0) {
      if ((r.apiGroups ?? []).length > 0 || (r.resources ?? []).length > 0)
        addCause(
          ctx,
          ['nonResourceURLs'],
          Reason.Invalid,
          msg.invalid(nonResource, 'rules cannot apply to both regular resources and non-resource URLs'),
        );
      return;
    }
    if ((r.apiGroups ?? []).length === 0)
      addCause(
        ctx,
        ['apiGroups'],
        Reason.Required,
        msg.required('resource rules must supply at least one api group'),
      );
    if ((r.resources ?? []).length === 0)
      addCause(
        ctx,
        ['resources'],
        Reason.Required,
        msg.required('resource rules must supply at least one resource'),
      );
  });
export type PolicyRule = z.infer<typeof PolicyRule>;

/** Namespaced roles cannot say anything about non-resource URLs (they are cluster-wide by nature). */
const NamespacedPolicyRule = PolicyRule.superRefine((r, ctx) => {
  if ((r.nonResourceURLs ?? []).length > 0)
    addCause(
      ctx,
      ['nonResourceURLs'],
      Reason.Invalid,
      msg.invalid(r.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'),
    );
});

export const SUBJECT_KINDS = ['User', 'Group', 'ServiceAccount'] as const;

export const Subject = z.strictObject({
  kind: z.string(),
  apiGroup: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
});
export type Subject = z.infer<typeof Subject>;

export const RoleRef = z.strictObject({
  apiGroup: z.string(),
  kind: z.string(),
  name: z.string(),
});
export type RoleRef = z.infer<typeof RoleRef>;

export const AggregationRule = z.strictObject({
  clusterRoleSelectors: z.array(LabelSelector).optional(),
});
export type AggregationRule = z.infer<typeof AggregationRule>;

export const Role = z.strictObject({
  apiVersion: z.literal(RBAC_API_VERSION),
  kind: z.literal('Role'),
  metadata: RbacMeta,
  rules: z.array(NamespacedPolicyRule).optional(),
});
export type Role = z.infer<typeof Role>;

export const ClusterRole = z.strictObject({
  apiVersion: z.literal(RBAC_API_VERSION),
  kind: z.literal('ClusterRole'),
  metadata: RbacMeta,
  rules: z.array(PolicyRule).optional(),
  aggregationRule: AggregationRule.optional(),
});
export type ClusterRole = z.infer<typeof ClusterRole>;

function checkSubjects(
  subjects: Subject[] | undefined,
  namespaced: boolean,
  ctx: z.RefinementCtx<any>,
): void {
  (subjects ?? []).forEach((s, i) => {
    const at = (f: string) => ['subjects', i, f];
    if (!s.name) addCause(ctx, at('name'), Reason.Required, msg.required());
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.apiGroup)
          addCause(ctx, at('apiGroup'), Reason.NotSupported, msg.notSupported(s.apiGroup, ['']));
        if (!s.namespace && !namespaced) addCause(ctx, at('namespace'), Reason.Required, msg.required());
        break;
      case 'User':
      case 'Group':
        // Empty is defaulted to the RBAC group (defaultBindingSubjects).
        if (s.apiGroup && s.apiGroup !== RBAC_GROUP)
          addCause(
            ctx,
            at('apiGroup'),
            Reason.NotSupported,
            msg.notSupported(s.apiGroup ?? '', [RBAC_GROUP]),
          );
        break;
      default:
        addCause(ctx, at('kind'), Reason.NotSupported, msg.notSupported(s.kind, SUBJECT_KINDS));
    }
  });
}

function checkRoleRef(ref: RoleRef, kinds: readonly string[], ctx: z.RefinementCtx<any>): void {
  if (ref.apiGroup !== RBAC_GROUP)
    addCause(ctx, ['roleRef', 'apiGroup'], Reason.NotSupported, msg.notSupported(ref.apiGroup, [RBAC_GROUP]));
  if (!kinds.includes(ref.kind))
    addCause(ctx, ['roleRef', 'kind'], Reason.NotSupported, msg.notSupported(ref.kind, kinds));
  if (!ref.name) addCause(ctx, ['roleRef', 'name'], Reason.Required, msg.required());
  else
    for (const e of pathSegmentNameErrors(ref.name))
      addCause(ctx, ['roleRef', 'name'], Reason.Invalid, msg.invalid(ref.name, e));
}

export const RoleBinding = z
  .strictObject({
    apiVersion: z.literal(RBAC_API_VERSION),
    kind: z.literal('RoleBinding'),
    metadata: RbacMeta,
    subjects: z.array(Subject).optional(),
    roleRef: RoleRef,
  })
  .superRefine((b, ctx) => {
    checkRoleRef(b.roleRef, ['Role', 'ClusterRole'], ctx);
    checkSubjects(b.subjects, true, ctx);
  });
export type RoleBinding = z.infer<typeof RoleBinding>;

export const ClusterRoleBinding = z
  .strictObject({
    apiVersion: z.literal(RBAC_API_VERSION),
    kind: z.literal('ClusterRoleBinding'),
    metadata: RbacMeta,
    subjects: z.array(Subject).optional(),
    roleRef: RoleRef,
  })
  .superRefine((b, ctx) => {
    checkRoleRef(b.roleRef, ['ClusterRole'], ctx);
    checkSubjects(b.subjects, false, ctx);
  });
export type ClusterRoleBinding = z.infer<typeof ClusterRoleBinding>;

/**
 * v1 defaulting (SetDefaults_Subject): User and Group subjects belong to the RBAC group, service accounts
 * to the core group — so hand-written manifests that omit it read back as kubectl-created ones.
 */
export function defaultBindingSubjects(obj: any): void {
  for (const s of Array.isArray(obj?.subjects) ? obj.subjects : []) {
    if (s && typeof s === 'object' && (s.apiGroup === undefined || s.apiGroup === '')) {
      if (s.kind === 'User' || s.kind === 'Group') s.apiGroup = RBAC_GROUP;
      else if (s.kind === 'ServiceAccount') s.apiGroup = '';
    }
  }
}

/** A binding's roleRef cannot change (kube: "cannot change roleRef"); delete and recreate instead. */
export function bindingUpdateCauses(next: { roleRef: RoleRef }, current: { roleRef: RoleRef }): Cause[] {
  const a = current.roleRef;
  const b = next.roleRef;
  if (a.apiGroup === b.apiGroup && a.kind === b.kind && a.name === b.name) return [];
  return [
    {
      field: 'roleRef',
      reason: Reason.Invalid,
      message: msg.invalid(b, 'cannot change roleRef'),
    },
  ];
}
