// apps/v1 ControllerRevision: an immutable snapshot of a workload's template at one revision. The
// Deployment and DaemonSet controllers keep the last `revisionHistoryLimit` of them, which is what
// `strata rollout history` lists and `rollout undo` restores.
import { z } from 'zod';
import { ObjectMeta } from '../meta.ts';

export const ControllerRevision = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('ControllerRevision'),
  metadata: ObjectMeta,
  /** The snapshot (for a Deployment: `{ spec: { template } }`); any JSON object. */
  data: z.record(z.string(), z.unknown()).optional(),
  revision: z.int().min(0),
});
export type ControllerRevision = z.infer<typeof ControllerRevision>;
