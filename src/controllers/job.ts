// Job controller: runs pods of the Job's template until `completions` of them have succeeded, with at
// most `parallelism` running at once.
//
// - Pods are labelled `job-name` and `controller-uid` (and the `batch.kubernetes.io/` forms) and owned by
//   the Job (controller ownerReference); counts come from the owned pods' phases.
// - Failures beyond `backoffLimit` (failed pods, plus container restarts under restartPolicy OnFailure)
//   fail the Job with reason BackoffLimitExceeded; running longer than `activeDeadlineSeconds` fails it
//   with DeadlineExceeded. Either way its active pods are deleted.
// - Replacement pods after a failure wait out an exponential backoff (10 s, 20 s, ... up to 6 min), as
//   in Kubernetes.
// - Success: condition Complete and status.completionTime; leftover active pods are deleted.
// - Creations and deletions are tracked as expectations: until the informer has shown this controller's
//   own writes, it does not act on (stale) counts, so lagging caches never produce extra pods.
// - `ttlSecondsAfterFinished`: the finished Job is deleted that long after it finished (its pods follow
//   through the garbage collector).
import { type Condition, kindFor, setCondition } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ObjectStore } from '../store/objects.ts';
import type { ControllerOptions } from './deployment.ts';
import { Expectations } from './expectations.ts';
import { type Log, defaultLog, errorCode, ignoreNotFound } from './log.ts';
import {
  OwnedPodIndex,
  controllerRefTo,
  deletionOrder,
  generateNameFor,
  isActive,
  isDeleting,
  objectKeyOf,
} from './pods.ts';
import { SharedInformers } from './shared-informers.ts';
import { WorkQueue } from './workqueue.ts';

const JOB = kindFor('batch/v1', 'Job')!;
const POD = kindFor('v1', 'Pod')!;

export const JOB_NAME_LABEL = 'job-name';
export const CONTROLLER_UID_LABEL = 'controller-uid';
export const BATCH_JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const BATCH_CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';

export interface JobControllerOptions extends ControllerOptions {
  /** Delay before the replacement of the first failed pod; doubles per failure. Default 10 s; 0 disables. */
  podFailureBackoffMs?: number;
  /** Default 6 min. */
  maxPodFailureBackoffMs?: number;
}

