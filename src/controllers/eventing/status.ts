// What the eventing controllers share about status: setting a condition, and writing a status only when
// it changed (conditions keep their transition times, so an unchanged status compares equal: no write,
// no watch event), a conflict left to the newer version the informer brings.
import { type Condition, type KindInfo, setCondition } from '../../api/index.ts';
import { type Log, errorMessage } from '../../lib/log.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';

interface WithConditions {
  conditions?: Condition[];
}

/** Set one condition (reason and message only when given), Knative-style. */
export function setEventingCondition(
  status: WithConditions,
  type: string,
  st: 'True' | 'False' | 'Unknown',
  reason?: string,
  message?: string,
): void {
  status.conditions = setCondition(status.conditions, {
    type,
    status: st,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  });
}

/** Write `status` of the object if it differs from what it has. */
export async function writeStatusIfChanged(
  objects: ObjectStore,
  kind: KindInfo,
  obj: { metadata: { namespace?: string; name?: string; resourceVersion?: string }; status?: unknown },
  status: unknown,
  log: Log,
): Promise<void> {
  if (JSON.stringify(status) === JSON.stringify(obj.status ?? {})) return;
  try {
    await objects.updateStatus(kind, obj.metadata.namespace, obj.metadata.name!, {
      metadata: { resourceVersion: obj.metadata.resourceVersion },
      status,
    });
  } catch (err) {
    // A newer version is on its way through the informer and will be reconciled.
    if (!(err instanceof ApiError && err.status.code === 409))
      log.warn(
        { kind: kind.kind, object: `${obj.metadata.namespace}/${obj.metadata.name}`, err: errorMessage(err) },
        'eventing: status update failed',
      );
  }
}
