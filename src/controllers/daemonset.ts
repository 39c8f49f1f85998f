// DaemonSet controller: one pod of the template on every node that should run it.
//
// Placement is decided here, not by the scheduler: a node should run the daemon pod when it satisfies the
// template's nodeSelector and required node affinity, offers its runtime class, and every NoSchedule and
// NoExecute taint of the node is tolerated. Pods are created with `spec.nodeName` set, as kube-scheduler
// would bind them — simple and exact, at the price of not checking free resources (Kubernetes' DaemonSet
// pods are placed that way too before 1.12; node-level services are expected to be sized in). Like
// Kubernetes, daemon pods tolerate the node-condition taints (not-ready/unreachable NoExecute with no
// time limit, so they are never evicted for an unreachable node; memory/disk/pid-pressure and
// unschedulable NoSchedule, so they run on cordoned nodes). A taint added later evicts the pod only if it
// is NoExecute; a node that stops matching (labels) loses its pod.
//
// Pods are labelled `controller-revision-hash` (a hash of the template). Updates:
// - RollingUpdate with maxUnavailable (default 1) and maxSurge (default 0), both resolved against the
//   number of nodes that should run the pod (percentages round up, as Kubernetes does for DaemonSets):
//   without surge, old pods are deleted — unavailable ones at once, available ones while at most
//   maxUnavailable nodes lack an available pod — and the new pod is created once the old is gone; with
//   surge, a new pod starts beside the old one (on up to maxSurge nodes at a time) and the old pod is
//   deleted once the new one is available.
// - OnDelete: pods are replaced by the new template only when deleted.
// Failed daemon pods are deleted (and replaced); pods on nodes that no longer exist are deleted.
//
// Status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
// numberAvailable, numberUnavailable, updatedNumberScheduled, observedGeneration.
import { kindFor, resolveIntOrPercent, isDeleting, isReady } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { templateHash } from './deployment.ts';
import { Expectations } from './expectations.ts';
import { errorMessage, ignoreNotFound } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import {
  TAINT_NODE_DISK_PRESSURE,
  TAINT_NODE_MEMORY_PRESSURE,
  TAINT_NODE_NOT_READY,
  TAINT_NODE_PID_PRESSURE,
  TAINT_NODE_UNREACHABLE,
  TAINT_NODE_UNSCHEDULABLE,
  type Toleration,
  nodeMatchesPodPlacement,
  nodeOffersRuntime,
  nodeTaints,
  untoleratedTaint,
} from './placement.ts';
import {
  OwnedPodIndex,
  availability,
  controllerRefTo,
  generateNameFor,
  isFinished,
  objectKeyOf,
  deleteOwnedPods,
  ownedPodHandlers,
} from './pods.ts';

const DAEMONSET = kindFor('apps/v1', 'DaemonSet')!;
const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;

export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
const COMPONENT = 'daemonset-controller';

