// coordination.k8s.io/v1 Lease: node heartbeats and leader election of control-plane replicas.
import { z } from 'zod';
import { ObjectMeta, Timestamp } from '../meta.ts';

export const LeaseSpec = z.strictObject({
  holderIdentity: z.string().optional(),
  leaseDurationSeconds: z.int().min(1).optional(),
  // MicroTime in Kubernetes: RFC3339 with microseconds, which Timestamp accepts.
  acquireTime: Timestamp.optional(),
  renewTime: Timestamp.optional(),
  leaseTransitions: z.int().min(0).optional(),
});
export type LeaseSpec = z.infer<typeof LeaseSpec>;

export const Lease = z.strictObject({
  apiVersion: z.literal('coordination.k8s.io/v1'),
  kind: z.literal('Lease'),
  metadata: ObjectMeta,
  spec: LeaseSpec.prefault({}),
});
export type Lease = z.infer<typeof Lease>;
