// The names one node's networking owns on the machine, all derived from its bridge's name, so that two
// Strata nodes (or two test clusters) on one machine never touch each other's bridge, namespaces, veths,
// iptables chains or nftables table. Every clean-up scan (orphan namespaces, stale rules) matches these
// prefixes only: a second node with the default names would delete the first one's pods.
import { createHash } from 'node:crypto';

export const DEFAULT_BRIDGE = 'strata0';
export const DEFAULT_POD_CIDR = '10.88.0.0/16';

export interface NetworkNames {
  bridge: string;
  /** /run/netns/<netnsPrefix><podUid> */
  netnsPrefix: string;
  /** Host-side veths: <vethPrefix><hash>, at most 5 characters. */
  vethPrefix: string;
  /** iptables chains <chainPrefix>-POSTROUTING, -HOSTPORT, ... */
  chainPrefix: string;
  /** The Service data plane's nftables table (ip family). */
  serviceTable: string;
}

const BRIDGE_RE = /^[A-Za-z0-9_-]{1,15}$/;

/** The names for a node whose pod bridge is `bridge` (the default bridge keeps the historic names). */
export function networkNames(bridge: string = DEFAULT_BRIDGE): NetworkNames {
  if (!BRIDGE_RE.test(bridge)) throw new Error(`pod bridge "${bridge}": 1-15 of [A-Za-z0-9_-]`);
  if (bridge === DEFAULT_BRIDGE) {
    return {
      bridge,
      netnsPrefix: 'strata-',
      vethPrefix: 'stv',
      chainPrefix: 'STRATA',
      serviceTable: 'strata',
    };
  }
  // veth names are limited to 15 characters, so the prefix is a short hash of the bridge name.
  const tag = createHash('sha256').update(bridge).digest('hex').slice(0, 4);
  return {
    bridge,
    netnsPrefix: `${bridge}-`,
    vethPrefix: `v${tag}`,
    chainPrefix: bridge.toUpperCase(),
    serviceTable: `svc_${bridge.replace(/-/g, '_')}`,
  };
}
