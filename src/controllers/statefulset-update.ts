// The StatefulSet update rule of kube-apiserver (ValidateStatefulSetUpdate) as a store admission hook: a
// set's selector, serviceName, podManagementPolicy and volumeClaimTemplates are fixed once created — its
// pods' names, DNS names and claims were made from them.
import { invalid, statefulSetUpdateCauses, type KindInfo } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';

export function statefulSetUpdateAdmission(next: any, current: any, kind: KindInfo): void {
  if (kind.group !== 'apps' || kind.kind !== 'StatefulSet') return;
  const causes = statefulSetUpdateCauses(current, next);
  if (causes.length) throw new ApiError(invalid(kind, next.metadata?.name ?? '', causes));
}
