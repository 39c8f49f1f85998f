// A microVM on the pod network. The pod's network is the container tier's, unchanged (src/net: a named
// namespace, a veth into the node bridge, an address from the node's IPAM, hostPort DNAT, reconcile):
// the VM's tap device lives inside that namespace, and traffic is redirected between the pod's eth0 and
// the tap with tc (ingress qdisc, u32 match-all, mirred egress redirect) — Kata Containers' "tcfilter"
// model. The guest takes the pod's IP and eth0's MAC address, so to the bridge, the IPAM, hostPorts and
// the Service proxy (which DNATs to pod IPs from EndpointSlices) a microVM pod is a pod like any other.
//
// Why not a tap on the bridge itself: every piece of pod networking (addresses, hostPort rules, the
// crash reconcile that removes unknown bridge ports) would need a second kind of pod; here nothing in
// src/net changes, and QEMU runs inside the pod's namespace, so it sees no host interface at all.
import { basename } from 'node:path';
import { run } from '../../lib/command.ts';
import type { PodAttachment } from '../pod-network.ts';

/** The tap's name inside the pod's namespace (namespaced: every pod can use the same name). */
export const TAP = 'tap0';
/** The pod's veth end in its namespace (src/net names it so). */
const POD_IF = 'eth0';

export interface GuestNetwork {
  ip: string;
  prefixLength: number;
  gateway: string;
  mac: string;
  mtu: number;
  /** /run/netns/<name>: where QEMU runs. */
  netnsPath: string;
  tap: string;
}

/**
 * Creates the tap in the pod's namespace (replacing one left by an earlier sandbox of the pod) and the
 * redirects between it and eth0. `owner`: a uid allowed to open the tap (an unprivileged QEMU).
 */
export async function attachTap(a: PodAttachment, owner?: number): Promise<GuestNetwork> {
  const ns = basename(a.netnsPath);
  const link = JSON.parse(await run('ip', ['-n', ns, '-j', 'link', 'show', POD_IF])) as Array<{
    address: string;
    mtu: number;
  }>;
  if (!link[0]?.address) throw new Error(`pod namespace ${ns} has no ${POD_IF}`);
  await run('ip', ['-n', ns, 'link', 'del', TAP]).catch(() => {});
  await run('ip', ['-n', ns, '-batch', '-'], {
    input: [
      `tuntap add ${TAP} mode tap${owner !== undefined ? ` user ${owner}` : ''}`,
      `link set ${TAP} mtu ${link[0].mtu} up`,
      // eth0 keeps the pod's address (as after any CNI set-up) but every frame it receives is the
      // guest's: the namespace's own stack never answers for the pod.
    ].join('\n'),
  });
  await run('tc', ['-n', ns, '-batch', '-'], {
    input: [
      `qdisc replace dev ${POD_IF} ingress`,
      `filter replace dev ${POD_IF} parent ffff: prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev ${TAP}`,
      `qdisc replace dev ${TAP} ingress`,
      `filter replace dev ${TAP} parent ffff: prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev ${POD_IF}`,
    ].join('\n'),
  });
  return {
    ip: a.ip,
    prefixLength: a.prefixLength,
    gateway: a.gateway,
    mac: link[0].address,
    mtu: link[0].mtu,
    netnsPath: a.netnsPath,
    tap: TAP,
  };
}

/** Removes the tap (and with it eth0's redirect target). Idempotent; the namespace may be gone. */
export async function detachTap(netnsPath: string): Promise<void> {
  const ns = basename(netnsPath);
  await run('ip', ['-n', ns, 'link', 'del', TAP]).catch(() => {});
  await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', POD_IF, 'ingress']).catch(() => {});
}
