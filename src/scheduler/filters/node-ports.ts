import type { FilterPlugin } from '../framework.ts';
import { hostPortsConflict } from '../pod-info.ts';

export const REASON_PORTS = "node(s) didn't have free ports for the requested pod ports";

/**
 * kube-scheduler's NodePorts: a pod publishing a hostPort goes only where no pod accounted to the node
 * (bound, or assumed by this scheduler) publishes the same port and protocol on an overlapping address.
 * Without it a second replica of a hostPort Deployment lands on the same node and can never start there.
 * A terminating pod still holds its ports until it is gone. Preemption does not free host ports here (it
 * weighs resources only), so this filter is among those it skips.
 */
export const nodePorts: FilterPlugin = {
  name: 'NodePorts',
  prepare: (ctx) => ctx.pod.hostPorts !== undefined,
  filter: (pod, node) => {
    for (const other of node.pods.values()) {
      if (!other.hostPorts || other.key === pod.key) continue;
      for (const want of pod.hostPorts!)
        for (const taken of other.hostPorts) if (hostPortsConflict(want, taken)) return REASON_PORTS;
    }
    return undefined;
  },
};