/** What Kubernetes adds to every daemon pod (AddOrUpdateDaemonPodTolerations). */
export const DAEMON_POD_TOLERATIONS: readonly Toleration[] = Object.freeze([
  { key: TAINT_NODE_NOT_READY, operator: 'Exists', effect: 'NoExecute' },
  { key: TAINT_NODE_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' },
  { key: TAINT_NODE_DISK_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
  { key: TAINT_NODE_MEMORY_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
  { key: TAINT_NODE_PID_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
  { key: TAINT_NODE_UNSCHEDULABLE, operator: 'Exists', effect: 'NoSchedule' },
] as Toleration[]);

/** The template's tolerations plus the daemon pod defaults it does not already have. */
export function daemonPodTolerations(own: readonly Toleration[] | undefined): Toleration[] {
  const out = [...(own ?? [])];
  for (const t of DAEMON_POD_TOLERATIONS) {
    if (!out.some((o) => o.key === t.key && o.effect === t.effect)) out.push({ ...t });
  }
  return out;
}

/**
 * Whether a node should run the daemon pod (`shouldRun`: place a new one) and whether a pod already there
 * may stay (`shouldContinueRunning`: only NoExecute taints count) — Kubernetes' NodeShouldRunDaemonPod.
 */
export function nodeShouldRunDaemonPod(
  node: any,
  ds: any,
): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec.template.spec;
  if (!nodeMatchesPodPlacement(node, spec) || !nodeOffersRuntime(node, spec)) {
    return { shouldRun: false, shouldContinueRunning: false };
  }
  const tolerations = daemonPodTolerations(spec.tolerations);
  const taints = nodeTaints(node);
  return {
    shouldRun: !untoleratedTaint(taints, tolerations, ['NoSchedule', 'NoExecute']),
    shouldContinueRunning: !untoleratedTaint(taints, tolerations, ['NoExecute']),
  };
}

const hashOf = (pod: any): string | undefined => pod?.metadata?.labels?.[CONTROLLER_REVISION_HASH_LABEL];
const byCreation = (a: any, b: any) =>
  (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '')
    ? -1
    : (a.metadata.creationTimestamp ?? '') > (b.metadata.creationTimestamp ?? '')
      ? 1
      : a.metadata.name < b.metadata.name
        ? -1
        : 1;

export class DaemonSetController extends QueuedController {
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('DaemonSet');
  private daemonsets!: Informer<any>;
  private nodes!: Informer<any>;

  constructor(opts: ControllerOptions) {
    super(opts, COMPONENT);
  }

  async start(): Promise<void> {
    this.daemonsets = this.informers.informerFor(DAEMONSET);
    this.nodes = this.informers.informerFor(NODE);
    const pods = this.informers.informerFor(POD);
    const all = () => {
      for (const ds of this.daemonsets.values()) this.queue.add(objectKeyOf(ds));
    };
    this.removeHandlers.push(
      this.daemonsets.addHandler({
        onAdd: (ds) => this.queue.add(objectKeyOf(ds)),
        onUpdate: (_o, ds) => this.queue.add(objectKeyOf(ds)),
        onDelete: (ds) => this.expectations.delete(objectKeyOf(ds)),
      }),
      this.nodes.addHandler({
        onAdd: all,
        onDelete: all,
        onUpdate: (old, node) => {
          const facts = (n: any) =>
            JSON.stringify([
              n.metadata.labels,
              n.spec?.taints,
              n.status?.runtimeHandlers?.map((h: any) => h.name),
            ]);
          if (facts(old) !== facts(node)) all();
        },
      }),
      pods.addHandler(ownedPodHandlers(this.index, this.expectations, this.queue)),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  protected async reconcile(key: string): Promise<void> {
    const ds = this.daemonsets.get(key);
    if (!ds || isDeleting(ds)) return;
    const hash = templateHash(ds.spec.template);
    const minReadySeconds: number = ds.spec.minReadySeconds ?? 0;
    const now = Date.now();
    const isAvailable = (p: any) => availability(p, minReadySeconds, now).available;
    const owned = this.index.podsOf(ds.metadata.uid);
    const nodes = this.nodes.list();
    const nodeNames = new Set(nodes.map((n) => n.metadata.name));

    const byNode = new Map<string, any[]>();
    const toCreate: string[] = [];
    const toDelete: any[] = [];
    for (const p of owned) {
      if (isDeleting(p)) continue;
      const nodeName: string | undefined = p.spec?.nodeName;
      if (!nodeName || !nodeNames.has(nodeName)) {
        toDelete.push(p);
        continue;
      }
      if (p.status?.phase === 'Failed') {
        this.recorder.warning(
          ds,
          'FailedDaemonPod',
          `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${nodeName}, will try to kill it`,
        );
        toDelete.push(p);
        continue;
      }
      if (isFinished(p)) continue;
      const list = byNode.get(nodeName) ?? [];
      list.push(p);
      byNode.set(nodeName, list);
    }

    const surge = ds.spec.updateStrategy?.type === 'RollingUpdate';
    let desired = 0;
    const shouldRunOn: string[] = [];
    const counts = { current: 0, misscheduled: 0, ready: 0, available: 0, updated: 0 };
    for (const node of nodes) {
      const name: string = node.metadata.name;
      const pods = (byNode.get(name) ?? []).sort(byCreation);
      const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, ds);
      if (shouldRun) {
        desired++;
        shouldRunOn.push(name);
      }
      if (pods.length > 0) {
        if (shouldRun) {
          counts.current++;
          if (pods.some(isReady)) counts.ready++;
          if (pods.some(isAvailable)) counts.available++;
          if (pods.some((p) => hashOf(p) === hash)) counts.updated++;
        } else counts.misscheduled++;
      }
      if (shouldRun && pods.length === 0) toCreate.push(name);
      else if (!shouldContinueRunning) toDelete.push(...pods);
      else if (pods.length > 1) {
        // Keep the oldest pod, or during a surge update the oldest new and the oldest old pod.
        const keepNew = surge ? pods.find((p) => hashOf(p) === hash) : undefined;
        const keepOld = pods.find((p) => p !== keepNew);
        toDelete.push(...pods.filter((p) => p !== keepNew && p !== keepOld));
      }
    }

    if (this.expectations.satisfied(key)) {
      let acted = false;
      if (toDelete.length > 0) {
        await this.deletePods(key, ds, toDelete);
        acted = true;
      }
      if (toCreate.length > 0) {
        await this.createPods(key, ds, hash, toCreate);
        acted = true;
      }
      if (!acted && ds.spec.updateStrategy?.type !== 'OnDelete') {
        await this.rollingUpdate(key, ds, hash, shouldRunOn, byNode, isAvailable);
      }
    }

    let recheckMs: number | undefined;
    for (const p of owned) {
      const a = availability(p, minReadySeconds, now);
      if (!a.available && a.waitMs !== undefined) recheckMs = Math.min(recheckMs ?? Infinity, a.waitMs);
    }
    await this.writeStatus(ds, {
      desiredNumberScheduled: desired,
      currentNumberScheduled: counts.current,
      numberMisscheduled: counts.misscheduled,
      numberReady: counts.ready,
      numberAvailable: counts.available,
      numberUnavailable: Math.max(0, desired - counts.available),
      updatedNumberScheduled: counts.updated,
    });
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }

  /** One step of Kubernetes' DaemonSet rolling update (with or without surge). */
  private async rollingUpdate(
    key: string,
    ds: any,
    hash: string,
    nodes: string[],
    byNode: Map<string, any[]>,
    isAvailable: (p: any) => boolean,
  ): Promise<void> {
    const ru = ds.spec.updateStrategy?.rollingUpdate ?? {};
    const total = nodes.length;
    const maxSurge = resolveIntOrPercent(ru.maxSurge ?? 0, total, true);
    let maxUnavailable = resolveIntOrPercent(ru.maxUnavailable ?? 1, total, true);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;

    const oldToDelete: any[] = [];
    const newOn: string[] = [];
    if (maxSurge === 0) {
      let unavailable = 0;
      const candidates: any[] = [];
      for (const node of nodes) {
        const pods = byNode.get(node) ?? [];
        const newPod = pods.find((p) => hashOf(p) === hash);
        const oldPod = pods.find((p) => hashOf(p) !== hash);
        if (!newPod && !oldPod) unavailable++;
        else if (newPod) {
          if (!isAvailable(newPod)) unavailable++;
        } else if (!isAvailable(oldPod)) {
          oldToDelete.push(oldPod); // not serving anyway: replace at once
          unavailable++;
        } else candidates.push(oldPod);
      }
      const budget = Math.max(0, maxUnavailable - unavailable);
      oldToDelete.push(...candidates.slice(0, budget));
    } else {
      let surging = 0;
      const candidates: string[] = [];
      for (const node of nodes) {
        const pods = byNode.get(node) ?? [];
        const newPod = pods.find((p) => hashOf(p) === hash);
        const oldPod = pods.find((p) => hashOf(p) !== hash);
        if (!oldPod) continue;
        if (!newPod) {
          if (!isAvailable(oldPod)) newOn.push(node);
          else candidates.push(node);
        } else if (isAvailable(newPod)) oldToDelete.push(oldPod);
        else surging++;
      }
      newOn.push(...candidates.slice(0, Math.max(0, maxSurge - surging)));
    }
    if (oldToDelete.length > 0) await this.deletePods(key, ds, oldToDelete);
    if (newOn.length > 0) await this.createPods(key, ds, hash, newOn);
  }

  private async createPods(key: string, ds: any, hash: string, nodeNames: string[]): Promise<void> {
    const { name, namespace } = ds.metadata;
    const template = ds.spec.template;
    const podFor = (nodeName: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: generateNameFor(`${name}-`),
        namespace,
        labels: { ...template.metadata?.labels, [CONTROLLER_REVISION_HASH_LABEL]: hash },
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [controllerRefTo(ds)],
      },
      spec: { ...template.spec, nodeName, tolerations: daemonPodTolerations(template.spec.tolerations) },
    });
    this.expectations.expect(key, nodeNames.length, 0);
    const results = await Promise.allSettled(nodeNames.map((n) => this.objects.create(podFor(n), namespace)));
    let firstError: unknown;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        this.recorder.normal(ds, 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
        return;
      }
      this.expectations.creationObserved(key);
      firstError ??= r.reason;
      this.recorder.warning(
        ds,
        'FailedCreate',
        `Error creating pod on node ${nodeNames[i]}: ${errorMessage(r.reason)}`,
      );
    });
    if (firstError !== undefined) throw firstError;
    this.log.info({ daemonset: key, created: nodeNames.length }, 'daemonset-controller: created pods');
  }

  private deletePods(key: string, ds: any, pods: any[]): Promise<void> {
    return deleteOwnedPods(
      { objects: this.objects, expectations: this.expectations, recorder: this.recorder },
      key,
      ds,
      pods,
    );
  }

  private async writeStatus(ds: any, s: Record<string, number>): Promise<void> {
    const { namespace, name, uid, generation } = ds.metadata;
    await ignoreNotFound(
      this.objects.mutate(
        DAEMONSET,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          const prev = obj.status ?? {};
          const next = { ...prev, ...s, observedGeneration: generation };
          if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
          obj.status = next;
          return obj;
        },
        'status',
      ),
    );
  }
}
