// Starts every controller of the control plane on one ObjectStore, sharing one informer per kind and one
// event recorder.
import type { ObjectStore } from '../store/objects.ts';
import { BootstrapTokenCleaner } from './bootstrap-token-cleaner.ts';
import { type Clock, CronJobController } from './cronjob.ts';
import { CsrApprover, type ParseRequest } from './csr-approver.ts';
import { CsrSigner, type SignRequest } from './csr-signer.ts';
import { DaemonSetController } from './daemonset.ts';
import { DeploymentController } from './deployment.ts';
import { upgradeDeploymentsToReplicaSets } from './deployment-upgrade.ts';
import { DisruptionController } from './disruption.ts';
import { EndpointSliceController } from './endpointslice.ts';
import { PersistentVolumeController } from './persistentvolume.ts';
import { EventGarbageCollector, EventRecorder, objectStoreEventSink } from './events.ts';
import { GarbageCollector } from './gc.ts';
import { HorizontalPodAutoscalerController, type HorizontalPodAutoscalerControllerOptions } from './hpa.ts';
import { JobController } from './job.ts';
import { type Log, defaultLog, errorMessage } from '../lib/log.ts';
import { NamespaceController, ensureDefaultNamespaces } from './namespace.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import { ReplicaSetController } from './replicaset.ts';
import { type QuotaCoordinator, ResourceQuotaController } from './resourcequota.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { ServiceAccountController } from './serviceaccount.ts';
import { ClusterRoleAggregationController } from './clusterrole-aggregation.ts';
import { RootCAPublisher } from './rootca.ts';
import { StatefulSetController } from './statefulset.ts';
import { statefulSetUpdateAdmission } from './statefulset-update.ts';

export { ensureDefaultNamespaces } from './namespace.ts';

export interface ControllerManagerOptions {
  objects: ObjectStore;
  log?: Log;
  /** Node lease grace period before a node is marked Ready=Unknown. Default 40 s. */
  nodeGracePeriodSeconds?: number;
  /** How often node leases are checked. Default 5 s. */
  nodeMonitorPeriodMs?: number;
  /**
   * How long pods stay on a not-ready / unreachable node before they are evicted (unless they tolerate
   * it). Default 300 s.
   */
  podEvictionTimeoutSeconds?: number;
  /** Job replacement-pod backoff after failures (first delay; doubles). Default 10 s. */
  jobPodFailureBackoffMs?: number;
  /** The CronJob controller's clock (tests). Default: the system clock. */
  cronJobClock?: Clock;
  /** Events not updated for this long are deleted. Default 3600 s. */
  eventTTLSeconds?: number;
  /** Record events through this recorder instead of one writing into `objects`. */
  recorder?: EventRecorder;
  /** Reuse informers (e.g. the scheduler's); by default the manager creates, starts and stops its own. */
  informers?: SharedInformers;
  /** Quota admission of this process: the quota controller's recounts run serialized with its charges. */
  quota?: QuotaCoordinator;
  /** Node client certificates (CSR approver + signer), when the cluster has a CA to sign with. */
  certificateSigning?: { parse: ParseRequest; sign: SignRequest };
  /** Where the HPA controller reads pods' CPU/memory and Pods metrics; its sync period (default 15 s). */
  hpa?: Pick<
    HorizontalPodAutoscalerControllerOptions,
    'resources' | 'podMetrics' | 'syncPeriodMs' | 'downscaleStabilizationSeconds'
  >;
  /** The cluster CA (PEM) published as kube-root-ca.crt in every namespace; none without TLS. */
  rootCACert?: string;
}

export interface RunningControllers {
  /** The informers the controllers share; pass them to the Scheduler to cache pods once per process. */
  informers: SharedInformers;
  /**
   * The event recorder the controllers share; give it to the scheduler as well
   * (`recorder.withComponent('default-scheduler')`) so all control-plane events share one backlog,
   * aggregation cache and rate limits.
   */
  recorder: EventRecorder;
  /** Resolves when the default namespaces exist and every controller has synced its caches. */
  ready: Promise<void>;
  /** Stop every controller, wait for reconciles in flight and flush events (await it before closing the store). */
  stop(): Promise<void>;
}

interface Controller {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function startControllers(opts: ControllerManagerOptions): RunningControllers {
  const log = opts.log ?? defaultLog;
  const ownInformers = !opts.informers;
  const informers = opts.informers ?? new SharedInformers(opts.objects, { log });
  const recorder =
    opts.recorder ??
    new EventRecorder({ sink: objectStoreEventSink(opts.objects), component: 'controller-manager', log });
  const common = { objects: opts.objects, informers, log, recorder };
  // kube-apiserver's StatefulSet update rule, on the store every writer (the API included) goes through.
  opts.objects.addUpdateHook(statefulSetUpdateAdmission);
  // Deployments and ReplicaSets start once a data dir of an earlier Strata (Deployments owning their pods,
  // history in ControllerRevisions) has been moved to ReplicaSets: see deployment-upgrade.ts.
  const workloads: Controller[] = [new DeploymentController(common), new ReplicaSetController(common)];
  const controllers: Controller[] = [
    new NamespaceController(common),
    new ServiceAccountController(common),
    new ClusterRoleAggregationController(common),
    ...(opts.rootCACert ? [new RootCAPublisher({ ...common, caCert: opts.rootCACert })] : []),
    new BootstrapTokenCleaner(common),
    new JobController({ ...common, podFailureBackoffMs: opts.jobPodFailureBackoffMs }),
    new CronJobController({ ...common, clock: opts.cronJobClock }),
    new DaemonSetController(common),
    new StatefulSetController(common),
    new DisruptionController(common),
    new HorizontalPodAutoscalerController({ ...common, ...opts.hpa }),
    new EndpointSliceController(common),
    new PersistentVolumeController(common),
    new ResourceQuotaController({ ...common, coordinator: opts.quota }),
    new GarbageCollector(common),
    new NodeLifecycleController({
      ...common,
      gracePeriodMs:
        opts.nodeGracePeriodSeconds !== undefined ? opts.nodeGracePeriodSeconds * 1000 : undefined,
      monitorPeriodMs: opts.nodeMonitorPeriodMs,
      podEvictionTimeoutMs:
        opts.podEvictionTimeoutSeconds !== undefined ? opts.podEvictionTimeoutSeconds * 1000 : undefined,
    }),
    new EventGarbageCollector({ objects: opts.objects, ttlSeconds: opts.eventTTLSeconds, log }),
    ...(opts.certificateSigning
      ? [
          new CsrApprover({ ...common, parse: opts.certificateSigning.parse }),
          new CsrSigner({ ...common, ...opts.certificateSigning }),
        ]
      : []),
  ];
  const upgraded = upgradeDeploymentsToReplicaSets(opts.objects, log);
  const started = [
    ...controllers.map((c) => c.start()),
    upgraded.then(() => Promise.all(workloads.map((c) => c.start()))),
  ];
  if (ownInformers) informers.start();
  const ready = (async () => {
    await ensureDefaultNamespaces(opts.objects);
    await Promise.all(started);
  })();
  // `ready` is for callers who want to wait; a failure is logged here so it never goes unhandled.
  ready.catch((err) => log.error({ err: errorMessage(err) }, 'controller-manager: start failed'));
  let stopping: Promise<void> | undefined;
  return {
    informers,
    recorder,
    ready,
    stop() {
      stopping ??= (async () => {
        await upgraded.catch(() => undefined);
        await Promise.allSettled([...controllers, ...workloads].map((c) => c.stop()));
        if (ownInformers) informers.stop();
        await recorder.flush();
      })();
      return stopping;
    },
  };
}
