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
// - `completionMode: Indexed`: each pod gets a completion index 0..completions-1 (annotation and label
//   `batch.kubernetes.io/job-completion-index`; the agent turns it into env JOB_COMPLETION_INDEX). Pending
//   indexes are started lowest first, each index completes once (`status.completedIndexes`, e.g. `0-2,5`),
//   and the Job is complete when every index has. A second pod for an index (or one for an index that
//   already completed) is deleted.
// - Events: SuccessfulCreate / SuccessfulDelete per pod, Completed, BackoffLimitExceeded, DeadlineExceeded.
import {
  type Condition,
  JOB_COMPLETION_INDEX_ANNOTATION,
  kindFor,
  setCondition,
  isDeleting,
} from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import { Expectations } from './expectations.ts';
import { errorCode, errorMessage, ignoreNotFound } from '../lib/log.ts';
import {
  OwnedPodIndex,
  controllerRefTo,
  deletionOrder,
  generateNameFor,
  isActive,
  objectKeyOf,
  deleteOwnedPods,
  ownedPodHandlers,
} from './pods.ts';

const JOB = kindFor('batch/v1', 'Job')!;
const POD = kindFor('v1', 'Pod')!;

export const JOB_NAME_LABEL = 'job-name';
export const CONTROLLER_UID_LABEL = 'controller-uid';
export const BATCH_JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const BATCH_CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
/** Label (and annotation) with an Indexed Job pod's completion index. */
export const JOB_COMPLETION_INDEX_LABEL = JOB_COMPLETION_INDEX_ANNOTATION;

const COMPONENT = 'job-controller';

/** The completion index of an Indexed Job's pod, if it has a valid one below `completions`. */
export function podCompletionIndex(pod: any, completions: number): number | undefined {
  const raw = pod?.metadata?.annotations?.[JOB_COMPLETION_INDEX_ANNOTATION];
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return undefined;
  const i = Number(raw);
  return i < completions ? i : undefined;
}

/** Parse `1,3-5,7` (status.completedIndexes) into a set, ignoring what is out of [0, completions). */
export function parseIndexes(s: string | undefined, completions: number): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? '').split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = Math.min(m[2] === undefined ? from : Number(m[2]), completions - 1);
    for (let i = from; i <= to; i++) out.add(i);
  }
  return out;
}

/** The compressed form of a set of indexes: `0-2,5,7-8`. */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

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

export class JobController extends QueuedController {
  private readonly expectations = new Expectations();
  private readonly index = new OwnedPodIndex('Job');
  private readonly podFailureBackoffMs: number;
  private readonly maxPodFailureBackoffMs: number;
  /** Per Job: failures seen so far and when the count last grew (for the replacement backoff). */
  private readonly failures = new Map<string, { count: number; at: number }>();
  private jobs!: Informer<any>;

  constructor(opts: JobControllerOptions) {
    super(opts, COMPONENT);
    this.podFailureBackoffMs = opts.podFailureBackoffMs ?? 10_000;
    this.maxPodFailureBackoffMs = opts.maxPodFailureBackoffMs ?? 360_000;
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
      pods.addHandler(ownedPodHandlers(this.index, this.expectations, this.queue)),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
  }

