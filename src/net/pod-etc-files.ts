// A pod's /etc/hosts and /etc/resolv.conf, as the tiers with a network stack write them (the container
// tier bind-mounts them, the microVM tier puts them in the guest's config archive). The node's
// composition root makes one maker with its cluster DNS address and hands it to those tiers
// (src/sandbox/pod-network.ts, PodEtcFilesMaker), so the tiers need not import this layer.
import type { PodSpec } from '../api/index.ts';
import { podResolvConf } from './dns/index.ts';
import { hostsFile, resolvConf } from './etc-files.ts';

export interface PodEtcRequest {
  namespace: string;
  hostname: string;
  /** The pod's address; absent when the sandbox has no pod network (loopback only). */
  ip?: string;
  hostAliases?: { ip: string; hostnames: string[] }[];
  dns?: { policy?: PodSpec['dnsPolicy']; config?: PodSpec['dnsConfig'] };
}

/**
 * The maker for a node. `clusterDnsIP` is asked at each pod start: the node's DNS server may come up after
 * the tiers. A pod off the pod network gets no cluster DNS (it could not reach it) and, unless it sets
 * dnsPolicy/dnsConfig, a resolv.conf without the host's nameservers (loopback only: none would answer).
 */
export function podEtcFiles(
  clusterDnsIP: () => string | undefined = () => undefined,
): (r: PodEtcRequest) => { hosts: string; resolvConf: string } {
  return (r) => {
    const onNetwork = r.ip !== undefined;
    const dnsIP = onNetwork ? clusterDnsIP() : undefined;
    return {
      hosts: hostsFile({ hostname: r.hostname, ip: r.ip, hostAliases: r.hostAliases }),
      resolvConf:
        r.dns || dnsIP
          ? podResolvConf({
              namespace: r.namespace,
              dnsPolicy: r.dns?.policy,
              dnsConfig: r.dns?.config,
              clusterDnsIP: dnsIP,
            })
          : onNetwork
            ? resolvConf()
            : resolvConf({ hostResolvConf: '' }),
    };
  };
}
