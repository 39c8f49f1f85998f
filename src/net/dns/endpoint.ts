// How a node offers its DNS server behind the `kube-system/kube-dns` Service: an EndpointSlice of its
// own, `kube-dns-<node>`, with the server's address (the pod bridge's gateway) on port 53 over UDP and
// TCP, and the node's name, so that the Service's `internalTrafficPolicy: Local` sends each pod's queries
// to its own node. The Service itself (a fixed cluster IP, no selector) is the control plane's.
import { ENDPOINTSLICE_MANAGED_BY_LABEL, type EndpointSlice, SERVICE_NAME_LABEL } from '../../api/index.ts';

export const KUBE_DNS = { namespace: 'kube-system', name: 'kube-dns' } as const;

/** What writes these slices (not the endpoints controller, which leaves selector-less Services alone). */
export const NODE_DNS_MANAGER = 'strata-node';

export function kubeDnsSliceName(nodeName: string): string {
  return `${KUBE_DNS.name}-${nodeName}`.slice(0, 253);
}

export function kubeDnsEndpointSlice(nodeName: string, address: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: kubeDnsSliceName(nodeName),
      namespace: KUBE_DNS.namespace,
      labels: { [SERVICE_NAME_LABEL]: KUBE_DNS.name, [ENDPOINTSLICE_MANAGED_BY_LABEL]: NODE_DNS_MANAGER },
    },
    addressType: 'IPv4',
    endpoints: [
      {
        addresses: [address],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName,
      },
    ],
    ports: [
      { name: 'dns', protocol: 'UDP', port: 53 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53 },
    ],
  };
}
