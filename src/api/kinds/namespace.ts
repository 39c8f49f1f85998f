// v1 Namespace (cluster-scoped). Its name is a DNS label because it appears inside other names.
import { z } from 'zod';
import { Condition, objectMetaWith } from '../meta.ts';
import { dns1123LabelErrors } from '../names.ts';

export const NamespaceSpec = z.strictObject({ finalizers: z.array(z.string()).optional() });

export const NamespaceStatus = z.strictObject({
  phase: z.enum(['Active', 'Terminating']).optional(),
  conditions: z.array(Condition).optional(),
});
export type NamespaceStatus = z.infer<typeof NamespaceStatus>;

export const Namespace = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: objectMetaWith(dns1123LabelErrors),
  spec: NamespaceSpec.optional(),
  status: NamespaceStatus.optional(),
});
export type Namespace = z.infer<typeof Namespace>;

/** The label Kubernetes puts on every namespace, so selectors can pick namespaces by name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function defaultNamespace(ns: Namespace): void {
  if (ns.metadata.name)
    ns.metadata.labels = { ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: ns.metadata.name };
  ns.status = { ...ns.status, phase: ns.status?.phase ?? 'Active' };
}
