// What the tiers whose sandboxes have a network stack (container, microvm) need from the node: a place on
// the node's pod network, and the pod's /etc/hosts and /etc/resolv.conf. src/net provides both (its
// PodNetwork, and podEtcFiles() with the node's cluster DNS address); the node's composition root hands
// them in (src/sandbox/tiers.ts, NodeResources), so a tier never imports the network layer: sandbox and
// net are siblings under the agent (DESIGN.md).
import type { PodSpec } from '../api/index.ts';
import type { HostPortMapping } from './driver.ts';

/** A pod's place on the node's pod network, made by setup(). */
export interface PodAttachment {
  podUid: string;
  /** Path runtimes join: /run/netns/<name>. */
  netnsPath: string;
  ip: string;
  gateway: string;
  prefixLength: number;
  /** The host end of the pod's veth pair (on the bridge). */
  hostInterface: string;
}

/** The node's pod network as a tier uses it (src/net/pod-network.ts implements it). */
export interface PodNetworkHost {
  /** The bridge and the node's pod range, for the tier's fingerprint. */
  readonly bridge: string;
  readonly subnet: string;
  /** The pod's network namespace, veth and address; made on the first call, the same one after. */
  setup(podUid: string): Promise<PodAttachment>;
  /** Publishes a hostPort of the pod on the node. */
  publish(podUid: string, port: HostPortMapping): Promise<void>;
  /** Releases everything of the pod's network. Idempotent. */
  teardown(podUid: string): Promise<void>;
  /** At agent start: removes the networks of pods not in the list (after a crash). */
  reconcile(livePodUids: Iterable<string>): Promise<unknown>;
}

/** What a pod's /etc files depend on. */
export interface PodEtcRequest {
  namespace: string;
  /** The pod's hostname (podHostname()). */
  hostname: string;
  /** The pod's address; absent when the sandbox has no pod network (loopback only). */
  ip?: string;
  /** Extra /etc/hosts lines (the pod spec's hostAliases). */
  hostAliases?: { ip: string; hostnames: string[] }[];
  /** The pod's dnsPolicy and dnsConfig. */
  dns?: { policy?: PodSpec['dnsPolicy']; config?: PodSpec['dnsConfig'] };
}

/** The contents of a pod's /etc/hosts and /etc/resolv.conf. */
export interface PodEtcFiles {
  hosts: string;
  resolvConf: string;
}

/** Makes a pod's /etc files (src/net/pod-etc-files.ts, which knows the node's cluster DNS address). */
export type PodEtcFilesMaker = (r: PodEtcRequest) => PodEtcFiles;

/** A hostname the kernel accepts (≤ 64 bytes) and DNS likes: lower case, [a-z0-9-], no edge hyphens. */
export function podHostname(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return cleaned || 'pod';
}
