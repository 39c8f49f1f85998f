// Builders for the scheduler's plugin tests (not used outside tests).
import { type NodeSpecForTest, nodeObject, podObject, type PodSpecForTest } from '../api/testing/objects.ts';
import { isPlaced, type PlacementOptions, type PlacementResult, schedule } from './schedule.ts';

export function node(n: NodeSpecForTest & { taints?: any[]; zone?: string }): any {
  const labels = {
    'kubernetes.io/hostname': n.name,
    ...(n.zone ? { 'topology.kubernetes.io/zone': n.zone } : {}),
    ...n.labels,
  };
  const o = nodeObject({ ...n, labels });
  if (n.taints) o.spec.taints = n.taints;
  return o;
}

/** A pod with extra spec fields (affinity, tolerations, ...) and labels. */
export function pod(
  p: PodSpecForTest & { labels?: Record<string, string>; priority?: number },
  spec: Record<string, unknown> = {},
): any {
  const o = podObject(p);
  if (p.labels) o.metadata.labels = p.labels;
  if (p.priority !== undefined) o.spec.priority = p.priority;
  Object.assign(o.spec, spec);
  return o;
}

export const placedOn = (r: PlacementResult): string | undefined => (isPlaced(r) ? r.node : undefined);
export const messageOf = (r: PlacementResult): string | undefined => (isPlaced(r) ? undefined : r.message);

/** Where `p` goes given `nodes` and the pods already bound (by node name). */
export function where(
  p: any,
  nodes: any[],
  podsByNode: Record<string, any[]> = {},
  opts: PlacementOptions = {},
): string | undefined {
  const r = schedule(p, nodes, podsByNode, { percentageOfNodesToScore: 100, ...opts });
  return isPlaced(r) ? r.node : `unschedulable: ${r.message}`;
}
