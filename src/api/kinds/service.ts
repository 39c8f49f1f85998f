// v1 Service: a stable virtual address (ClusterIP), node ports and DNS name in front of the pods its
// selector matches. Validation follows kube-apiserver's ValidateService with its messages; what depends
// on the cluster's configuration (the service CIDR, the node-port range, which addresses are taken) is
// checked by the server's allocators (src/server/allocators/), not here.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Labels, ObjectMeta, Timestamp } from '../meta.ts';
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../names.ts';

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;
export const ServiceType = z.enum(SERVICE_TYPES);
export type ServiceType = z.infer<typeof ServiceType>;

/** `clusterIP: None`: a headless Service (DNS answers with the pod addresses, no virtual IP). */
export const CLUSTER_IP_NONE = 'None';

/** Default ClientIP affinity timeout (3 hours), as in Kubernetes. */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** An int that must be a TCP/UDP port, with kube-apiserver's wording. */
export const PortNumber = z.int().superRefine((v, ctx) => {
  if (v < 1 || v > 65535)
    addCause(ctx, [], Reason.Invalid, msg.invalid(v, 'must be between 1 and 65535, inclusive'));
});

/** IANA_SVC_NAME (validation.IsValidPortName): what a container port, hence a named targetPort, may be called. */
export function portNameErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length < 1 || v.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(v))
    errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (v.includes('--')) errs.push('must not contain consecutive hyphens');
  if (!/[a-z]/.test(v)) errs.push('must contain at least one letter (a-z)');
  if (v.startsWith('-') || v.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** A port by number or by the name of a container port (IntOrString). */
export const PortNumberOrName = z.union([z.int(), z.string()]).superRefine((v, ctx) => {
  if (typeof v === 'number') {
    if (v < 1 || v > 65535)
      addCause(ctx, [], Reason.Invalid, msg.invalid(v, 'must be between 1 and 65535, inclusive'));
    return;
  }
  for (const e of portNameErrors(v)) addCause(ctx, [], Reason.Invalid, msg.invalid(v, e));
});

export const ServiceProtocol = z.enum(['TCP', 'UDP', 'SCTP']);
export type ServiceProtocol = z.infer<typeof ServiceProtocol>;

export const ServicePort = z.strictObject({
  /** Required (a DNS label) when the Service has more than one port; EndpointSlice ports carry it. */
  name: z.string().optional(),
  protocol: ServiceProtocol.default('TCP'),
  appProtocol: z.string().optional(),
  port: PortNumber,
  /** The pods' port: a number, or the name of a container port resolved per pod. Defaults to `port`. */
  targetPort: PortNumberOrName.optional(),
  /** Allocated by the server for NodePort and LoadBalancer Services unless requested. */
  nodePort: z.int().optional(),
});
export type ServicePort = z.infer<typeof ServicePort>;

export const SessionAffinityConfig = z.strictObject({
  clientIP: z
    .strictObject({
      timeoutSeconds: z
        .int()
        .superRefine((v, ctx) => {
          if (v <= 0 || v > 86400)
            addCause(ctx, [], Reason.Invalid, msg.invalid(v, 'must be greater than 0 and less than 86400'));
        })
        .optional(),
    })
    .optional(),
});

export const IPFamily = z.enum(['IPv4', 'IPv6']);
export const IPFamilyPolicy = z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']);
export const TrafficPolicy = z.enum(['Cluster', 'Local']);

export const ServiceSpec = z.strictObject({
  type: ServiceType.default('ClusterIP'),
  /** Pods with these labels back the Service. Absent: endpoints are written by hand (EndpointSlices). */
  // Label keys and values are checked like labels and reported on `spec.selector` itself.
  selector: Labels.optional(),
  ports: z.array(ServicePort).optional(),
  clusterIP: z.string().optional(),
  clusterIPs: z.array(z.string()).optional(),
  ipFamilies: z.array(IPFamily).optional(),
  ipFamilyPolicy: IPFamilyPolicy.optional(),
  externalIPs: z.array(z.string()).optional(),
  externalName: z.string().optional(),
  sessionAffinity: z.enum(['None', 'ClientIP']).default('None'),
  sessionAffinityConfig: SessionAffinityConfig.optional(),
  externalTrafficPolicy: TrafficPolicy.optional(),
  internalTrafficPolicy: TrafficPolicy.optional(),
  publishNotReadyAddresses: z.boolean().optional(),
  loadBalancerIP: z.string().optional(),
  loadBalancerSourceRanges: z.array(z.string()).optional(),
  loadBalancerClass: z.string().optional(),
  allocateLoadBalancerNodePorts: z.boolean().optional(),
  healthCheckNodePort: z.int().optional(),
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;

const LoadBalancerIngress = z.strictObject({
  ip: z.string().optional(),
  hostname: z.string().optional(),
  ipMode: z.enum(['VIP', 'Proxy']).optional(),
  ports: z
    .array(
      z.strictObject({
        port: z.int(),
        protocol: ServiceProtocol,
        error: z.string().optional(),
      }),
    )
    .optional(),
});

export const ServiceStatus = z.strictObject({
  loadBalancer: z.strictObject({ ingress: z.array(LoadBalancerIngress).optional() }).optional(),
  conditions: z
    .array(
      z.strictObject({
        type: z.string().min(1),
        status: z.enum(['True', 'False', 'Unknown']),
        observedGeneration: z.int().min(0).optional(),
        lastTransitionTime: Timestamp,
        reason: z.string(),
        message: z.string(),
      }),
    )
    .optional(),
});
export type ServiceStatus = z.infer<typeof ServiceStatus>;

export function isHeadless(spec: Pick<ServiceSpec, 'clusterIP' | 'clusterIPs'>): boolean {
  return spec.clusterIP === CLUSTER_IP_NONE || spec.clusterIPs?.[0] === CLUSTER_IP_NONE;
}

/** NodePort and LoadBalancer Services are reached from outside the cluster (node ports). */
export function isExternallyAccessible(spec: Pick<ServiceSpec, 'type'>): boolean {
  return spec.type === 'NodePort' || spec.type === 'LoadBalancer';
}

/** Whether the Service's ports get node ports allocated (LoadBalancer may opt out). */
export function needsNodePorts(spec: Pick<ServiceSpec, 'type' | 'allocateLoadBalancerNodePorts'>): boolean {
  return (
    spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false)
  );
}

type Ctx = z.RefinementCtx<any>;

function validatePorts(spec: ServiceSpec, ctx: Ctx): void {
  const ports = spec.ports ?? [];
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && spec.type !== 'ExternalName')
    addCause(ctx, ['ports'], Reason.Required, msg.required());
  const names = new Set<string>();
  const keys = new Set<string>();
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const at = (...f: string[]) => ['ports', i, ...f];
    if (ports.length > 1 && !p.name) addCause(ctx, at('name'), Reason.Required, msg.required());
    if (p.name) {
      for (const e of dns1123LabelErrors(p.name))
        addCause(ctx, at('name'), Reason.Invalid, msg.invalid(p.name, e));
      if (names.has(p.name)) addCause(ctx, at('name'), Reason.Duplicate, msg.duplicate(p.name));
      names.add(p.name);
    }
    const key = `${p.port}/${p.protocol}`;
    if (keys.has(key))
      addCause(ctx, at(), Reason.Duplicate, msg.duplicate({ port: p.port, protocol: p.protocol }));
    keys.add(key);
    if (p.nodePort !== undefined) {
      if (spec.type === 'ClusterIP' && p.nodePort !== 0)
        addCause(
          ctx,
          at('nodePort'),
          Reason.Forbidden,
          msg.forbidden(`may not be used when \`type\` is '${spec.type}'`),
        );
      else if (p.nodePort < 0 || p.nodePort > 65535)
        addCause(
          ctx,
          at('nodePort'),
          Reason.Invalid,
          msg.invalid(p.nodePort, 'must be between 1 and 65535, inclusive'),
        );
      const nk = `${p.nodePort}/${p.protocol}`;
      if (p.nodePort !== 0 && nodePorts.has(nk))
        addCause(
          ctx,
          at('nodePort'),
          Reason.Duplicate,
          msg.duplicate({ nodePort: p.nodePort, protocol: p.protocol }),
        );
      nodePorts.add(nk);
    }
  });
}

