// `strata cordon|uncordon|drain NODE`, as kubectl does them: cordon marks the node unschedulable; drain
// cordons, then evicts every pod on it through the eviction subresource (so PodDisruptionBudgets are
// respected: a 429 is retried until the budget allows it or the timeout passes) and waits for them to go.
import { kindFor } from '../api/index.ts';
import { ClientError, resourcePath, type Client } from '../client/client.ts';

const nodeKind = kindFor('v1', 'Node')!;
const podKind = kindFor('v1', 'Pod')!;

/** How long to wait before retrying an eviction a disruption budget refused (kubectl: 5 s). */
export const EVICTION_RETRY_MS = 5_000;

export async function cordon(
  client: Client,
  node: string,
  unschedulable: boolean,
  out: (s: string) => void,
): Promise<void> {
  let changed = false;
  const res = await client.mutate(nodeKind, undefined, node, (n) => {
    if (!!n.spec?.unschedulable === unschedulable) return undefined;
    changed = true;
    n.spec = { ...n.spec, unschedulable: unschedulable || undefined };
    if (!unschedulable) delete n.spec.unschedulable;
    return n;
  });
  if (!res && !changed && !(await client.find(nodeKind, undefined, node)))
    throw new Error(`nodes "${node}" not found`);
  const verb = unschedulable ? 'cordoned' : 'uncordoned';
  out(`node/${node} ${changed ? verb : `already ${verb}`}`);
}

export interface DrainOptions {
  ignoreDaemonsets?: boolean;
  deleteEmptydirData?: boolean;
  force?: boolean;
  /** Seconds each pod gets to stop (default: the pod's own). */
  gracePeriod?: number;
  /** Give up after this many seconds (0 = never). */
  timeout?: number;
  podSelector?: string;
  /** Delete pods directly instead of evicting them (bypasses disruption budgets). */
  disableEviction?: boolean;
  /** For tests: retry interval after a 429. */
  retryMs?: number;
}

const podRef = (p: any): string => `${p.metadata.namespace}/${p.metadata.name}`;
const controllerOf = (p: any): any => (p.metadata.ownerReferences ?? []).find((r: any) => r.controller);
const finished = (p: any): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

/** Which pods a drain removes, and what stops it (kubectl's filters). */
export function drainPlan(
  pods: any[],
  o: DrainOptions,
): { evict: any[]; warnings: string[]; errors: string[] } {
  const evict: any[] = [];
  const daemon: string[] = [];
  const unmanaged: string[] = [];
  const blockedDaemon: string[] = [];
  const blockedUnmanaged: string[] = [];
  const blockedLocal: string[] = [];
  for (const p of pods) {
    const owner = controllerOf(p);
    if (owner?.kind === 'DaemonSet') {
      // DaemonSet pods come right back on the same node: drain leaves them (or refuses).
      if (o.ignoreDaemonsets) daemon.push(podRef(p));
      else blockedDaemon.push(podRef(p));
      continue;
    }
    if (!owner && !finished(p)) {
      if (o.force) unmanaged.push(podRef(p));
      else {
        blockedUnmanaged.push(podRef(p));
        continue;
      }
    }
    if ((p.spec.volumes ?? []).some((v: any) => v.emptyDir !== undefined) && !finished(p)) {
      if (!o.deleteEmptydirData) {
        blockedLocal.push(podRef(p));
        continue;
      }
    }
    evict.push(p);
  }
  const errors: string[] = [];
  if (blockedDaemon.length)
    errors.push(
      `cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${blockedDaemon.join(', ')}`,
    );
  if (blockedUnmanaged.length)
    errors.push(
      `cannot delete Pods that declare no controller (use --force to override): ${blockedUnmanaged.join(', ')}`,
    );
  if (blockedLocal.length)
    errors.push(
      `cannot delete Pods with local storage (use --delete-emptydir-data to override): ${blockedLocal.join(', ')}`,
    );
  const warnings: string[] = [];
  if (daemon.length) warnings.push(`Warning: ignoring DaemonSet-managed Pods: ${daemon.join(', ')}`);
  if (unmanaged.length)
    warnings.push(`Warning: deleting Pods that declare no controller: ${unmanaged.join(', ')}`);
  return { evict, warnings, errors };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Evicts (or deletes) one pod, retrying while a disruption budget says no; resolves once it is gone. */
async function removePod(
  client: Client,
  pod: any,
  o: DrainOptions,
  deadline: number,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  const ns = pod.metadata.namespace;
  const name = pod.metadata.name;
  const deleteOptions =
    o.gracePeriod !== undefined && o.gracePeriod >= 0 ? { gracePeriodSeconds: o.gracePeriod } : {};
  out(`evicting pod ${ns}/${name}`);
  for (;;) {
    try {
      if (o.disableEviction) {
        await client.delete(podKind, ns, name, deleteOptions);
      } else {
        await client.json('POST', resourcePath(podKind, ns, name, 'eviction'), {
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name, namespace: ns },
            deleteOptions: { ...deleteOptions, preconditions: { uid: pod.metadata.uid } },
          },
        });
      }
      break;
    } catch (e) {
      if (e instanceof ClientError && e.code === 404) break;
      // A precondition conflict: the pod with this name is another one now; ours is gone.
      if (e instanceof ClientError && e.code === 409 && /UID|uid/.test(e.message)) break;
      if (!(e instanceof ClientError && e.code === 429)) throw e;
      const retry = o.retryMs ?? EVICTION_RETRY_MS;
      if (Date.now() + retry > deadline)
        throw new Error(`global timeout reached while evicting ${ns}/${name}`);
      err(`error when evicting pods/"${name}" -n "${ns}" (will retry after ${retry / 1000}s): ${e.message}`);
      await sleep(retry);
    }
  }
  // Evicted: wait until it is really gone (or replaced by a pod with another uid).
  for (;;) {
    const cur = await client.find(podKind, ns, name);
    if (!cur || cur.metadata.uid !== pod.metadata.uid) break;
    if (Date.now() > deadline)
      throw new Error(`global timeout reached waiting for ${ns}/${name} to be deleted`);
    await sleep(200);
  }
  out(`pod/${name} evicted`);
}

/** Cordons the node, then evicts its pods (respecting disruption budgets) and waits until they are gone. */
export async function drain(
  client: Client,
  node: string,
  o: DrainOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  await cordon(client, node, true, out);
  const deadline = o.timeout && o.timeout > 0 ? Date.now() + o.timeout * 1000 : Infinity;
  const list = await client.list(podKind, undefined, {
    fieldSelector: `spec.nodeName=${node}`,
    labelSelector: o.podSelector,
  });
  // Pods already being deleted are on their way out: wait for them, do not evict them again.
  const pods = list.items.filter((p) => !p.metadata.deletionTimestamp);
  const plan = drainPlan(pods, o);
  if (plan.errors.length)
    throw new Error(
      `unable to drain node "${node}" due to error: ${plan.errors.join('; ')}; the node stays cordoned`,
    );
  for (const w of plan.warnings) err(w);
  const results = await Promise.allSettled(
    plan.evict.map((p) => removePod(client, p, o, deadline, out, err)),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    const reasons = [...new Set(failed.map((f) => (f.reason as Error).message))].join('; ');
    throw new Error(`unable to drain node "${node}" due to error: ${reasons}; the node stays cordoned`);
  }
  out(`node/${node} drained`);
}
