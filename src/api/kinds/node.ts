// v1 Node (cluster-scoped): a machine running a Strata agent, and the sandbox tiers it offers.
import { z } from 'zod';
import { Condition, ObjectMeta, QualifiedName, Timestamp } from '../meta.ts';
import { CpuQuantity, MemoryQuantity, Quantity } from '../quantity.ts';
import { RuntimeClassName } from './pod.ts';

export const TaintEffect = z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

export const Taint = z.strictObject({
  key: QualifiedName,
  value: z.string().optional(),
  effect: TaintEffect,
  timeAdded: Timestamp.optional(),
});
export type Taint = z.infer<typeof Taint>;

export const NodeSpec = z.strictObject({
  unschedulable: z.boolean().optional(),
  taints: z.array(Taint).optional(),
  podCIDR: z.string().optional(),
});
export type NodeSpec = z.infer<typeof NodeSpec>;

export const NodeResources = z.strictObject({
  cpu: CpuQuantity.optional(),
  memory: MemoryQuantity.optional(),
  pods: Quantity.optional(),
  'ephemeral-storage': MemoryQuantity.optional(),
});
export type NodeResources = z.infer<typeof NodeResources>;

export const NodeAddress = z.strictObject({
  type: z.enum(['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS']),
  address: z.string().min(1),
});

const optionalString = z.string().optional();
export const NodeSystemInfo = z.strictObject({
  machineID: optionalString,
  systemUUID: optionalString,
  bootID: optionalString,
  kernelVersion: optionalString,
  osImage: optionalString,
  containerRuntimeVersion: optionalString,
  kubeletVersion: optionalString,
  kubeProxyVersion: optionalString,
  operatingSystem: optionalString,
  architecture: optionalString,
});

/**
 * A sandbox tier the node can run. `features` carries the tier's fingerprint (capability flags such as
 * `exec: true`, limits such as `maxMemoryBytes`) — free-form because each driver reports its own.
 */
export const NodeRuntimeHandler = z.strictObject({
  name: RuntimeClassName,
  features: z.record(z.string(), z.union([z.boolean(), z.number(), z.string()])).optional(),
});
export type NodeRuntimeHandler = z.infer<typeof NodeRuntimeHandler>;

export const NodeStatus = z.strictObject({
  capacity: NodeResources.optional(),
  allocatable: NodeResources.optional(),
  conditions: z.array(Condition).optional(),
  addresses: z.array(NodeAddress).optional(),
  daemonEndpoints: z
    .strictObject({ kubeletEndpoint: z.strictObject({ Port: z.int().min(0).max(65535) }).optional() })
    .optional(),
  nodeInfo: NodeSystemInfo.optional(),
  runtimeHandlers: z.array(NodeRuntimeHandler).optional(),
});
export type NodeStatus = z.infer<typeof NodeStatus>;

export const Node = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Node'),
  metadata: ObjectMeta,
  spec: NodeSpec.prefault({}),
  status: NodeStatus.optional(),
});
export type Node = z.infer<typeof Node>;
