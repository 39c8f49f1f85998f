// Starts every controller of the control plane on one ObjectStore, sharing one informer per kind.
import type { ObjectStore } from '../store/objects.ts';
import { DeploymentController } from './deployment.ts';
import { GarbageCollector } from './gc.ts';
import { JobController } from './job.ts';
import { type Log, defaultLog, errorMessage } from './log.ts';
import { NamespaceController, ensureDefaultNamespaces } from './namespace.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import { SharedInformers } from './shared-informers.ts';

export { ensureDefaultNamespaces } from './namespace.ts';

export interface ControllerManagerOptions {
  objects: ObjectStore;
  log?: Log;
  /** Node lease grace period before a node is marked Ready=Unknown. Default 40 s. */
  nodeGracePeriodSeconds?: number;
  /** How often node leases are checked. Default 5 s. */
  nodeMonitorPeriodMs?: number;
  /** Job replacement-pod backoff after failures (first delay; doubles). Default 10 s. */
  jobPodFailureBackoffMs?: number;
  /** Reuse informers (e.g. the scheduler's); by default the manager creates, starts and stops its own. */
  informers?: SharedInformers;
}

export interface RunningControllers {
  /** The informers the controllers share; pass them to the Scheduler to cache pods once per process. */
  informers: SharedInformers;
  /** Resolves when the default namespaces exist and every controller has synced its caches. */
  ready: Promise<void>;
  /** Stop every controller and wait for reconciles in flight (await it before closing the store). */
  stop(): Promise<void>;
}

export function startControllers(opts: ControllerManagerOptions): RunningControllers {
  const log = opts.log ?? defaultLog;
  const ownInformers = !opts.informers;
  const informers = opts.informers ?? new SharedInformers(opts.objects, { log });
  const common = { objects: opts.objects, informers, log };
  const controllers = [
    new NamespaceController(common),
    new DeploymentController(common),
    new JobController({ ...common, podFailureBackoffMs: opts.jobPodFailureBackoffMs }),
    new GarbageCollector(common),
    new NodeLifecycleController({
      ...common,
      gracePeriodMs:
        opts.nodeGracePeriodSeconds !== undefined ? opts.nodeGracePeriodSeconds * 1000 : undefined,
      monitorPeriodMs: opts.nodeMonitorPeriodMs,
    }),
  ];
  const started = controllers.map((c) => c.start());
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
    ready,
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled(controllers.map((c) => c.stop()));
        if (ownInformers) informers.stop();
      })();
      return stopping;
    },
  };
}
