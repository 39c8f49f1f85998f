// networking.k8s.io/v1 Ingress: HTTP(S) routes from outside the cluster — hosts and paths to Service
// ports, TLS from `kubernetes.io/tls` Secrets — served by an ingress controller (Strata's node gateway,
// src/net/gateway/). Validation follows kube-apiserver's ValidateIngressSpec with its messages.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../names.ts';
import { portNameErrors, ServiceProtocol } from './service.ts';

export const PATH_TYPES = ['Exact', 'Prefix', 'ImplementationSpecific'] as const;
export const PathType = z.enum(PATH_TYPES);
export type PathType = z.infer<typeof PathType>;

export const ServiceBackendPort = z.strictObject({
  name: z.string().optional(),
  number: z.int().optional(),
});

export const IngressServiceBackend = z.strictObject({
  name: z.string(),
  port: ServiceBackendPort.optional(),
});
export type IngressServiceBackend = z.infer<typeof IngressServiceBackend>;

export const TypedLocalObjectReference = z.strictObject({
  apiGroup: z.string().optional(),
  kind: z.string(),
  name: z.string(),
});

export const IngressBackend = z.strictObject({
  service: IngressServiceBackend.optional(),
  resource: TypedLocalObjectReference.optional(),
});
export type IngressBackend = z.infer<typeof IngressBackend>;

export const HTTPIngressPath = z.strictObject({
  path: z.string().optional(),
  // Required (checked below with Kubernetes' message rather than zod's).
  pathType: z.string().optional(),
  backend: IngressBackend,
});
export type HTTPIngressPath = z.infer<typeof HTTPIngressPath>;

export const IngressRule = z.strictObject({
  host: z.string().optional(),
  http: z.strictObject({ paths: z.array(HTTPIngressPath) }).optional(),
});
export type IngressRule = z.infer<typeof IngressRule>;

export const IngressTLS = z.strictObject({
  hosts: z.array(z.string()).optional(),
  secretName: z.string().optional(),
});
export type IngressTLS = z.infer<typeof IngressTLS>;

export const IngressSpec = z.strictObject({
  ingressClassName: z.string().optional(),
  defaultBackend: IngressBackend.optional(),
  tls: z.array(IngressTLS).optional(),
  rules: z.array(IngressRule).optional(),
});
export type IngressSpec = z.infer<typeof IngressSpec>;

export const IngressLoadBalancerIngress = z.strictObject({
  ip: z.string().optional(),
  hostname: z.string().optional(),
  ports: z
    .array(z.strictObject({ port: z.int(), protocol: ServiceProtocol, error: z.string().optional() }))
    .optional(),
});

export const IngressStatus = z.strictObject({
  loadBalancer: z.strictObject({ ingress: z.array(IngressLoadBalancerIngress).optional() }).optional(),
});
export type IngressStatus = z.infer<typeof IngressStatus>;

type Ctx = z.RefinementCtx<any>;
type Path = (string | number)[];

/** A host or a `*.`-wildcard host, never an IP address (ValidateIngressRules / ValidateIngressTLS). */
function checkHost(host: string, at: Path, ctx: Ctx): void {
  if (isIPv4(host) || isIPv6(host)) {
    addCause(ctx, at, Reason.Invalid, msg.invalid(host, 'must be a DNS name, not an IP address'));
    return;
  }
  if (host.startsWith('*.')) {
    for (const e of dns1123SubdomainErrors(host.slice(2)))
      addCause(
        ctx,
        at,
        Reason.Invalid,
        msg.invalid(
          host,
          `a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain (${e})`,
        ),
      );
    return;
  }
  for (const e of dns1123SubdomainErrors(host)) addCause(ctx, at, Reason.Invalid, msg.invalid(host, e));
}

// Sequences that make a path ambiguous (ingress-nginx and Kubernetes refuse them for Exact/Prefix).
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];

