// scheduling.k8s.io/v1 PriorityClass (cluster-scoped): names a priority value that pods refer to by
// spec.priorityClassName. The server resolves the name into spec.priority when a pod is created
// (applyPriority), so the scheduler and preemption only ever read the number.
import { z } from 'zod';
import { type Cause, addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { PreemptionPolicy } from './pod.ts';

/** Kubernetes' ceiling for user-defined classes; above it only the built-in system- classes. */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;
export const SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;

export const PriorityClass = z
  .strictObject({
    apiVersion: z.literal('scheduling.k8s.io/v1'),
    kind: z.literal('PriorityClass'),
    metadata: ObjectMeta,
    value: z.int().min(-2_147_483_648).max(2_147_483_647),
    /** The class of pods that name none. At most one class should set it. */
    globalDefault: z.boolean().default(false),
    preemptionPolicy: PreemptionPolicy.default('PreemptLowerPriority'),
    description: z.string().optional(),
  })
  .superRefine((pc, ctx) => {
    const name = pc.metadata.name ?? '';
    if (pc.value > HIGHEST_USER_DEFINABLE_PRIORITY && !name.startsWith('system-'))
      addCause(
        ctx,
        ['value'],
        Reason.Invalid,
        msg.invalid(
          pc.value,
          `must be less than or equal to ${HIGHEST_USER_DEFINABLE_PRIORITY} (higher values are reserved for system- classes)`,
        ),
      );
  });
export type PriorityClass = z.infer<typeof PriorityClass>;

function builtin(name: string, value: number, description: string): PriorityClass {
  return {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name },
    value,
    globalDefault: false,
    preemptionPolicy: 'PreemptLowerPriority',
    description,
  };
}

/** The classes every cluster has, as in Kubernetes; they resolve even when not stored. */
export const SYSTEM_PRIORITY_CLASSES: readonly PriorityClass[] = Object.freeze([
  builtin(
    'system-node-critical',
    SYSTEM_CRITICAL_PRIORITY + 1000,
    'Used for system critical pods that must not be moved from their current node.',
  ),
  builtin(
    'system-cluster-critical',
    SYSTEM_CRITICAL_PRIORITY,
    'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.',
  ),
]);

export type PriorityResolution =
  | { ok: true; priority: number; preemptionPolicy: PreemptionPolicy; priorityClassName?: string }
  | { ok: false; causes: Cause[] };

/**
 * The priority a pod gets: its class's value (stored classes first, then the system- built-ins), or the
 * globalDefault class's when it names none (the highest-valued one if several claim it), or 0. The
 * pod's own preemptionPolicy wins over the class's.
 */
export function resolvePodPriority(pod: any, priorityClasses: readonly PriorityClass[]): PriorityResolution {
  const spec = pod?.spec ?? {};
  const name: string | undefined = spec.priorityClassName || undefined;
  let cls: PriorityClass | undefined;
  if (name !== undefined) {
    cls =
      priorityClasses.find((c) => c.metadata.name === name) ??
      SYSTEM_PRIORITY_CLASSES.find((c) => c.metadata.name === name);
    if (!cls)
      return {
        ok: false,
        causes: [
          {
            field: 'spec.priorityClassName',
            reason: Reason.NotFound,
            message: `${msg.notFound(name)}: no PriorityClass with name ${name} was found`,
          },
        ],
      };
  } else {
    for (const c of priorityClasses) if (c.globalDefault && (!cls || c.value > cls.value)) cls = c;
  }
  return {
    ok: true,
    priority: cls?.value ?? 0,
    preemptionPolicy: spec.preemptionPolicy ?? cls?.preemptionPolicy ?? 'PreemptLowerPriority',
    priorityClassName: cls?.metadata.name,
  };
}

/**
 * Server side, on pod create: set spec.priority (and priorityClassName from a global default, and
 * preemptionPolicy) from the classes. Returns causes instead when the class is unknown, or when the pod
 * brought a spec.priority that disagrees with its class (as the Kubernetes Priority admission does).
 * Mutates `pod` only on success.
 */
export function applyPriority(pod: any, classes: readonly PriorityClass[]): Cause[] {
  const r = resolvePodPriority(pod, classes);
  if (!r.ok) return r.causes;
  const spec = (pod.spec ??= {});
  if (spec.priority !== undefined && spec.priority !== null && spec.priority !== r.priority)
    return [
      {
        field: 'spec.priority',
        reason: Reason.Forbidden,
        message: msg.forbidden(
          `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${r.priority} from the given PriorityClass name`,
        ),
      },
    ];
  spec.priority = r.priority;
  spec.preemptionPolicy = r.preemptionPolicy;
  if (r.priorityClassName !== undefined) spec.priorityClassName = r.priorityClassName;
  return [];
}

/** A pod's priority as the scheduler sees it: spec.priority, or 0 for pods created before resolution. */
export function podPriority(pod: any): number {
  const p = pod?.spec?.priority;
  return typeof p === 'number' ? p : 0;
}
