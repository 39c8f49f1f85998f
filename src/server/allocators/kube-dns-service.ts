// The `kube-system/kube-dns` Service: the cluster DNS's stable address (the tenth address of the
// service CIDR, 10.96.0.10 by default), which pods with dnsPolicy ClusterFirst get as their nameserver.
// It has no selector: every node serves DNS itself (on its pod bridge, port 53) and publishes an
// EndpointSlice of its own for it (src/net/dns/endpoint.ts); `internalTrafficPolicy: Local` keeps each
// pod's queries on its own node's server.
import { isDeepStrictEqual } from 'node:util';
import { kindFor } from '../../api/index.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { ServiceAllocator } from './service-allocator.ts';

const SERVICE = kindFor('v1', 'Service')!;

export const KUBE_DNS_SERVICE = { namespace: 'kube-system', name: 'kube-dns' } as const;

const PORTS = [
  { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
  { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
];

/** Create or correct `kube-system/kube-dns`; returns its cluster IP (undefined when none could be had). */
export async function ensureKubeDnsService(
  objects: ObjectStore,
  allocator: ServiceAllocator,
): Promise<string | undefined> {
  const { namespace, name } = KUBE_DNS_SERVICE;
  const current = await objects.get(SERVICE, namespace, name);
  if (current) {
    if (!isDeepStrictEqual(current.spec.ports, PORTS))
      await objects.mutate(SERVICE, namespace, name, (svc) => ({
        ...svc,
        spec: { ...svc.spec, ports: PORTS },
      }));
    return current.spec.clusterIP;
  }
  const ip = allocator.cidr.kubeDnsServiceIP;
  if (!ip) return undefined;
  const created = await objects.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      labels: {
        'k8s-app': 'kube-dns',
        'kubernetes.io/cluster-service': 'true',
        'kubernetes.io/name': 'CoreDNS',
      },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      ports: PORTS,
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Local',
    },
  });
  return created.spec.clusterIP;
}