function checkPath(p: HTTPIngressPath, at: Path, ctx: Ctx): void {
  if (p.pathType === undefined || p.pathType === '') {
    addCause(ctx, [...at, 'pathType'], Reason.Required, msg.required('pathType must be specified'));
  } else if (!(PATH_TYPES as readonly string[]).includes(p.pathType)) {
    addCause(ctx, [...at, 'pathType'], Reason.NotSupported, msg.notSupported(p.pathType, PATH_TYPES));
  }
  const path = p.path ?? '';
  if (p.pathType === 'Exact' || p.pathType === 'Prefix') {
    if (!path.startsWith('/')) {
      addCause(ctx, [...at, 'path'], Reason.Invalid, msg.invalid(path, 'must be an absolute path'));
    } else {
      for (const seq of INVALID_PATH_SEQUENCES)
        if (path.includes(seq))
          addCause(ctx, [...at, 'path'], Reason.Invalid, msg.invalid(path, `must not contain '${seq}'`));
      for (const suffix of INVALID_PATH_SUFFIXES)
        if (path.endsWith(suffix))
          addCause(ctx, [...at, 'path'], Reason.Invalid, msg.invalid(path, `cannot end with '${suffix}'`));
    }
  } else if (path !== '' && !path.startsWith('/')) {
    addCause(ctx, [...at, 'path'], Reason.Invalid, msg.invalid(path, 'must be an absolute path'));
  }
  checkBackend(p.backend, [...at, 'backend'], ctx);
}

function checkBackend(b: IngressBackend, at: Path, ctx: Ctx): void {
  if (b.service && b.resource) {
    addCause(ctx, at, Reason.Invalid, msg.invalid('', 'cannot set both resource and service backends'));
    return;
  }
  if (b.resource) {
    if (!b.resource.kind) addCause(ctx, [...at, 'resource', 'kind'], Reason.Required, msg.required());
    if (!b.resource.name) addCause(ctx, [...at, 'resource', 'name'], Reason.Required, msg.required());
    return;
  }
  if (!b.service) {
    addCause(ctx, at, Reason.Invalid, msg.invalid('', 'resource or service backend is required'));
    return;
  }
  const svc = b.service;
  if (!svc.name) addCause(ctx, [...at, 'service', 'name'], Reason.Required, msg.required());
  else
    for (const e of dns1123LabelErrors(svc.name))
      addCause(ctx, [...at, 'service', 'name'], Reason.Invalid, msg.invalid(svc.name, e));
  const port = svc.port;
  const portAt = [...at, 'service', 'port'];
  if (!port || (port.name === undefined && port.number === undefined)) {
    addCause(ctx, portAt, Reason.Invalid, msg.invalid(port ?? {}, 'port name or number is required'));
  } else if (port.name !== undefined && port.number !== undefined) {
    addCause(
      ctx,
      [...portAt, 'name'],
      Reason.Invalid,
      msg.invalid(port.name, 'cannot set both port name & port number'),
    );
  } else if (port.name !== undefined) {
    for (const e of portNameErrors(port.name))
      addCause(ctx, [...portAt, 'name'], Reason.Invalid, msg.invalid(port.name, e));
  } else if (port.number !== undefined && (port.number < 1 || port.number > 65535)) {
    addCause(
      ctx,
      [...portAt, 'number'],
      Reason.Invalid,
      msg.invalid(port.number, 'must be between 1 and 65535, inclusive'),
    );
  }
}

function validateIngressSpec(spec: IngressSpec, ctx: Ctx): void {
  if (!spec.defaultBackend && !spec.rules?.length)
    addCause(
      ctx,
      ['rules'],
      Reason.Invalid,
      msg.invalid(spec.rules ?? [], 'either `defaultBackend` or `rules` must be specified'),
    );
  if (spec.defaultBackend) checkBackend(spec.defaultBackend, ['defaultBackend'], ctx);
  if (spec.ingressClassName !== undefined)
    for (const e of dns1123SubdomainErrors(spec.ingressClassName))
      addCause(ctx, ['ingressClassName'], Reason.Invalid, msg.invalid(spec.ingressClassName, e));
  (spec.rules ?? []).forEach((rule, i) => {
    if (rule.host) checkHost(rule.host, ['rules', i, 'host'], ctx);
    rule.http?.paths.forEach((p, j) => checkPath(p, ['rules', i, 'http', 'paths', j], ctx));
    if (rule.http && rule.http.paths.length === 0)
      addCause(ctx, ['rules', i, 'http', 'paths'], Reason.Required, msg.required());
  });
  (spec.tls ?? []).forEach((t, i) => {
    (t.hosts ?? []).forEach((h, j) => checkHost(h, ['tls', i, 'hosts', j], ctx));
    if (t.secretName)
      for (const e of dns1123SubdomainErrors(t.secretName))
        addCause(ctx, ['tls', i, 'secretName'], Reason.Invalid, msg.invalid(t.secretName, e));
  });
}

export const Ingress = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('Ingress'),
  metadata: ObjectMeta,
  spec: IngressSpec.prefault({}).superRefine(validateIngressSpec),
  status: IngressStatus.optional(),
});
export type Ingress = z.infer<typeof Ingress>;

/** The legacy annotation naming an Ingress's class (still honoured by controllers, as ingress-nginx does). */
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
