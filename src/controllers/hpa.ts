// The HorizontalPodAutoscaler controller, after kube-controller-manager's (horizontal.go): every sync
// period each HPA reads its target's scale (Deployments, StatefulSets, ReplicaSets), the per-pod
// readings of its metrics, computes a proposal per metric (hpa-replicas.ts), takes the largest,
// normalizes it (stabilization, rate policies, min/max: hpa-behavior.ts), writes spec.replicas of the
// target, records SuccessfulRescale, and reports currentMetrics and the AbleToScale / ScalingActive /
// ScalingLimited conditions in status.
//
// Readings come from two small interfaces the composition root wires: resource usage per pod (the
// server's metrics poller — the agents' stats summaries that metrics.k8s.io serves) and, optionally, a
// named per-pod metric such as `requests_per_second`.
import {
  type Condition,
  type HorizontalPodAutoscaler,
  type KindInfo,
  type MetricSpec,
  type MetricStatus,
  formatCpu,
  hpaV1SpecToV2,
  hpaV2StatusToV1,
  kindFor,
  labelSelectorMatcher,
  parseCpu,
  parseMemory,
  parseQuantity,
  setCondition,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { errorMessage } from '../lib/log.ts';
import { ApiError, nowRfc3339 } from '../store/objects.ts';
import { ScaleHistory } from './hpa-behavior.ts';
import {
  MetricError,
  type PodInfo,
  type Proposal,
  type Reading,
  averageValueReplicas,
  resourceUtilizationReplicas,
} from './hpa-replicas.ts';
import type { ControllerOptions } from './options.ts';
import { objectKeyOf } from './pods.ts';
import { QueuedController } from './queued-controller.ts';

const COMPONENT = 'horizontal-pod-autoscaler';
const HPA = kindFor('autoscaling/v2', 'HorizontalPodAutoscaler')!;
/** Objects written as autoscaling/v1 share HPA's storage; their status is written in v1's shape. */
const HPA_V1 = kindFor('autoscaling/v1', 'HorizontalPodAutoscaler')!;
const POD = kindFor('v1', 'Pod')!;
/** The kinds with a scale subresource (src/server/routes/subresources.ts serves the same three). */
const SCALABLE: Record<string, KindInfo> = {
  Deployment: kindFor('apps/v1', 'Deployment')!,
  StatefulSet: kindFor('apps/v1', 'StatefulSet')!,
  ReplicaSet: kindFor('apps/v1', 'ReplicaSet')!,
};

/** The shape of a node's stats summary the HPA reads (the server's MetricsPoller hands these out). */
export interface PodUsageSummary {
  podRef: { name: string; namespace: string; uid: string };
  containers: {
    name: string;
    cpu?: { time: string; usageNanoCores?: number };
    memory?: { time: string; workingSetBytes?: number };
  }[];
}
/** Where CPU and memory readings come from: the latest stats summary of every node. */
export interface ResourceMetricsSource {
  fresh(): Promise<{ summary?: { pods: PodUsageSummary[] } }[]>;
  /** The window each rate covers (ms). */
  readonly intervalMs: number;
}
/** Where a Pods metric (e.g. `requests_per_second`) comes from: per-pod values of the named metric. */
export interface PodMetricsSource {
  podMetric(namespace: string, metric: string, pods: string[]): Promise<Map<string, Reading>>;
}

export interface HorizontalPodAutoscalerControllerOptions extends ControllerOptions {
  resources?: ResourceMetricsSource;
  podMetrics?: PodMetricsSource;
  /** kube's --horizontal-pod-autoscaler-sync-period. Default 15 s. */
  syncPeriodMs?: number;
  /** kube's --horizontal-pod-autoscaler-downscale-stabilization for HPAs without behavior. Default 300 s. */
  downscaleStabilizationSeconds?: number;
  now?: () => number;
}

interface Computed {
  replicas: number;
  metricName: string;
  statuses: MetricStatus[];
  /** ScalingActive reason/message when every metric was read. */
  active?: [string, string];
  /** The first failure: its reason (FailedGetResourceMetric, …) and message. */
  failure?: [string, string];
}

function podInfo(pod: any, resource?: 'cpu' | 'memory'): PodInfo {
  const cond = (pod.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
  let request: number | undefined;
  if (resource) {
    request = 0;
    for (const c of pod.spec?.containers ?? []) {
      const q = c.resources?.requests?.[resource];
      if (q === undefined) {
        request = undefined;
        break;
      }
      request += resource === 'cpu' ? parseCpu(q) : parseMemory(q);
    }
  }
  return {
    name: pod.metadata.name,
    phase: pod.status?.phase,
    deleting: !!pod.metadata.deletionTimestamp,
    startTime: pod.status?.startTime ? Date.parse(pod.status.startTime) : undefined,
    ready: cond
      ? {
          status: cond.status,
          lastTransitionTime: cond.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : undefined,
        }
      : undefined,
    request,
  };
}

/** kube's metricNameProposal: how events and conditions name a metric. */
function metricLabel(m: MetricSpec): string {
  switch (m.type) {
    case 'Resource':
      return m.resource!.target.type === 'Utilization'
        ? `${m.resource!.name} resource utilization (percentage of request)`
        : `${m.resource!.name} resource`;
    case 'ContainerResource':
      return m.containerResource!.target.type === 'Utilization'
        ? `${m.containerResource!.name} container resource utilization (percentage of request)`
        : `${m.containerResource!.name} container resource`;
    case 'Pods':
      return `pods metric ${m.pods!.metric.name}`;
    default:
      return `${m.type.toLowerCase()} metric`;
  }
}

export class HorizontalPodAutoscalerController extends QueuedController {
  private hpas!: Informer<HorizontalPodAutoscaler>;
  private pods!: Informer<any>;
  private timer?: ReturnType<typeof setInterval>;
  private readonly history: ScaleHistory;
  private readonly o: HorizontalPodAutoscalerControllerOptions;
  private readonly now: () => number;

  constructor(opts: HorizontalPodAutoscalerControllerOptions) {
    super(opts, COMPONENT);
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.history = new ScaleHistory({ downscaleStabilizationSeconds: opts.downscaleStabilizationSeconds });
  }

  async start(): Promise<void> {
    this.hpas = this.informers.informerFor(HPA);
    this.pods = this.informers.informerFor(POD);
    this.removeHandlers.push(
      this.hpas.addHandler({
        onAdd: (h) => this.queue.add(objectKeyOf(h)),
        onUpdate: (old, h) => {
          if (old.metadata.generation !== h.metadata.generation) this.queue.add(objectKeyOf(h));
        },
        onDelete: (h) => this.history.forget(objectKeyOf(h)),
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    // kube resyncs every HPA each period: readings change without any object changing.
    this.timer = setInterval(() => {
      for (const h of this.hpas.values()) this.queue.add(objectKeyOf(h));
    }, this.o.syncPeriodMs ?? 15_000);
    this.timer.unref?.();
  }

  override async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await super.stop();
  }

  /** Reconcile one HPA now (tests). */
  syncNow(namespace: string, name: string): Promise<void> {
    return this.reconcile(`${namespace}/${name}`);
  }

  protected async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const stored = await this.objects.get(HPA, namespace, name);
    if (!stored || stored.metadata.deletionTimestamp) return;
    // A v1 object is reconciled as the v2 object kube converts it to (one CPU Utilization metric).
    const v1 = stored.apiVersion === 'autoscaling/v1';
    const hpa: HorizontalPodAutoscaler = v1
      ? {
          ...structuredClone(stored),
          apiVersion: 'autoscaling/v2',
          spec: hpaV1SpecToV2(stored.spec),
          status: stored.status?.lastScaleTime ? { lastScaleTime: stored.status.lastScaleTime } : {},
        }
      : structuredClone(stored);
    try {
      await this.reconcileHpa(key, hpa, v1);
    } catch (err) {
      if (err instanceof ApiError && err.status.code === 409) this.queue.add(key);
      else this.log.warn({ hpa: key, err: errorMessage(err) }, 'hpa: reconcile failed');
    }
  }

  private async reconcileHpa(key: string, hpa: HorizontalPodAutoscaler, v1 = false): Promise<void> {
    const ns = hpa.metadata.namespace!;
    const ref = hpa.spec.scaleTargetRef;
    const now = this.now();
    const status = structuredClone(hpa.status ?? {});
    const setCond = (type: string, st: 'True' | 'False', reason: string, message: string) => {
      status.conditions = setCondition(status.conditions as Condition[] | undefined, {
        type,
        status: st,
        reason,
        message,
      });
    };
    const writeStatus = async () => {
      status.observedGeneration = hpa.metadata.generation;
      // An autoscaling/v1 object gets v1's status shape (kinds/hpa-v1.ts).
      await this.objects.updateStatus(v1 ? HPA_V1 : HPA, ns, hpa.metadata.name!, {
        metadata: { resourceVersion: hpa.metadata.resourceVersion },
        status: v1 ? hpaV2StatusToV1(status) : status,
      });
    };
    const kind = SCALABLE[ref.kind];
    const target = kind ? await this.objects.get(kind, ns, ref.name) : undefined;
    if (!target) {
      const message = kind
        ? `the HPA controller was unable to get the target's current scale: ${ref.kind.toLowerCase()}s "${ref.name}" not found`
        : `the HPA controller was unable to get the target's current scale: no scale subresource for kind ${ref.kind}`;
      setCond('AbleToScale', 'False', 'FailedGetScale', message);
      this.recorder.warning(hpa, 'FailedGetScale', message);
      return writeStatus();
    }
    const specReplicas: number = target.spec.replicas ?? 1;
    const minReplicas = hpa.spec.minReplicas ?? 1;
    let desired = 0;
    let reason = '';
    let rescale: boolean;
    let statuses: MetricStatus[] | undefined = status.currentMetrics ?? undefined;
    if (specReplicas === 0 && minReplicas !== 0) {
      rescale = false;
      setCond(
        'ScalingActive',
        'False',
        'ScalingDisabled',
        'scaling is disabled since the replica count of the target is zero',
      );
    } else if (specReplicas > hpa.spec.maxReplicas) {
      desired = hpa.spec.maxReplicas;
      reason = 'Current number of replicas above Spec.MaxReplicas';
      rescale = true;
    } else if (specReplicas < minReplicas) {
      desired = minReplicas;
      reason = 'Current number of replicas below Spec.MinReplicas';
      rescale = true;
    } else {
      const selector = target.spec.selector;
      const match = labelSelectorMatcher(selector);
      const pods = [...this.pods.values()].filter(
        (p) => p.metadata.namespace === ns && match(p.metadata.labels),
      );
      const computed = await this.computeReplicas(hpa, specReplicas, pods, now);
      statuses = computed.statuses;
      if (computed.replicas < 0) {
        setCond(
          'AbleToScale',
          'True',
          'SucceededGetScale',
          "the HPA controller was able to get the target's current scale",
        );
        setCond('ScalingActive', 'False', computed.failure![0], computed.failure![1]);
        this.recorder.warning(hpa, computed.failure![0], computed.failure![1]);
        this.recorder.warning(
          hpa,
          'FailedComputeMetricsReplicas',
          `invalid metrics (${hpa.spec.metrics?.length ?? 0} invalid out of ${hpa.spec.metrics?.length ?? 0}), first error is: ${computed.failure![1]}`,
        );
        status.currentReplicas = specReplicas;
        status.desiredReplicas = specReplicas;
        status.currentMetrics = statuses;
        return writeStatus();
      }
      if (computed.failure) setCond('ScalingActive', 'False', computed.failure[0], computed.failure[1]);
      else setCond('ScalingActive', 'True', computed.active![0], computed.active![1]);
      desired = computed.replicas;
      if (desired > specReplicas) reason = `${computed.metricName} above target`;
      if (desired < specReplicas) reason = 'All metrics below target';
      const n = this.history.normalize({
        key,
        currentReplicas: specReplicas,
        desiredReplicas: desired,
        minReplicas,
        maxReplicas: hpa.spec.maxReplicas,
        behavior: hpa.spec.behavior,
        now,
      });
      setCond('AbleToScale', 'True', n.ableReason, n.ableMessage);
      setCond('ScalingLimited', n.limited ? 'True' : 'False', n.limitReason, n.limitMessage);
      desired = n.replicas;
      rescale = desired !== specReplicas;
    }
    if (rescale) {
      const next = structuredClone(target);
      next.spec.replicas = desired;
      try {
        await this.objects.update(next, ns);
      } catch (err) {
        const message = `New size: ${desired}; reason: ${reason}; error: ${errorMessage(err)}`;
        setCond(
          'AbleToScale',
          'False',
          'FailedUpdateScale',
          `the HPA controller was unable to update the target scale: ${errorMessage(err)}`,
        );
        this.recorder.warning(hpa, 'FailedRescale', message);
        await writeStatus();
        throw err;
      }
      setCond(
        'AbleToScale',
        'True',
        'SucceededRescale',
        `the HPA controller was able to update the target scale to ${desired}`,
      );
      this.recorder.normal(hpa, 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`);
      this.history.recordScale(key, hpa.spec.behavior, specReplicas, desired, now);
      status.lastScaleTime = nowRfc3339();
    } else desired = specReplicas === 0 && minReplicas !== 0 ? 0 : desired || specReplicas;
    status.currentReplicas = target.status?.replicas ?? specReplicas;
    status.desiredReplicas = desired;
    status.currentMetrics = statuses ?? null;
    await writeStatus();
  }

  /** computeReplicasForMetrics: the largest proposal; -1 when no metric could be read. */
  private async computeReplicas(
    hpa: HorizontalPodAutoscaler,
    current: number,
    pods: any[],
    now: number,
  ): Promise<Computed> {
    const metrics = hpa.spec.metrics ?? [];
    const out: Computed = { replicas: -1, metricName: '', statuses: [] };
    let invalid = 0;
    for (const m of metrics) {
      try {
        const [proposal, st] = await this.proposalFor(hpa, m, current, pods, now);
        out.statuses.push(st);
        if (proposal.replicas > out.replicas) {
          out.replicas = proposal.replicas;
          out.metricName = metricLabel(m);
          out.active = [
            'ValidMetricFound',
            `the HPA was able to successfully calculate a replica count from ${out.metricName}`,
          ];
        }
      } catch (err) {
        invalid++;
        out.statuses.push({ type: m.type });
        const reason =
          m.type === 'Resource' || m.type === 'ContainerResource'
            ? 'FailedGetResourceMetric'
            : m.type === 'Pods'
              ? 'FailedGetPodsMetric'
              : m.type === 'Object'
                ? 'FailedGetObjectMetric'
                : 'FailedGetExternalMetric';
        out.failure ??= [reason, `the HPA was unable to compute the replica count: ${errorMessage(err)}`];
      }
    }
    // kube: no scaling at all when every metric failed, and no scaling down when any did.
    if (invalid >= metrics.length || (invalid > 0 && out.replicas < current)) out.replicas = -1;
    return out;
  }

  private async proposalFor(
    hpa: HorizontalPodAutoscaler,
    m: MetricSpec,
    current: number,
    pods: any[],
    now: number,
  ): Promise<[Proposal, MetricStatus]> {
    const ns = hpa.metadata.namespace!;
    if (m.type === 'Resource' || m.type === 'ContainerResource') {
      const src = m.type === 'Resource' ? m.resource! : m.containerResource!;
      const resource = src.name as 'cpu' | 'memory';
      const container = m.type === 'ContainerResource' ? m.containerResource!.container : undefined;
      const readings = await this.resourceReadings(ns, resource, container);
      const infos = pods.map((p) => {
        const info = podInfo(p, resource);
        if (container) {
          const c = (p.spec?.containers ?? []).find((x: any) => x.name === container);
          const q = c?.resources?.requests?.[resource];
          info.request = q === undefined ? undefined : resource === 'cpu' ? parseCpu(q) : parseMemory(q);
        }
        return info;
      });
      const fmt = (v: number) => (resource === 'cpu' ? formatCpu(v) : String(Math.round(v)));
      let proposal: Proposal;
      if (src.target.type === 'Utilization') {
        proposal = resourceUtilizationReplicas({
          currentReplicas: current,
          targetUtilization: src.target.averageUtilization!,
          resource,
          pods: infos,
          readings,
          now,
        });
      } else {
        const target =
          resource === 'cpu' ? parseCpu(src.target.averageValue!) : parseMemory(src.target.averageValue!);
        proposal = averageValueReplicas({
          currentReplicas: current,
          targetAverage: target,
          pods: infos,
          readings,
          now,
        });
      }
      const cur = {
        averageValue: fmt(proposal.averageValue),
        ...(proposal.utilization !== undefined ? { averageUtilization: proposal.utilization } : {}),
      };
      return [
        proposal,
        m.type === 'Resource'
          ? { type: 'Resource', resource: { name: resource, current: cur } }
          : {
              type: 'ContainerResource',
              containerResource: { name: resource, container: container!, current: cur },
            },
      ];
    }
    if (m.type === 'Pods') {
      if (!this.o.podMetrics) throw new MetricError(`no source of pods metrics is configured`);
      const p = m.pods!;
      const names = pods.map((x) => x.metadata.name as string);
      const readings = await this.o.podMetrics.podMetric(ns, p.metric.name, names);
      if (readings.size === 0)
        throw new MetricError(
          `unable to get metric ${p.metric.name}: no metrics returned from pods metrics source`,
        );
      const target = parseQuantity(p.target.averageValue!);
      const proposal = averageValueReplicas({
        currentReplicas: current,
        targetAverage: target,
        pods: pods.map((x) => podInfo(x)),
        readings,
        now,
      });
      const avg = proposal.averageValue;
      return [
        proposal,
        {
          type: 'Pods',
          pods: {
            metric: { name: p.metric.name },
            current: { averageValue: Number.isInteger(avg) ? String(avg) : `${Math.round(avg * 1000)}m` },
          },
        },
      ];
    }
    throw new MetricError(
      `${m.type} metrics are not served by this cluster (no custom or external metrics API)`,
    );
  }

  /** Per-pod usage of a resource (millicores or bytes) in the namespace, from the nodes' summaries. */
  private async resourceReadings(
    namespace: string,
    resource: 'cpu' | 'memory',
    container?: string,
  ): Promise<Map<string, Reading>> {
    const src = this.o.resources;
    if (!src) throw new MetricError('no source of resource metrics is configured');
    const out = new Map<string, Reading>();
    for (const scrape of await src.fresh()) {
      for (const p of scrape.summary?.pods ?? []) {
        if (p.podRef.namespace !== namespace) continue;
        const cs = container ? p.containers.filter((c) => c.name === container) : p.containers;
        // As metrics-server: a pod is reported once every container has a reading.
        if (!cs.length) continue;
        let value = 0;
        let time = 0;
        let complete = true;
        for (const c of cs) {
          const v = resource === 'cpu' ? c.cpu?.usageNanoCores : c.memory?.workingSetBytes;
          const t = resource === 'cpu' ? c.cpu?.time : c.memory?.time;
          if (v === undefined || !t) {
            complete = false;
            break;
          }
          value += resource === 'cpu' ? v / 1e6 : v;
          time = Math.max(time, Date.parse(t));
        }
        if (complete) out.set(p.podRef.name, { value, timestamp: time, windowMs: src.intervalMs });
      }
    }
    if (out.size === 0)
      throw new MetricError(
        `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`,
      );
    return out;
  }
}