  protected async reconcile(key: string): Promise<void> {
    const job = this.jobs.get(key);
    if (!job || isDeleting(job)) return;
    const spec = job.spec;
    const owned = this.index.podsOf(job.metadata.uid);
    const active = owned.filter(isActive);

    const done = finishedCondition(job);
    if (done) {
      // Finished: nothing may keep running; then honour ttlSecondsAfterFinished.
      if (active.length > 0 && this.expectations.satisfied(key)) await this.deletePods(key, job, active);
      await this.expireFinished(key, job, done);
      return;
    }

    const now = Date.now();
    const status = job.status ?? {};
    const startTime: string = status.startTime ?? new Date().toISOString();
    const completions: number = spec.completions ?? 1;
    const indexed = spec.completionMode === 'Indexed';
    const completedIndexes = indexed ? parseIndexes(status.completedIndexes, completions) : undefined;
    if (completedIndexes) {
      for (const p of owned) {
        const i = p.status?.phase === 'Succeeded' ? podCompletionIndex(p, completions) : undefined;
        if (i !== undefined) completedIndexes.add(i);
      }
    }
    const succeeded = completedIndexes
      ? completedIndexes.size
      : Math.max(status.succeeded ?? 0, owned.filter((p) => p.status?.phase === 'Succeeded').length);
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
        await this.deletePods(key, job, active);
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
        const step = completedIndexes
          ? this.planIndexed(active, want, completions, completedIndexes)
          : this.planNonIndexed(active, want);
        if (step.remove.length > 0) activeCount -= await this.deletePods(key, job, step.remove);
        if (step.create.length > 0) {
          const waitMs = this.failureBackoff(key, failed, now);
          if (waitMs > 0) {
            recheckMs = Math.min(recheckMs ?? Infinity, waitMs);
          } else {
            activeCount += await this.createPods(key, job, step.create);
          }
        }
      }
    }

    await this.writeStatus(job, {
      startTime,
      active: activeCount,
      succeeded,
      failed,
      finish,
      ...(completedIndexes ? { completedIndexes: formatIndexes(completedIndexes) } : {}),
    });
    if (finish?.type === 'Complete') this.recorder.normal(job, 'Completed', 'Job completed');
    else if (finish) this.recorder.warning(job, finish.reason!, finish.message!);
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

  /** NonIndexed: `create` holds one `undefined` per pod to start. */
  private planNonIndexed(active: any[], want: number): { create: (number | undefined)[]; remove: any[] } {
    if (active.length < want) return { create: Array.from({ length: want - active.length }), remove: [] };
    if (active.length > want)
      return { create: [], remove: [...active].sort(deletionOrder).slice(0, active.length - want) };
    return { create: [], remove: [] };
  }

  /** Indexed: start the lowest pending indexes; remove duplicates, strays and the highest surplus. */
  private planIndexed(
    active: any[],
    want: number,
    completions: number,
    completed: Set<number>,
  ): { create: (number | undefined)[]; remove: any[] } {
    const remove: any[] = [];
    const byIndex = new Map<number, any>();
    // Keep the oldest pod of each index (the ready one among equals comes first in the reverse order).
    for (const p of [...active].sort(deletionOrder).reverse()) {
      const i = podCompletionIndex(p, completions);
      if (i === undefined || completed.has(i) || byIndex.has(i)) remove.push(p);
      else byIndex.set(i, p);
    }
    const kept = [...byIndex.entries()].sort(([a], [b]) => b - a);
    if (kept.length > want) {
      remove.push(...kept.slice(0, kept.length - want).map(([, p]) => p));
      return { create: [], remove };
    }
    const create: number[] = [];
    for (let i = 0; i < completions && create.length < want - kept.length; i++) {
      if (!completed.has(i) && !byIndex.has(i)) create.push(i);
    }
    return { create, remove };
  }

  /** Create one pod per entry of `indexes` (a completion index, or undefined for NonIndexed Jobs). */
  private async createPods(key: string, job: any, indexes: (number | undefined)[]): Promise<number> {
    const { name, namespace, uid } = job.metadata;
    const template = job.spec.template;
    const podFor = (index: number | undefined) => {
      const annotations = { ...template.metadata?.annotations };
      const labels: Record<string, string> = {
        ...template.metadata?.labels,
        [JOB_NAME_LABEL]: name,
        [CONTROLLER_UID_LABEL]: uid,
        [BATCH_JOB_NAME_LABEL]: name,
        [BATCH_CONTROLLER_UID_LABEL]: uid,
      };
      if (index !== undefined) {
        annotations[JOB_COMPLETION_INDEX_ANNOTATION] = String(index);
        labels[JOB_COMPLETION_INDEX_LABEL] = String(index);
      }
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: generateNameFor(index === undefined ? `${name}-` : `${name}-${index}-`),
          namespace,
          labels,
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
          ownerReferences: [controllerRefTo(job)],
        },
        spec: template.spec,
      };
    };
    const n = indexes.length;
    this.expectations.expect(key, n, 0);
    const results = await Promise.allSettled(indexes.map((i) => this.objects.create(podFor(i), namespace)));
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    for (let i = 0; i < failed.length; i++) this.expectations.creationObserved(key);
    for (const r of results) {
      if (r.status === 'fulfilled')
        this.recorder.normal(job, 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
    }
    if (failed.length > 0) {
      this.recorder.warning(job, 'FailedCreate', `Error creating pod: ${errorMessage(failed[0].reason)}`);
      throw failed[0].reason;
    }
    this.log.info({ job: key, created: n }, 'job-controller: created pods');
    return n;
  }

  private async deletePods(key: string, job: any, pods: any[]): Promise<number> {
    await deleteOwnedPods(
      { objects: this.objects, expectations: this.expectations, recorder: this.recorder },
      key,
      job,
      pods,
    );
    return pods.length;
  }

  private async writeStatus(
    job: any,
    s: {
      startTime: string;
      active: number;
      succeeded: number;
      failed: number;
      finish?: Condition;
      completedIndexes?: string;
    },
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
          if (s.completedIndexes !== undefined) next.completedIndexes = s.completedIndexes;
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
