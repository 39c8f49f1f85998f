// Service address and port allocation in the server (see service-allocator.ts).
export {
  ServiceAllocator,
  holdingsOf,
  type RepairReport,
  type ServiceAllocatorOptions,
} from './service-allocator.ts';
export { ensureKubernetesService, KUBERNETES_SERVICE, type ApiServerEndpoint } from './kubernetes-service.ts';
export { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, PortRange, ServiceCidr } from './ranges.ts';
export {
  startServiceAllocation,
  type RunningServiceAllocation,
  type ServiceAllocationOptions,
} from './install.ts';
export { ensureKubeDnsService, KUBE_DNS_SERVICE } from './kube-dns-service.ts';
