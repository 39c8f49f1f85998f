// Admission the server applies to every create (through ObjectStore create hooks), whoever the writer
// is: `strata apply`, a Deployment's controller, the scheduler.
//
// - Priority: a pod's spec.priorityClassName becomes spec.priority (and preemptionPolicy), or the
//   globalDefault class's value when it names none — Kubernetes' Priority admission plugin. An unknown
//   class is refused with the field named.
import { type KindInfo, applyPriority, invalid, kindFor } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { ApiError, type CreateHook, type ObjectStore } from '../store/objects.ts';

function priorityClassKind(): KindInfo | undefined {
  return kindFor('scheduling.k8s.io/v1', 'PriorityClass');
}

/**
 * Resolves pod priorities from PriorityClasses. With an informer the classes come from its cache; a
 * class the cache has not seen yet (created a moment ago, e.g. earlier in the same `apply -f`) is read
 * from the store, so ordering within one manifest never fails.
 */
export function priorityAdmission(objects: ObjectStore, classes?: Informer<any>): CreateHook {
  return async (obj, kind) => {
    if (kind.kind !== 'Pod') return;
    const pcKind = priorityClassKind();
    if (!pcKind) return;
    let known: any[];
    if (classes?.hasSynced()) {
      known = classes.list();
      const wanted = obj.spec?.priorityClassName;
      if (wanted && !known.some((c) => c.metadata.name === wanted)) {
        const fresh = await objects.get(pcKind, undefined, wanted);
        if (fresh) known = [...known, fresh];
      }
    } else {
      known = (await objects.list(pcKind)).items;
    }
    const causes = applyPriority(obj, known);
    if (causes.length) throw new ApiError(invalid(kind, obj.metadata?.name ?? '', causes));
  };
}
