// The `default/kubernetes` Service: how pods find the API server (the first address of the service
// CIDR, port 443 named https), and its EndpointSlice pointing at the address the server listens on. The
// Service has no selector, so the endpoints controller leaves the slice to us, as kube-apiserver's own
// endpoint reconciler keeps it. Run at every start: the server's address may have changed.
import { isIPv4 } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { SERVICE_NAME_LABEL, kindFor } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { ServiceAllocator } from './service-allocator.ts';

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

export const KUBERNETES_SERVICE = { namespace: 'default', name: 'kubernetes' } as const;

export interface ApiServerEndpoint {
  /** An address pods can reach the API server at (IPv4). */
  address: string;
  /** The port the API server listens on (the Service's targetPort). */
  port: number;
}

/** Create or correct the `default/kubernetes` Service and EndpointSlice. Needs the `default` namespace. */
export async function ensureKubernetesService(
  objects: ObjectStore,
  allocator: ServiceAllocator,
  endpoint: ApiServerEndpoint,
): Promise<void> {
  if (!isIPv4(endpoint.address))
    throw new Error(`the API server address must be IPv4, got ${endpoint.address}`);
  const { namespace, name } = KUBERNETES_SERVICE;
  const ports = [{ name: 'https', protocol: 'TCP', port: 443, targetPort: endpoint.port }];
  const current = await objects.get(SERVICE, namespace, name);
  if (!current) {
    await objects.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: allocator.cidr.kubernetesServiceIP,
        ports,
        sessionAffinity: 'None',
      },
    });
  } else if (!isDeepStrictEqual(current.spec.ports, ports)) {
    await objects.mutate(SERVICE, namespace, name, (svc) => ({ ...svc, spec: { ...svc.spec, ports } }));
  }
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { [SERVICE_NAME_LABEL]: name } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: [endpoint.address], conditions: { ready: true, serving: true, terminating: false } },
    ],
    ports: [{ name: 'https', protocol: 'TCP', port: endpoint.port }],
  };
  const existing = await objects.get(SLICE, namespace, name);
  if (!existing) await objects.create(slice);
  else if (
    !isDeepStrictEqual(existing.endpoints, slice.endpoints) ||
    !isDeepStrictEqual(existing.ports, slice.ports)
  )
    await objects.mutate(SLICE, namespace, name, (s) => ({
      ...s,
      endpoints: slice.endpoints,
      ports: slice.ports,
    }));
}
