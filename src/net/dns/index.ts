// Cluster DNS's public API (see README.md).
export {
  ClusterDnsRecords,
  DEFAULT_CLUSTER_DOMAIN,
  reverseName,
  type Answer,
  type DnsRecord,
  type RecordType,
} from './records.ts';
export { podResolvConf, type DnsPolicy, type PodDnsConfig, type PodResolvOptions } from './resolv.ts';
export { ClusterDnsServer, type ClusterDnsServerOptions, type ClusterDnsSources } from './server.ts';
export { Forwarder, upstreamsFromResolvConf, type Upstream } from './upstream.ts';
export { KUBE_DNS, kubeDnsEndpointSlice, kubeDnsSliceName } from './endpoint.ts';