/** The Job's finished condition (Complete or Failed with status True), if it has one. */
export function finishedCondition(job: any): Condition | undefined {
  return (job?.status?.conditions as Condition[] | undefined)?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

export class JobController {
  private readonly objects: ObjectStore;
  private readonly log: Log;
  private readonly ownInformers: boolean;
  private readonly informers: SharedInformers;
  private readonly queue: WorkQueue;
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('Job');
  private readonly podFailureBackoffMs: number;
  private readonly maxPodFailureBackoffMs: number;
  /** Per Job: failures seen so far and when the count last grew (for the replacement backoff). */
  private readonly failures = new Map<string, { count: number; at: number }>();
  private jobs!: Informer<any>;
  private readonly removeHandlers: (() => void)[] = [];

  constructor(opts: JobControllerOptions) {
    this.objects = opts.objects;
    this.log = opts.log ?? defaultLog;
    this.ownInformers = !opts.informers;
    this.informers = opts.informers ?? new SharedInformers(opts.objects, { log: this.log });
    this.podFailureBackoffMs = opts.podFailureBackoffMs ?? 10_000;
    this.maxPodFailureBackoffMs = opts.maxPodFailureBackoffMs ?? 360_000;
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      concurrency: opts.concurrency,
      log: this.log,
      name: 'job-controller',
    });
  }

  async start(): Promise<void> {
    this.jobs = this.informers.informerFor(JOB);
    const pods = this.informers.informerFor(POD);
    this.removeHandlers.push(
      this.jobs.addHandler({
        onAdd: (j) => this.queue.add(objectKeyOf(j)),
        onUpdate: (_o, j) => this.queue.add(objectKeyOf(j)),
        onDelete: (j) => {
          this.expectations.delete(objectKeyOf(j));
          this.failures.delete(objectKeyOf(j));
        },
      }),
      pods.addHandler({
        onAdd: (p) => {
          const ref = this.index.set(p);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          this.expectations.creationObserved(key);
          this.queue.add(key);
        },
        onUpdate: (old, p) => {
          const oldRef = this.index.delete(old);
          const ref = this.index.set(p);
          if (oldRef && oldRef.uid !== ref?.uid) this.queue.add(`${old.metadata.namespace}/${oldRef.name}`);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          if (!isDeleting(old) && isDeleting(p)) this.expectations.deletionObserved(key);
          this.queue.add(key);
        },
        onDelete: (p) => {
          const ref = this.index.delete(p);
          if (!ref) return;
          const key = `${p.metadata.namespace}/${ref.name}`;
          if (!isDeleting(p)) this.expectations.deletionObserved(key);
          this.queue.add(key);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  async stop(): Promise<void> {
    for (const remove of this.removeHandlers.splice(0)) remove();
    if (this.ownInformers) this.informers.stop();
    await this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private async reconcile(key: string): Promise<void> {
    const job = this.jobs.get(key);
    if (!job || isDeleting(job)) return;
    const spec = job.spec;
    const owned = this.index.podsOf(job.metadata.uid);
    const active = owned.filter(isActive);

    const done = finishedCondition(job);
    if (done) {
      // Finished: nothing may keep running; then honour ttlSecondsAfterFinished.
      if (active.length > 0 && this.expectations.satisfied(key)) await this.deletePods(key, active);
      await this.expireFinished(key, job, done);
      return;
    }

    const now = Date.now();
    const status = job.status ?? {};
    const startTime: string = status.startTime ?? new Date().toISOString();
    const succeeded = Math.max(
      status.succeeded ?? 0,
      owned.filter((p) => p.status?.phase === 'Succeeded').length,
    );
    let failed = Math.max(status.failed ?? 0, owned.filter((p) => p.status?.phase === 'Failed').length);
    const restarts =
      spec.template?.spec?.restartPolicy === 'OnFailure'
        ? active.reduce(
            (n, p) =>
              n +
              ((p.status?.containerStatuses ?? []) as any[]).reduce((m, c) => m + (c.restartCount ?? 0), 0),
            0,
          )
        : 0;
    const completions: number = spec.completions ?? 1;
    const parallelism: number = spec.parallelism ?? 1;
    const backoffLimit: number = spec.backoffLimit ?? 6;

    let finish: Condition | undefined;
    if (succeeded >= completions) {
      finish = { type: 'Complete', status: 'True' };
    } else if (failed + restarts > backoffLimit) {
      finish = {
        type: 'Failed',
        status: 'True',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      };
    } else if (
      spec.activeDeadlineSeconds &&
      now - Date.parse(startTime) >= spec.activeDeadlineSeconds * 1000
    ) {
      finish = {
        type: 'Failed',
        status: 'True',
        reason: 'DeadlineExceeded',
        message: 'Job was active longer than specified deadline',
      };
    }

    let activeCount = active.length;
    let recheckMs: number | undefined;
    if (finish) {
      if (active.length > 0) {
        await this.deletePods(key, active);
        // Pods stopped because the Job failed count as failed, as in Kubernetes.
        if (finish.type === 'Failed') failed += active.length;
      }
      activeCount = 0;
      this.log.info(
        { job: key, condition: finish.type, reason: finish.reason },
        'job-controller: job finished',
      );
    } else {
      if (spec.activeDeadlineSeconds) {
        recheckMs = Math.max(0, Date.parse(startTime) + spec.activeDeadlineSeconds * 1000 - now);
      }
      const want = Math.min(parallelism, completions - succeeded);
      if (this.expectations.satisfied(key)) {
        if (active.length < want) {
          const waitMs = this.failureBackoff(key, failed, now);
          if (waitMs > 0) {
            recheckMs = Math.min(recheckMs ?? Infinity, waitMs);
          } else {
            activeCount += await this.createPods(key, job, want - active.length);
          }
        } else if (active.length > want) {
          const extra = [...active].sort(deletionOrder).slice(0, active.length - want);
          activeCount -= await this.deletePods(key, extra);
        }
      }
    }

    await this.writeStatus(job, {
      startTime,
      active: activeCount,
      succeeded,
      failed,
      finish,
    });
    if (recheckMs !== undefined) this.queue.addAfter(key, recheckMs + 10);
  }

  /** ms to wait before creating replacement pods after `failed` failures (0: go ahead). */
  private failureBackoff(key: string, failed: number, now: number): number {
    if (failed === 0 || this.podFailureBackoffMs <= 0) return 0;
    let seen = this.failures.get(key);
    if (!seen || seen.count !== failed) {
      seen = { count: failed, at: now };
      this.failures.set(key, seen);
    }
    const delay = Math.min(
      this.maxPodFailureBackoffMs,
      this.podFailureBackoffMs * 2 ** Math.min(failed - 1, 30),
    );
    return Math.max(0, seen.at + delay - now);
  }

  private async createPods(key: string, job: any, n: number): Promise<number> {
    const { name, namespace, uid } = job.metadata;
    const template = job.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: generateNameFor(`${name}-`),
        namespace,
        labels: {
          ...template.metadata?.labels,
          [JOB_NAME_LABEL]: name,
          [CONTROLLER_UID_LABEL]: uid,
          [BATCH_JOB_NAME_LABEL]: name,
          [BATCH_CONTROLLER_UID_LABEL]: uid,
        },
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [controllerRefTo(job)],
      },
      spec: template.spec,
    };
    this.expectations.expect(key, n, 0);
    const results = await Promise.allSettled(
      Array.from({ length: n }, () => this.objects.create(pod, namespace)),
    );
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    for (let i = 0; i < failed.length; i++) this.expectations.creationObserved(key);
    if (failed.length > 0) throw failed[0].reason;
    this.log.info({ job: key, created: n }, 'job-controller: created pods');
    return n;
  }

  private async deletePods(key: string, pods: any[]): Promise<number> {
    this.expectations.expect(key, 0, pods.length);
    const results = await Promise.allSettled(
      pods.map((p) =>
        this.objects.delete(POD, p.metadata.namespace, p.metadata.name, {
          preconditions: { uid: p.metadata.uid },
        }),
      ),
    );
    let firstError: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      this.expectations.deletionObserved(key);
      if (errorCode(r.reason) !== 404 && firstError === undefined) firstError = r.reason;
    }
    if (firstError !== undefined) throw firstError;
    return pods.length;
  }

  private async writeStatus(
    job: any,
    s: { startTime: string; active: number; succeeded: number; failed: number; finish?: Condition },
  ): Promise<void> {
    const { namespace, name, uid } = job.metadata;
    await ignoreNotFound(
      this.objects.mutate(
        JOB,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid || finishedCondition(obj)) return undefined;
          const prev = obj.status ?? {};
          const now = new Date().toISOString();
          const next: any = {
            ...prev,
            startTime: prev.startTime ?? s.startTime,
            active: s.active,
            succeeded: s.succeeded,
            failed: s.failed,
          };
          if (s.finish) {
            next.conditions = setCondition(prev.conditions, { ...s.finish, lastProbeTime: now }, now);
            if (s.finish.type === 'Complete') next.completionTime = now;
          }
          if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
          obj.status = next;
          return obj;
        },
        'status',
      ),
    );
  }

  private async expireFinished(key: string, job: any, done: Condition): Promise<void> {
    const ttl = job.spec.ttlSecondsAfterFinished;
    if (ttl === undefined) return;
    const finishedAt = Date.parse(job.status?.completionTime ?? done.lastTransitionTime ?? '');
    if (!Number.isFinite(finishedAt)) return;
    const left = finishedAt + ttl * 1000 - Date.now();
    if (left > 0) {
      this.queue.addAfter(key, left + 10);
      return;
    }
    try {
      await this.objects.delete(JOB, job.metadata.namespace, job.metadata.name, {
        preconditions: { uid: job.metadata.uid },
      });
      this.log.info({ job: key }, 'job-controller: deleted finished job (ttlSecondsAfterFinished)');
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }
}
