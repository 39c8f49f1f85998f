// Pod networking's public API (see README.md).
export {
  PodNetwork,
  type PodAttachment,
  type PodNetworkOptions,
  type PortMapping,
  type Protocol,
  type ReconcileReport,
} from './pod-network.ts';
export {
  hostsFile,
  parseResolvConf,
  resolvConf,
  type HostAlias,
  type HostsOptions,
  type ResolvOptions,
} from './etc-files.ts';
export { podEtcFiles, type PodEtcRequest } from './pod-etc-files.ts';
export { Ipam, parseSubnet } from './ipam.ts';
export { networkNames, DEFAULT_BRIDGE, DEFAULT_POD_CIDR, type NetworkNames } from './network-names.ts';