function validateIPs(spec: ServiceSpec, ctx: Ctx): void {
  if (spec.type === 'ExternalName') {
    if (spec.clusterIP && spec.clusterIP !== '')
      addCause(
        ctx,
        ['clusterIP'],
        Reason.Forbidden,
        msg.forbidden('may not be set for ExternalName services'),
      );
    if (spec.clusterIPs?.length)
      addCause(
        ctx,
        ['clusterIPs'],
        Reason.Forbidden,
        msg.forbidden('may not be set for ExternalName services'),
      );
    if (!spec.externalName) addCause(ctx, ['externalName'], Reason.Required, msg.required());
    else
      for (const e of dns1123SubdomainErrors(spec.externalName.replace(/\.$/, '')))
        addCause(ctx, ['externalName'], Reason.Invalid, msg.invalid(spec.externalName, e));
    return;
  }
  const ips = spec.clusterIPs ?? [];
  if (spec.clusterIP && ips.length && ips[0] !== spec.clusterIP)
    addCause(ctx, ['clusterIPs'], Reason.Invalid, msg.invalid(ips, 'first value must match `clusterIP`'));
  if (ips.length > 2)
    addCause(ctx, ['clusterIPs'], Reason.Invalid, msg.invalid(ips, 'may only hold up to 2 values'));
  ips.forEach((ip, i) => {
    if (ip === CLUSTER_IP_NONE) {
      if (ips.length > 1)
        addCause(
          ctx,
          ['clusterIPs', i],
          Reason.Invalid,
          msg.invalid(ip, "must not have 'None' with other values"),
        );
      if (isExternallyAccessible(spec))
        addCause(
          ctx,
          ['clusterIPs', i],
          Reason.Invalid,
          msg.invalid(ip, `may not be set to 'None' for ${spec.type} services`),
        );
      return;
    }
    if (!isIPv4(ip) && !isIPv6(ip))
      addCause(
        ctx,
        ['clusterIPs', i],
        Reason.Invalid,
        msg.invalid(ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
      );
  });
  if (spec.clusterIP && !spec.clusterIPs?.length) {
    const ip = spec.clusterIP;
    if (ip === CLUSTER_IP_NONE && isExternallyAccessible(spec))
      addCause(
        ctx,
        ['clusterIP'],
        Reason.Invalid,
        msg.invalid(ip, `may not be set to 'None' for ${spec.type} services`),
      );
    else if (ip !== CLUSTER_IP_NONE && !isIPv4(ip) && !isIPv6(ip))
      addCause(
        ctx,
        ['clusterIP'],
        Reason.Invalid,
        msg.invalid(ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
      );
  }
  if (spec.externalName)
    addCause(
      ctx,
      ['externalName'],
      Reason.Forbidden,
      msg.forbidden(`may only be set when \`type\` is 'ExternalName'`),
    );
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (!isIPv4(ip) && !isIPv6(ip))
      addCause(
        ctx,
        ['externalIPs', i],
        Reason.Invalid,
        msg.invalid(ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
      );
  });
}

function validatePolicies(spec: ServiceSpec, ctx: Ctx): void {
  if (spec.sessionAffinity !== 'ClientIP' && spec.sessionAffinityConfig?.clientIP)
    addCause(
      ctx,
      ['sessionAffinityConfig'],
      Reason.Forbidden,
      msg.forbidden(`must not be set when \`sessionAffinity\` is ${spec.sessionAffinity}`),
    );
  if (spec.type === 'ExternalName' && spec.sessionAffinity === 'ClientIP')
    addCause(ctx, ['sessionAffinity'], Reason.NotSupported, msg.notSupported(spec.sessionAffinity, ['None']));
  if (!isExternallyAccessible(spec) && spec.externalTrafficPolicy !== undefined)
    addCause(
      ctx,
      ['externalTrafficPolicy'],
      Reason.Invalid,
      msg.invalid(spec.externalTrafficPolicy, 'may only be set for externally-accessible services'),
    );
  if (spec.type !== 'LoadBalancer') {
    for (const f of [
      'loadBalancerSourceRanges',
      'loadBalancerClass',
      'allocateLoadBalancerNodePorts',
    ] as const)
      if (spec[f] !== undefined && !(Array.isArray(spec[f]) && spec[f].length === 0))
        addCause(ctx, [f], Reason.Forbidden, msg.forbidden("may only be used when `type` is 'LoadBalancer'"));
  }
}

export const Service = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: ObjectMeta,
  spec: ServiceSpec.prefault({}).superRefine((spec, ctx) => {
    validatePorts(spec, ctx);
    validateIPs(spec, ctx);
    validatePolicies(spec, ctx);
  }),
  status: ServiceStatus.optional(),
});
export type Service = z.infer<typeof Service>;

/**
 * Defaults that depend on other fields (SetDefaults_Service): targetPort = port, traffic policies,
 * the affinity timeout, clusterIPs from clusterIP. The addresses and node ports themselves come from
 * the server's allocators when the Service is created.
 */
export function defaultService(svc: Service): void {
  const spec = svc.spec;
  for (const p of spec.ports ?? []) {
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
    if (p.nodePort === 0) delete p.nodePort;
  }
  if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ??= 'Cluster';
  if (isExternallyAccessible(spec)) spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.sessionAffinity === 'ClientIP') {
    spec.sessionAffinityConfig ??= {};
    spec.sessionAffinityConfig.clientIP ??= {};
    spec.sessionAffinityConfig.clientIP.timeoutSeconds ??= DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  }
  if (spec.clusterIP === '') delete spec.clusterIP;
  if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
  if (!spec.clusterIP && spec.clusterIPs?.length) spec.clusterIP = spec.clusterIPs[0];
}

/** The label every EndpointSlice of a Service carries (its name). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
