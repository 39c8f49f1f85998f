// networking.k8s.io/v1 NetworkPolicy: which traffic may reach (ingress) and leave (egress) the pods its
// podSelector picks in its namespace. A pod selected by a policy of a direction is isolated in that
// direction: only what some policy's rules allow gets through (replies of allowed connections always do).
// Validation follows kube-apiserver's ValidateNetworkPolicy with its messages; enforcement is the node's
// (src/net/policy/).
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { LabelSelector, ObjectMeta } from '../meta.ts';
import { PortNumberOrName, ServiceProtocol } from './service.ts';

export const POLICY_TYPES = ['Ingress', 'Egress'] as const;
export const PolicyType = z.enum(POLICY_TYPES);
export type PolicyType = z.infer<typeof PolicyType>;

/** A parsed `a.b.c.d/n` or IPv6 CIDR, or undefined when `s` is not one. */
export function parseCidr(s: string): { family: 4 | 6; address: string; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const prefix = Number(m[2]);
  if (isIPv4(m[1]) && prefix <= 32) return { family: 4, address: m[1], prefix };
  if (isIPv6(m[1]) && prefix <= 128) return { family: 6, address: m[1], prefix };
  return undefined;
}

/** IPv4 address → 32-bit unsigned int. */
export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** The [first, last] addresses of an IPv4 CIDR as ints (host bits ignored, as net.ParseCIDR does). */
export function ipv4Range(cidr: string): [number, number] | undefined {
  const c = parseCidr(cidr);
  if (!c || c.family !== 4) return undefined;
  const size = 2 ** (32 - c.prefix);
  const first = Math.floor(ipv4ToInt(c.address) / size) * size;
  return [first, first + size - 1];
}

export const IPBlock = z
  .strictObject({
    /** Addresses allowed, e.g. "192.168.1.0/24". */
    cidr: z.string(),
    /** Addresses inside `cidr` that are not. */
    except: z.array(z.string()).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.cidr === '') {
      addCause(ctx, ['cidr'], Reason.Required, msg.required());
      return;
    }
    const outer = parseCidr(b.cidr);
    if (!outer) {
      addCause(
        ctx,
        ['cidr'],
        Reason.Invalid,
        msg.invalid(b.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
      );
      return;
    }
    (b.except ?? []).forEach((e, i) => {
      const inner = parseCidr(e);
      if (!inner) {
        addCause(
          ctx,
          ['except', i],
          Reason.Invalid,
          msg.invalid(e, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
        );
        return;
      }
      const o = ipv4Range(b.cidr);
      const n = ipv4Range(e);
      const strictSubset =
        inner.family === outer.family &&
        inner.prefix > outer.prefix &&
        (outer.family === 6 || (!!o && !!n && n[0] >= o[0] && n[1] <= o[1]));
      if (!strictSubset)
        addCause(ctx, ['except', i], Reason.Invalid, msg.invalid(e, 'must be a strict subset of `cidr`'));
    });
  });
export type IPBlock = z.infer<typeof IPBlock>;

/**
 * Where traffic may come from or go to: pods by label (in the policy's namespace), pods by label in
 * namespaces by label (both selectors: the intersection), every pod of namespaces by label, or addresses.
 */
export const NetworkPolicyPeer = z
  .strictObject({
    podSelector: LabelSelector.optional(),
    namespaceSelector: LabelSelector.optional(),
    ipBlock: IPBlock.optional(),
  })
  .superRefine((p, ctx) => {
    const n = [p.podSelector, p.namespaceSelector, p.ipBlock].filter((x) => x !== undefined).length;
    if (n === 0) addCause(ctx, [], Reason.Required, msg.required('must specify a peer'));
    else if (n > 1 && p.ipBlock)
      addCause(ctx, [], Reason.Forbidden, msg.forbidden('may not specify both ipBlock and another peer'));
  });
export type NetworkPolicyPeer = z.infer<typeof NetworkPolicyPeer>;

export const NetworkPolicyPort = z
  .strictObject({
    protocol: ServiceProtocol.default('TCP'),
    /** A number, or a named container port (resolved on the pod that receives the traffic). Absent: all. */
    port: PortNumberOrName.optional(),
    /** With a numeric `port`: the range port..endPort. */
    endPort: z.int().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.endPort === undefined) return;
    if (p.port === undefined)
      addCause(
        ctx,
        ['endPort'],
        Reason.Required,
        msg.required('may not be specified when `port` is not specified'),
      );
    else if (typeof p.port === 'string')
      addCause(
        ctx,
        ['endPort'],
        Reason.Invalid,
        msg.invalid(p.endPort, 'may not be specified when `port` is non-numeric'),
      );
    else if (p.endPort < p.port)
      addCause(
        ctx,
        ['endPort'],
        Reason.Invalid,
        msg.invalid(p.endPort, 'must be greater than or equal to `port`'),
      );
    else if (p.endPort > 65535)
      addCause(
        ctx,
        ['endPort'],
        Reason.Invalid,
        msg.invalid(p.endPort, 'must be between 1 and 65535, inclusive'),
      );
  });
export type NetworkPolicyPort = z.infer<typeof NetworkPolicyPort>;

export const NetworkPolicyIngressRule = z.strictObject({
  /** Absent or empty: every port. */
  ports: z.array(NetworkPolicyPort).optional(),
  /** Absent or empty: every source. */
  from: z.array(NetworkPolicyPeer).optional(),
});
export type NetworkPolicyIngressRule = z.infer<typeof NetworkPolicyIngressRule>;

export const NetworkPolicyEgressRule = z.strictObject({
  ports: z.array(NetworkPolicyPort).optional(),
  /** Absent or empty: every destination. */
  to: z.array(NetworkPolicyPeer).optional(),
});
export type NetworkPolicyEgressRule = z.infer<typeof NetworkPolicyEgressRule>;

export const NetworkPolicySpec = z
  .strictObject({
    /** The pods the policy applies to, in its namespace; `{}` (the default) selects them all. */
    podSelector: LabelSelector.prefault({}),
    /** Defaulted: Ingress, plus Egress when there are egress rules. */
    policyTypes: z.array(PolicyType).optional(),
    ingress: z.array(NetworkPolicyIngressRule).optional(),
    egress: z.array(NetworkPolicyEgressRule).optional(),
  })
  .superRefine((spec, ctx) => {
    const types = spec.policyTypes ?? [];
    if (types.length > 2)
      addCause(
        ctx,
        ['policyTypes'],
        Reason.Invalid,
        msg.invalid(types, 'may not specify more than two policyTypes'),
      );
    const seen = new Set<string>();
    types.forEach((t, i) => {
      if (seen.has(t)) addCause(ctx, ['policyTypes', i], Reason.Duplicate, msg.duplicate(t));
      seen.add(t);
    });
  });
export type NetworkPolicySpec = z.infer<typeof NetworkPolicySpec>;

export const NetworkPolicy = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('NetworkPolicy'),
  metadata: ObjectMeta,
  spec: NetworkPolicySpec.prefault({}),
});
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** SetDefaults_NetworkPolicy: policyTypes from the rules when not given. */
export function defaultNetworkPolicy(np: NetworkPolicy): void {
  if (np.spec.policyTypes?.length) return;
  np.spec.policyTypes = np.spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Whether the policy isolates its pods in this direction. */
export function policyAffects(np: NetworkPolicy, type: PolicyType): boolean {
  const types = np.spec.policyTypes?.length
    ? np.spec.policyTypes
    : np.spec.egress?.length
      ? ['Ingress', 'Egress']
      : ['Ingress'];
  return types.includes(type);
}
