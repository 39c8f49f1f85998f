// discovery.k8s.io/v1 EndpointSlice: the addresses behind a Service, written by the endpoints controller
// for Services with a selector (and by hand for Services without one). The data plane (node rules, DNS,
// the gateway) reads these, never pods directly. Validation follows ValidateEndpointSlice.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta, ObjectReference } from '../meta.ts';
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../names.ts';
import { ServiceProtocol } from './service.ts';

export const AddressType = z.enum(['IPv4', 'IPv6', 'FQDN']);
export type AddressType = z.infer<typeof AddressType>;

/** What the endpoints controller writes into `endpointslice.kubernetes.io/managed-by`. */
export const ENDPOINTSLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const ENDPOINTSLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';

/** Kubernetes' limits: 1000 endpoints and 100 ports per slice, 100 addresses per endpoint. */
export const MAX_ENDPOINTS_PER_SLICE = 1000;
const MAX_PORTS = 100;
const MAX_ADDRESSES = 100;

export const EndpointConditions = z.strictObject({
  /** Serving and not terminating: the endpoint should get new traffic. */
  ready: z.boolean().optional(),
  /** The pod passes its readiness checks (terminating or not). */
  serving: z.boolean().optional(),
  /** The pod is being deleted. */
  terminating: z.boolean().optional(),
});
export type EndpointConditions = z.infer<typeof EndpointConditions>;

export const Endpoint = z.strictObject({
  addresses: z.array(z.string()),
  conditions: EndpointConditions.optional(),
  hostname: z.string().optional(),
  targetRef: ObjectReference.optional(),
  nodeName: z.string().optional(),
  zone: z.string().optional(),
  hints: z.strictObject({ forZones: z.array(z.strictObject({ name: z.string() })).optional() }).optional(),
  deprecatedTopology: z.record(z.string(), z.string()).optional(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const EndpointPort = z.strictObject({
  /** The Service port's name ('' for a single unnamed port). */
  name: z.string().optional(),
  protocol: ServiceProtocol.default('TCP'),
  /** The port on the endpoints (absent: "all ports", as Kubernetes allows). */
  port: z.int().optional(),
  appProtocol: z.string().optional(),
});
export type EndpointPort = z.infer<typeof EndpointPort>;

function addressErrors(type: AddressType, address: string): string[] {
  if (type === 'IPv4') return isIPv4(address) ? [] : ['must be a valid IPv4 address'];
  if (type === 'IPv6') return isIPv6(address) ? [] : ['must be a valid IPv6 address'];
  return dns1123SubdomainErrors(address);
}

export const EndpointSlice = z
  .strictObject({
    apiVersion: z.literal('discovery.k8s.io/v1'),
    kind: z.literal('EndpointSlice'),
    metadata: ObjectMeta,
    addressType: AddressType,
    endpoints: z.array(Endpoint).default([]),
    ports: z.array(EndpointPort).optional(),
  })
  .superRefine((slice, ctx) => {
    if (slice.endpoints.length > MAX_ENDPOINTS_PER_SLICE)
      addCause(
        ctx,
        ['endpoints'],
        Reason.TooMany,
        `Too many: ${slice.endpoints.length}: must have at most ${MAX_ENDPOINTS_PER_SLICE} items`,
      );
    slice.endpoints.forEach((ep, i) => {
      const n = ep.addresses.length;
      if (n === 0 || n > MAX_ADDRESSES)
        addCause(
          ctx,
          ['endpoints', i, 'addresses'],
          Reason.Invalid,
          msg.invalid(n, `must have at least 1 and at most ${MAX_ADDRESSES} items`),
        );
      ep.addresses.forEach((a, j) => {
        for (const e of addressErrors(slice.addressType, a))
          addCause(ctx, ['endpoints', i, 'addresses', j], Reason.Invalid, msg.invalid(a, e));
      });
      if (ep.hostname !== undefined)
        for (const e of dns1123LabelErrors(ep.hostname))
          addCause(ctx, ['endpoints', i, 'hostname'], Reason.Invalid, msg.invalid(ep.hostname, e));
      if (ep.nodeName !== undefined)
        for (const e of dns1123SubdomainErrors(ep.nodeName))
          addCause(ctx, ['endpoints', i, 'nodeName'], Reason.Invalid, msg.invalid(ep.nodeName, e));
    });
    const ports = slice.ports ?? [];
    if (ports.length > MAX_PORTS)
      addCause(
        ctx,
        ['ports'],
        Reason.TooMany,
        `Too many: ${ports.length}: must have at most ${MAX_PORTS} items`,
      );
    const names = new Set<string>();
    ports.forEach((p, i) => {
      const name = p.name ?? '';
      if (name !== '')
        for (const e of dns1123LabelErrors(name))
          addCause(ctx, ['ports', i, 'name'], Reason.Invalid, msg.invalid(name, e));
      if (names.has(name)) addCause(ctx, ['ports', i, 'name'], Reason.Duplicate, msg.duplicate(name));
      names.add(name);
      if (p.port !== undefined && (p.port < 1 || p.port > 65535))
        addCause(
          ctx,
          ['ports', i, 'port'],
          Reason.Invalid,
          msg.invalid(p.port, 'must be between 1 and 65535, inclusive'),
        );
    });
  });
export type EndpointSlice = z.infer<typeof EndpointSlice>;

/** The endpoint should receive new connections: ready unless said otherwise (nil means true, as in k8s). */
export function endpointReady(ep: Endpoint): boolean {
  return ep.conditions?.ready !== false;
}

/** The endpoint can serve (ready, or terminating but still passing readiness). */
export function endpointServing(ep: Endpoint): boolean {
  return ep.conditions?.serving ?? endpointReady(ep);
}
