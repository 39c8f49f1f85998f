// networking.k8s.io/v1 IngressClass: which controller serves an Ingress. Strata's node gateway is the
// controller `strata.dev/gateway`; the IngressClass `strata` names it and is the cluster's default (the
// annotation below), so an Ingress without `ingressClassName` is served by the gateway.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { dns1123SubdomainErrors, qualifiedNameErrors } from '../names.ts';

/** Annotation marking the IngressClass used for Ingresses that name none. */
export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The controller value of Strata's gateway, and its IngressClass. */
export const STRATA_INGRESS_CONTROLLER = 'strata.dev/gateway';
export const STRATA_INGRESS_CLASS = 'strata';

const MAX_CONTROLLER_LENGTH = 250;

export const IngressClassParametersReference = z.strictObject({
  apiGroup: z.string().optional(),
  kind: z.string(),
  name: z.string(),
  scope: z.enum(['Cluster', 'Namespace']).optional(),
  namespace: z.string().optional(),
});

export const IngressClassSpec = z.strictObject({
  controller: z.string().optional(),
  parameters: IngressClassParametersReference.optional(),
});

/** `acme.io/foo`: a domain, a slash, a path (ValidateIngressClassSpec's IsDomainPrefixedPath). */
function controllerErrors(v: string): string[] {
  if (v.length > MAX_CONTROLLER_LENGTH) return [`must be no more than ${MAX_CONTROLLER_LENGTH} characters`];
  const slash = v.indexOf('/');
  if (slash <= 0 || slash === v.length - 1) return ['must be a domain-prefixed path (such as "acme.io/foo")'];
  const errs = dns1123SubdomainErrors(v.slice(0, slash));
  if (!/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(v.slice(slash + 1)))
    errs.push('Invalid path: must contain only valid path characters');
  return errs;
}

export const IngressClass = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('IngressClass'),
  metadata: ObjectMeta,
  spec: IngressClassSpec.prefault({}).superRefine((spec, ctx) => {
    if (!spec.controller) {
      addCause(ctx, ['controller'], Reason.Required, msg.required());
      return;
    }
    for (const e of controllerErrors(spec.controller))
      addCause(ctx, ['controller'], Reason.Invalid, msg.invalid(spec.controller, e));
    const p = spec.parameters;
    if (p) {
      if (p.scope === 'Namespace' && !p.namespace)
        addCause(
          ctx,
          ['parameters', 'namespace'],
          Reason.Required,
          msg.required("`parameters.scope` is set to 'Namespace'"),
        );
      if (p.scope !== 'Namespace' && p.namespace)
        addCause(
          ctx,
          ['parameters', 'namespace'],
          Reason.Forbidden,
          msg.forbidden("`parameters.scope` is set to 'Cluster'"),
        );
      if (p.apiGroup)
        for (const e of dns1123SubdomainErrors(p.apiGroup))
          addCause(ctx, ['parameters', 'apiGroup'], Reason.Invalid, msg.invalid(p.apiGroup, e));
      for (const e of qualifiedNameErrors(p.kind))
        addCause(ctx, ['parameters', 'kind'], Reason.Invalid, msg.invalid(p.kind, e));
    }
  }),
});
export type IngressClass = z.infer<typeof IngressClass>;

/** The IngressClass the gateway registers at start when it is missing. */
export function strataIngressClass(): IngressClass {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: {
      name: STRATA_INGRESS_CLASS,
      annotations: { [DEFAULT_INGRESS_CLASS_ANNOTATION]: 'true' },
    },
    spec: { controller: STRATA_INGRESS_CONTROLLER },
  };
}
