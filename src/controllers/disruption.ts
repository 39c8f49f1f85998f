// Disruption budgets: the PodDisruptionBudget status controller and the eviction API's check.
//
// The controller (Kubernetes' disruption controller) keeps each budget's status current:
// - expectedPods: the pods the budget covers. With an integer minAvailable, the matching pods (not
//   finished); with a percentage or maxUnavailable, the scale of their controllers (a Deployment's
//   spec.replicas for pods of its ReplicaSets, a lone ReplicaSet's spec.replicas, a DaemonSet's
//   desiredNumberScheduled) plus one for each pod without such a controller.
// - desiredHealthy: minAvailable (percent of expected, rounded up), or expected − maxUnavailable.
// - currentHealthy: matching pods that are Ready and not being deleted, minus the pods evicted recently
//   whose deletion this controller has not seen yet (status.disruptedPods, kept for 2 minutes at most).
// - disruptionsAllowed = max(0, currentHealthy − desiredHealthy); condition DisruptionAllowed
//   (SufficientPods / InsufficientPods).
//
// The eviction subresource that spends these budgets is the API server's: src/policy/eviction.ts.
import {
  type Condition,
  getCondition,
  isDeleting,
  isReady,
  kindFor,
  labelSelectorMatcher,
  pdbDesiredHealthy,
  setCondition,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { nowRfc3339 } from '../store/objects.ts';
import { ignoreNotFound } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import { controllerRef, isFinished, objectKeyOf } from './pods.ts';

const PDB = kindFor('policy/v1', 'PodDisruptionBudget')!;
const POD = kindFor('v1', 'Pod')!;
const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const DAEMONSET = kindFor('apps/v1', 'DaemonSet')!;
const REPLICASET = kindFor('apps/v1', 'ReplicaSet')!;

const COMPONENT = 'disruption-controller';
/** How long an evicted pod counts as disrupted before its deletion must have been seen. */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

// ---- the status controller -------------------------------------------------------------------------

export class DisruptionController extends QueuedController {
  private pdbs!: Informer<any>;
  private deployments!: Informer<any>;
  private daemonsets!: Informer<any>;
  private replicaSets!: Informer<any>;
  /** namespace → (pod key → pod). */
  private readonly podsByNamespace = new Map<string, Map<string, any>>();

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.pdbs = this.informers.informerFor(PDB);
    this.deployments = this.informers.informerFor(DEPLOYMENT);
    this.daemonsets = this.informers.informerFor(DAEMONSET);
    this.replicaSets = this.informers.informerFor(REPLICASET);
    const pods = this.informers.informerFor(POD);
    const podChanged = (old: any, pod: any) => {
      const ns: string = (pod ?? old).metadata.namespace;
      if (old) this.podsByNamespace.get(ns)?.delete(objectKeyOf(old));
      if (pod) {
        let m = this.podsByNamespace.get(ns);
        if (!m) this.podsByNamespace.set(ns, (m = new Map()));
        m.set(objectKeyOf(pod), pod);
      } else if (this.podsByNamespace.get(ns)?.size === 0) this.podsByNamespace.delete(ns);
      for (const pdb of this.pdbs.values()) {
        if (pdb.metadata.namespace !== ns) continue;
        const matches = labelSelectorMatcher(pdb.spec?.selector);
        if ((old && matches(old.metadata.labels)) || (pod && matches(pod.metadata.labels))) {
          this.queue.add(objectKeyOf(pdb));
        }
      }
    };
    // A controller's scale changes the expected pods of budgets with percentages or maxUnavailable.
    const scaleChanged = (obj: any) => {
      for (const pdb of this.pdbs.values()) {
        if (pdb.metadata.namespace === obj.metadata.namespace) this.queue.add(objectKeyOf(pdb));
      }
    };
    this.removeHandlers.push(
      this.pdbs.addHandler({
        onAdd: (pdb) => this.queue.add(objectKeyOf(pdb)),
        onUpdate: (_o, pdb) => this.queue.add(objectKeyOf(pdb)),
      }),
      pods.addHandler({
        onAdd: (p) => podChanged(undefined, p),
        onUpdate: (old, p) => podChanged(old, p),
        onDelete: (p) => podChanged(p, undefined),
      }),
      this.deployments.addHandler({
        onUpdate: (old, d) => {
          if (old.spec?.replicas !== d.spec?.replicas) scaleChanged(d);
        },
      }),
      this.daemonsets.addHandler({
        onUpdate: (old, ds) => {
          if (old.status?.desiredNumberScheduled !== ds.status?.desiredNumberScheduled) scaleChanged(ds);
        },
      }),
      this.replicaSets.addHandler({
        onUpdate: (old, rs) => {
          if (old.spec?.replicas !== rs.spec?.replicas) scaleChanged(rs);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  /** Pods a budget covers (not finished). */
  private podsFor(pdb: any): any[] {
    const matches = labelSelectorMatcher(pdb.spec?.selector);
    return [...(this.podsByNamespace.get(pdb.metadata.namespace)?.values() ?? [])].filter(
      (p) => !isFinished(p) && matches(p.metadata.labels),
    );
  }

  private expectedCount(pdb: any, pods: any[]): number {
    const { minAvailable, maxUnavailable } = pdb.spec;
    if (maxUnavailable === undefined && typeof minAvailable !== 'string') return pods.length;
    let expected = 0;
    const counted = new Set<string>();
    for (const p of pods) {
      const ref = controllerRef(p);
      const scale = ref ? this.scaleOf(p.metadata.namespace, ref) : undefined;
      if (scale === undefined) {
        expected++;
        continue;
      }
      if (counted.has(scale.uid)) continue;
      counted.add(scale.uid);
      expected += scale.replicas;
    }
    return expected;
  }

  /** The controller whose scale covers a pod (a ReplicaSet's Deployment, if it has one) and that scale. */
  private scaleOf(
    namespace: string,
    ref: { kind: string; name: string; uid: string },
  ): { uid: string; replicas: number } | undefined {
    if (ref.kind === 'ReplicaSet') {
      const rs = this.replicaSets.get(`${namespace}/${ref.name}`);
      if (rs?.metadata.uid !== ref.uid) return undefined;
      const owner = controllerRef(rs);
      if (owner?.kind === 'Deployment') return this.scaleOf(namespace, owner);
      return { uid: rs.metadata.uid, replicas: rs.spec?.replicas ?? 1 };
    }
    if (ref.kind === 'Deployment') {
      const d = this.deployments.get(`${namespace}/${ref.name}`);
      return d?.metadata.uid === ref.uid ? { uid: ref.uid, replicas: d.spec?.replicas ?? 1 } : undefined;
    }
    if (ref.kind === 'DaemonSet') {
      const ds = this.daemonsets.get(`${namespace}/${ref.name}`);
      return ds?.metadata.uid === ref.uid
        ? { uid: ref.uid, replicas: ds.status?.desiredNumberScheduled ?? 0 }
        : undefined;
    }
    return undefined;
  }

  protected async reconcile(key: string): Promise<void> {
    const cached = this.pdbs.get(key);
    if (!cached || isDeleting(cached)) return;
    const pods = this.podsFor(cached);
    const byName = new Map(pods.map((p) => [p.metadata.name, p]));
    const expected = this.expectedCount(cached, pods);
    const desired = pdbDesiredHealthy(cached.spec, expected);
    let recheckMs: number | undefined;
    let healthyNow = 0;
    await ignoreNotFound(
      this.objects.mutate(
        PDB,
        cached.metadata.namespace,
        cached.metadata.name,
        (pdb) => {
          if (pdb.metadata.uid !== cached.metadata.uid) return undefined;
          // Computed against the disruptedPods of the stored object, so evictions that happened after our
          // cache was filled are not undone.
          const nowMs = Date.now();
          recheckMs = undefined;
          const prev = pdb.status ?? {};
          const disrupted: Record<string, string> = {};
          for (const [name, at] of Object.entries((prev.disruptedPods ?? {}) as Record<string, string>)) {
            const pod = byName.get(name);
            const expires = Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS;
            if (!pod || isDeleting(pod) || !Number.isFinite(expires) || expires <= nowMs) continue;
            disrupted[name] = at;
            recheckMs = Math.min(recheckMs ?? Infinity, expires - nowMs);
          }
          const healthy = pods.filter(
            (p) => isReady(p) && !isDeleting(p) && !disrupted[p.metadata.name],
          ).length;
          healthyNow = healthy;
          const allowed = Math.max(0, healthy - desired);
          const now = nowRfc3339();
          const condition: Condition =
            allowed > 0
              ? { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }
              : { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods' };
          const prevCondition = getCondition(prev.conditions, 'DisruptionAllowed');
          const conditions =
            prevCondition?.status === condition.status && prevCondition.reason === condition.reason
              ? prev.conditions
              : setCondition(
                  prev.conditions,
                  { ...condition, observedGeneration: pdb.metadata.generation },
                  now,
                );
          const next: any = {
            observedGeneration: pdb.metadata.generation,
            ...(Object.keys(disrupted).length > 0 ? { disruptedPods: disrupted } : {}),
            disruptionsAllowed: allowed,
            currentHealthy: healthy,
            desiredHealthy: desired,
            expectedPods: expected,
            conditions,
          };
          if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
          pdb.status = next;
          return pdb;
        },
        'status',
      ),
    );
    if (pods.length === 0) this.recorder.normal(cached, 'NoPods', 'No matching pods found');
    this.log.debug({ pdb: key, expected, desired, healthy: healthyNow }, 'disruption-controller: synced');
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }
}
