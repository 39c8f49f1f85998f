// What a DaemonSet controller asks of placement: should this node run a pod of that template? As in
// Kubernetes, the answer is the template's nodeSelector, required node affinity and its tolerations of
// the node's NoSchedule/NoExecute taints — not resources (the scheduler reports those when it binds the
// pod, which the controller pins with a `metadata.name` node-affinity term; see daemonPodAffinity).
import { nodeAffinity } from './filters/node-affinity.ts';
import { nodeSelector } from './filters/node-selector.ts';
import { taintToleration } from './filters/taint-toleration.ts';
import { CycleContext } from './framework.ts';
import { NodeInfo } from './node-info.ts';
import { podInfo } from './pod-info.ts';

/** Tolerations Kubernetes adds to every daemon pod, so node problems and cordons do not evict it. */
export const DAEMON_POD_TOLERATIONS: readonly any[] = Object.freeze([
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
]);

/**
 * Whether `node` (a Node object) should run a pod of `template` (a PodTemplateSpec): undefined when it
 * should, else the reason in the scheduler's words.
 */
export function daemonPodMismatch(template: any, node: any): string | undefined {
  const info = podInfo({
    metadata: { namespace: '', name: '', labels: template?.metadata?.labels ?? {} },
    spec: {
      ...template?.spec,
      tolerations: [...(template?.spec?.tolerations ?? []), ...DAEMON_POD_TOLERATIONS],
    },
  });
  const n = new NodeInfo(node?.metadata?.name ?? '');
  n.setNode(node);
  const ctx = new CycleContext(info, [n]);
  for (const f of [nodeSelector, nodeAffinity, taintToleration]) {
    if (f.prepare && !f.prepare(ctx)) continue;
    const r = f.filter(info, n, ctx);
    if (r !== undefined) return typeof r === 'string' ? r : r[0];
  }
  return undefined;
}

/**
 * The node affinity that pins a daemon pod to its node (merged into the template's own required
 * terms, as the Kubernetes DaemonSet controller does), so the scheduler binds it there and nowhere else.
 */
export function daemonPodAffinity(templateAffinity: any, nodeName: string): any {
  const pin = { key: 'metadata.name', operator: 'In', values: [nodeName] };
  const na = templateAffinity?.nodeAffinity ?? {};
  const terms: any[] = na.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [{}];
  return {
    ...templateAffinity,
    nodeAffinity: {
      ...na,
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((t) => ({ ...t, matchFields: [pin] })),
      },
    },
  };
}
