// v1 ResourceQuota: hard limits on what a namespace may hold — compute (requests/limits of cpu and
// memory), storage requests and object counts — optionally only for pods in some scopes (Terminating,
// BestEffort, PriorityClass…). The server keeps status.hard/used exact (src/policy/quota).
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { QuantityError, parseCpu, parseQuantity } from '../quantity.ts';

export const QUOTA_SCOPES = [
  'Terminating',
  'NotTerminating',
  'BestEffort',
  'NotBestEffort',
  'PriorityClass',
  'CrossNamespacePodAffinity',
] as const;
export type QuotaScope = (typeof QUOTA_SCOPES)[number];

/** The standard quota resources (kube's IsStandardQuotaResourceName), besides count/* and per-class storage. */
export const STANDARD_QUOTA_RESOURCES = [
  'pods',
  'services',
  'services.nodeports',
  'services.loadbalancers',
  'configmaps',
  'secrets',
  'persistentvolumeclaims',
  'replicationcontrollers',
  'resourcequotas',
  'cpu',
  'memory',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
  'requests.storage',
  'ephemeral-storage',
  'requests.ephemeral-storage',
  'limits.ephemeral-storage',
] as const;

/** Resources a pod's compute usage is counted under (pod-level scopes may limit only these and `pods`). */
export const POD_COMPUTE_RESOURCES = [
  'cpu',
  'memory',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
  'ephemeral-storage',
  'requests.ephemeral-storage',
  'limits.ephemeral-storage',
] as const;

/** A quota resource name Strata understands: a standard one, `count/<resource>[.<group>]`, or per-class storage. */
export function isQuotaResourceName(name: string): boolean {
  if ((STANDARD_QUOTA_RESOURCES as readonly string[]).includes(name)) return true;
  if (/^count\/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/.test(name)) return true;
  return /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.storageclass\.storage\.k8s\.io\/(requests\.storage|persistentvolumeclaims)$/.test(
    name,
  );
}

/** A quota amount in its unit: millicores for cpu-like names, base units (bytes, objects) otherwise. */
export function quotaAmount(resource: string, q: string | number): number {
  return resource === 'cpu' || resource.endsWith('.cpu') ? parseCpu(q) : parseQuantity(q);
}

const Amounts = z.record(z.string(), z.union([z.string(), z.number()]));

const ScopedResourceSelectorRequirement = z.strictObject({
  scopeName: z.enum(QUOTA_SCOPES),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});
export type ScopedResourceSelectorRequirement = z.infer<typeof ScopedResourceSelectorRequirement>;

function checkAmounts(
  amounts: Record<string, string | number> | undefined,
  path: string,
  ctx: z.RefinementCtx<any>,
) {
  for (const [name, q] of Object.entries(amounts ?? {})) {
    if (!isQuotaResourceName(name)) {
      addCause(ctx, [path, name], Reason.Invalid, msg.invalid(name, 'must be a standard resource for quota'));
      continue;
    }
    try {
      quotaAmount(name, q);
    } catch (e) {
      addCause(
        ctx,
        [path, name],
        Reason.Invalid,
        msg.invalid(q, e instanceof QuantityError ? e.detail : String(e)),
      );
    }
  }
}

export const ResourceQuotaSpec = z
  .strictObject({
    hard: Amounts.optional(),
    scopes: z.array(z.enum(QUOTA_SCOPES)).optional(),
    scopeSelector: z
      .strictObject({ matchExpressions: z.array(ScopedResourceSelectorRequirement).optional() })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    checkAmounts(spec.hard, 'hard', ctx);
    const scopes = [
      ...(spec.scopes ?? []),
      ...(spec.scopeSelector?.matchExpressions ?? []).map((e) => e.scopeName),
    ];
    const has = (s: QuotaScope) => scopes.includes(s);
    if ((has('Terminating') && has('NotTerminating')) || (has('BestEffort') && has('NotBestEffort')))
      addCause(ctx, ['scopes'], Reason.Invalid, msg.invalid(scopes, 'conflicting scopes'));
    // Scoped quotas track pods only: kube refuses other resources under a scope.
    if (scopes.length) {
      const allowed: readonly string[] = has('BestEffort') ? ['pods'] : ['pods', ...POD_COMPUTE_RESOURCES];
      for (const name of Object.keys(spec.hard ?? {}))
        if (!allowed.includes(name))
          addCause(
            ctx,
            ['hard', name],
            Reason.Invalid,
            msg.invalid(name, `unsupported scope applied to resource (scopes: ${scopes.join(', ')})`),
          );
    }
    spec.scopeSelector?.matchExpressions?.forEach((e, i) => {
      const path = ['scopeSelector', 'matchExpressions', i];
      if (e.operator === 'In' || e.operator === 'NotIn') {
        if (e.scopeName !== 'PriorityClass')
          addCause(
            ctx,
            [...path, 'operator'],
            Reason.Invalid,
            msg.invalid(e.operator, 'must be Exists or DoesNotExist when scope is not PriorityClass'),
          );
        if (!e.values?.length)
          addCause(ctx, [...path, 'values'], Reason.Required, msg.required('must be at least one value'));
      } else if (e.values?.length)
        addCause(
          ctx,
          [...path, 'values'],
          Reason.Invalid,
          msg.invalid(e.values, 'must be no values for Exists or DoesNotExist'),
        );
    });
  });
export type ResourceQuotaSpec = z.infer<typeof ResourceQuotaSpec>;

export const ResourceQuotaStatus = z.strictObject({
  hard: Amounts.optional(),
  used: Amounts.optional(),
});
export type ResourceQuotaStatus = z.infer<typeof ResourceQuotaStatus>;

export const ResourceQuota = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ResourceQuota'),
  metadata: ObjectMeta,
  spec: ResourceQuotaSpec.default({}),
  status: ResourceQuotaStatus.optional(),
});
export type ResourceQuota = z.infer<typeof ResourceQuota>;
