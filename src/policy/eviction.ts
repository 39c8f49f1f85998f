// The eviction subresource (POST .../pods/{name}/eviction): a pod covered by a PodDisruptionBudget is
// deleted only if the budget allows one more disruption, and that disruption is taken from the budget
// first with a compare-and-swap on the budget's resourceVersion (and the pod recorded in disruptedPods),
// so two concurrent evictions can never both spend the last allowed disruption. Otherwise it answers 429
// "Cannot evict pod as it would violate the pod's disruption budget." — what `drain` waits and retries on.
// The budgets' status is kept by the disruption controller (src/controllers/disruption.ts); this is the
// API server's side, as kube-apiserver's eviction REST handler is.
import { internalError, isDeleting, isReady, kindFor, labelSelectorMatcher, notFound } from '../api/index.ts';
import { errorCode } from '../lib/log.ts';
import { ApiError, type ObjectStore, nowRfc3339 } from '../store/objects.ts';

const PDB = kindFor('policy/v1', 'PodDisruptionBudget')!;
const POD = kindFor('v1', 'Pod')!;

/** Kubernetes' limit on status.disruptedPods: more evictions in flight are refused. */
const MAX_DISRUPTED_PODS = 2000;

export const EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget.";

export type EvictionResult =
  | { allowed: true }
  | {
      allowed: false;
      /** The Status message: always EVICTION_REFUSED. */
      reason: string;
      code: 429;
      /** Why, in Kubernetes' wording for details.causes[0] (type DisruptionBudget). */
      cause?: string;
      /** The budget that refused. */
      budget?: string;
    };

export interface EvictOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** ['All']: check only, change nothing. */
  dryRun?: string[];
}

/** The budgets of the pod's namespace whose selector matches it. */
async function budgetsFor(objects: ObjectStore, pod: any): Promise<any[]> {
  const { items } = await objects.list(PDB, pod.metadata.namespace);
  return items.filter((pdb) => labelSelectorMatcher(pdb.spec?.selector)(pod.metadata.labels));
}

/** Not running or already going: no budget protects it (Kubernetes' canIgnorePDB). */
function canIgnoreBudget(pod: any): boolean {
  const phase = pod.status?.phase ?? 'Pending';
  return isDeleting(pod) || phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending';
}

function refused(pdb: any, cause: string): EvictionResult {
  return { allowed: false, reason: EVICTION_REFUSED, code: 429, cause, budget: pdb.metadata.name };
}

/**
 * Evict a pod: delete it (gracefully, `deleteOptions` as for DELETE) unless a PodDisruptionBudget forbids
 * it. Throws ApiError 404 for a missing pod, 500 when more than one budget selects the pod (as Kubernetes).
 */
export async function evictPod(
  objects: ObjectStore,
  namespace: string,
  name: string,
  deleteOptions: EvictOptions = {},
): Promise<EvictionResult> {
  const dryRun = deleteOptions.dryRun?.includes('All') ?? false;
  const pod = await objects.get(POD, namespace, name);
  if (!pod) throw new ApiError(notFound(POD, name));
  const remove = async () => {
    if (dryRun) return;
    await objects.delete(POD, namespace, name, {
      ...(deleteOptions.gracePeriodSeconds !== undefined
        ? { gracePeriodSeconds: deleteOptions.gracePeriodSeconds }
        : {}),
      preconditions: { uid: pod.metadata.uid, ...deleteOptions.preconditions },
    });
  };
  if (canIgnoreBudget(pod)) {
    await remove();
    return { allowed: true };
  }
  const budgets = await budgetsFor(objects, pod);
  if (budgets.length === 0) {
    await remove();
    return { allowed: true };
  }
  if (budgets.length > 1) {
    throw new ApiError(
      internalError(
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
      ),
    );
  }
  for (let attempt = 0; ; attempt++) {
    const pdb = attempt === 0 ? budgets[0] : await objects.get(PDB, namespace, budgets[0].metadata.name);
    if (!pdb) {
      // The budget went away meanwhile: nothing protects the pod any more.
      await remove();
      return { allowed: true };
    }
    const status = pdb.status ?? {};
    if ((status.observedGeneration ?? -1) < (pdb.metadata.generation ?? 1)) {
      return refused(
        pdb,
        `the disruption budget ${pdb.metadata.name} is still being processed by the server`,
      );
    }
    const healthyEnough = (status.currentHealthy ?? 0) >= (status.desiredHealthy ?? 0);
    if (!isReady(pod) && (pdb.spec.unhealthyPodEvictionPolicy === 'AlwaysAllow' || healthyEnough)) {
      // An unready pod does not count toward the budget: evicting it costs nothing.
      await remove();
      return { allowed: true };
    }
    if ((status.disruptionsAllowed ?? 0) <= 0) {
      return refused(
        pdb,
        `The disruption budget ${pdb.metadata.name} needs ${status.desiredHealthy ?? 0} healthy pods and has ${status.currentHealthy ?? 0} currently`,
      );
    }
    const disrupted: Record<string, string> = { ...status.disruptedPods };
    if (Object.keys(disrupted).length >= MAX_DISRUPTED_PODS) {
      return refused(pdb, `DisruptedPods map too big - too many evictions not confirmed by PDB controller`);
    }
    if (dryRun) return { allowed: true };
    disrupted[name] = nowRfc3339();
    try {
      // Compare-and-swap on the budget: a concurrent eviction (or status update) makes us look again.
      await objects.updateStatus(PDB, namespace, pdb.metadata.name, {
        metadata: { resourceVersion: pdb.metadata.resourceVersion },
        status: { ...status, disruptionsAllowed: status.disruptionsAllowed - 1, disruptedPods: disrupted },
      });
    } catch (err) {
      if (errorCode(err) === 409 && attempt < 20) continue;
      throw err;
    }
    await remove();
    return { allowed: true };
  }
}
