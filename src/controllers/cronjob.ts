// CronJob controller: creates a Job from `jobTemplate` at each scheduled time (Kubernetes' cronjob
// controller v2, on the same clock-driven requeue model).
//
// - Each reconcile finds the most recent scheduled time in (lastScheduleTime — or the CronJob's creation —,
//   now]; with `startingDeadlineSeconds` the window starts no earlier than now − that, so runs missed for
//   longer (controller down, suspended) are skipped rather than started late. Only the most recent missed
//   run starts; more than 100 missed runs are reported (TooManyMissedTimes) as in Kubernetes.
// - The Job is named `<cronjob>-<scheduled time in unix minutes>`, so a run is created at most once even if
//   the cache lags; it is owned by the CronJob (controller ownerReference) and carries annotation
//   `batch.kubernetes.io/cronjob-scheduled-timestamp`.
// - concurrencyPolicy: Allow runs overlap; Forbid skips a run while one is active (and does not record it
//   as scheduled, so it starts once the active one finishes if still within the deadline); Replace deletes
//   the active Jobs (their pods follow through the garbage collector) and starts the new one.
// - `suspend` stops new runs. Finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit are
//   deleted, oldest first.
// - Status: active (references to unfinished Jobs), lastScheduleTime, lastSuccessfulTime.
// - Time comes from an injectable Clock; the controller re-checks at the next scheduled time and every
//   `resyncIntervalMs`, and `resync()` re-checks every CronJob at once (tests advance a fake clock, then
//   call it).
import { cronMostRecentRun, cronNextRun, kindFor, isDeleting } from '../api/index.ts';
import type { Informer } from '../lib/informer.ts';
import { finishedCondition } from './job.ts';
import { errorCode, errorMessage, ignoreNotFound } from '../lib/log.ts';
import type { ControllerOptions } from './options.ts';
import { QueuedController } from './queued-controller.ts';
import { OwnedPodIndex, controllerRefTo, objectKeyOf } from './pods.ts';

const CRONJOB = kindFor('batch/v1', 'CronJob')!;
const JOB = kindFor('batch/v1', 'Job')!;

export const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
const COMPONENT = 'cronjob-controller';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface CronJobControllerOptions extends ControllerOptions {
  clock?: Clock;
  /** Re-check every CronJob at least this often. Default 60 s. */
  resyncIntervalMs?: number;
}

/** The Job name for a run: `<cronjob>-<scheduled time in minutes since the epoch>`. */
export function cronJobRunName(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / 60_000)}`;
}

function startOf(job: any): string {
  return job.status?.startTime ?? job.metadata.creationTimestamp ?? '';
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class CronJobController extends QueuedController {
  private readonly clock: Clock;
  private readonly resyncIntervalMs: number;
  private readonly jobsByOwner = new OwnedPodIndex('CronJob');
  /** CronJob uid → the last run this controller started (trusted over a cache that may lag). */
  private readonly lastStarted = new Map<string, number>();
  private cronjobs!: Informer<any>;
  private timer?: ReturnType<typeof setInterval>;

  constructor(opts: CronJobControllerOptions) {
    super(opts, COMPONENT);
    this.clock = opts.clock ?? systemClock;
    this.resyncIntervalMs = opts.resyncIntervalMs ?? 60_000;
  }

  async start(): Promise<void> {
    this.cronjobs = this.informers.informerFor(CRONJOB);
    const jobs = this.informers.informerFor(JOB);
    const owner = (job: any) => {
      const ref = this.jobsByOwner.set(job);
      if (ref) this.queue.add(`${job.metadata.namespace}/${ref.name}`);
    };
    this.removeHandlers.push(
      this.cronjobs.addHandler({
        onAdd: (cj) => this.queue.add(objectKeyOf(cj)),
        onUpdate: (_o, cj) => this.queue.add(objectKeyOf(cj)),
        onDelete: (cj) => this.lastStarted.delete(cj.metadata.uid),
      }),
      jobs.addHandler({
        onAdd: owner,
        onUpdate: (old, job) => {
          this.jobsByOwner.delete(old);
          owner(job);
        },
        onDelete: (job) => {
          const ref = this.jobsByOwner.delete(job);
          if (ref) this.queue.add(`${job.metadata.namespace}/${ref.name}`);
        },
      }),
    );
    if (this.ownInformers) this.informers.start();
    await this.informers.waitForSync();
    this.timer = setInterval(() => this.resync(), this.resyncIntervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await super.stop();
  }

  /** Re-check every CronJob now (after the clock moved). */
  resync(): void {
    for (const cj of this.cronjobs?.values() ?? []) this.queue.add(objectKeyOf(cj));
  }

  protected async reconcile(key: string): Promise<void> {
    const cj = this.cronjobs.get(key);
    if (!cj || isDeleting(cj)) return;
    const { namespace, name } = cj.metadata;
    const spec = cj.spec;
    const status = cj.status ?? {};
    const now = this.clock.now();
    const jobs = this.jobsByOwner.podsOf(cj.metadata.uid).filter((j) => !isDeleting(j));

    // What became of the runs: active ones, finished ones (history), the last success.
    const wasActive = new Set<string>((status.active ?? []).map((r: any) => r.uid));
    let active = jobs.filter((j) => !finishedCondition(j));
    const finished = jobs.filter((j) => finishedCondition(j));
    let lastSuccessful: string | undefined = status.lastSuccessfulTime;
    for (const j of finished) {
      const done = finishedCondition(j)!;
      if (wasActive.has(j.metadata.uid)) {
        this.recorder.normal(
          cj,
          'SawCompletedJob',
          `Saw completed job: ${j.metadata.name}, status: ${done.type}`,
        );
      }
      if (done.type === 'Complete') {
        const at = j.status?.completionTime ?? done.lastTransitionTime;
        if (at && (!lastSuccessful || Date.parse(at) > Date.parse(lastSuccessful))) lastSuccessful = at;
      }
    }
    await this.pruneHistory(cj, finished);

    let lastScheduleTime: string | undefined = status.lastScheduleTime;
    if (!spec.suspend) {
      const tz: string | undefined = spec.timeZone;
      let earliest = Date.parse(lastScheduleTime ?? cj.metadata.creationTimestamp);
      if (!Number.isFinite(earliest)) earliest = now;
      earliest = Math.max(earliest, this.lastStarted.get(cj.metadata.uid) ?? -Infinity);
      if (spec.startingDeadlineSeconds !== undefined) {
        earliest = Math.max(earliest, now - spec.startingDeadlineSeconds * 1000);
      }
      const { time, missed } =
        earliest < now
          ? cronMostRecentRun(spec.schedule, new Date(earliest), new Date(now), tz)
          : { missed: 0 };
      if (missed >= 100) {
        this.recorder.warning(
          cj,
          'TooManyMissedTimes',
          'too many missed start times (> 100). Set or decrease .spec.startingDeadlineSeconds or check clock skew',
        );
      }
      if (time) {
        const run = await this.startRun(cj, time.getTime(), active);
        if (run) {
          active = run.active;
          if (run.scheduled) {
            lastScheduleTime = iso(time.getTime());
            this.lastStarted.set(cj.metadata.uid, time.getTime());
          }
        }
      }
      const next = cronNextRun(spec.schedule, new Date(now), tz);
      // Wake up just after the next run is due (+100 ms, as Kubernetes), on this process's timers.
      if (next) this.queue.addAfter(key, Math.min(next.getTime() - now + 100, this.resyncIntervalMs));
    }

    await this.writeStatus(cj, {
      active: active
        .sort((a, b) => (startOf(a) < startOf(b) ? -1 : 1))
        .map((j) => ({
          apiVersion: 'batch/v1',
          kind: 'Job',
          namespace,
          name: j.metadata.name,
          uid: j.metadata.uid,
        })),
      lastScheduleTime,
      lastSuccessfulTime: lastSuccessful,
    });
    this.log.debug({ cronjob: `${namespace}/${name}`, active: active.length }, 'cronjob-controller: synced');
  }

  /**
   * Start the run scheduled at `scheduledMs` unless it exists or the concurrency policy forbids it.
   * Returns the active Jobs afterwards and whether the run counts as scheduled.
   */
  private async startRun(
    cj: any,
    scheduledMs: number,
    active: any[],
  ): Promise<{ active: any[]; scheduled: boolean } | undefined> {
    const { namespace } = cj.metadata;
    const jobName = cronJobRunName(cj.metadata.name, scheduledMs);
    if (active.some((j) => j.metadata.name === jobName)) return { active, scheduled: true };
    const policy = cj.spec.concurrencyPolicy ?? 'Allow';
    if (policy === 'Forbid' && active.length > 0) {
      this.recorder.normal(
        cj,
        'JobAlreadyActive',
        'Not starting job because prior execution is running and concurrency policy is Forbid',
      );
      return undefined;
    }
    if (policy === 'Replace' && active.length > 0) {
      for (const j of active) {
        try {
          await this.objects.delete(JOB, namespace, j.metadata.name, {
            preconditions: { uid: j.metadata.uid },
          });
          this.recorder.normal(cj, 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
        } catch (err) {
          if (errorCode(err) !== 404) throw err;
        }
      }
      active = [];
    }
    const template = cj.spec.jobTemplate;
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: jobName,
        namespace,
        ...(template.metadata?.labels ? { labels: { ...template.metadata.labels } } : {}),
        annotations: {
          ...template.metadata?.annotations,
          [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: iso(scheduledMs),
        },
        ownerReferences: [controllerRefTo(cj)],
      },
      spec: template.spec,
    };
    try {
      const created = await this.objects.create(job, namespace);
      this.recorder.normal(cj, 'SuccessfulCreate', `Created job ${jobName}`);
      this.log.info(
        { cronjob: `${namespace}/${cj.metadata.name}`, job: jobName },
        'cronjob-controller: created job',
      );
      return { active: [...active, created], scheduled: true };
    } catch (err) {
      if ((err as any)?.status?.reason !== 'AlreadyExists') {
        this.recorder.warning(cj, 'FailedCreate', `Error creating job: ${errorMessage(err)}`);
        throw err;
      }
      // Created before (our cache lags), or a Job of that name that is not ours.
      const existing = await this.objects.get(JOB, namespace, jobName);
      const ours = existing?.metadata.ownerReferences?.some((r: any) => r.uid === cj.metadata.uid);
      if (!ours) {
        this.recorder.warning(cj, 'UnexpectedJob', `Job ${jobName} exists but is not owned by this CronJob`);
        return undefined;
      }
      const stillActive = !finishedCondition(existing) && !isDeleting(existing);
      return { active: stillActive ? [...active, existing] : active, scheduled: true };
    }
  }

  /** Delete finished Jobs beyond the history limits, oldest first. */
  private async pruneHistory(cj: any, finished: any[]): Promise<void> {
    const limits = {
      Complete: cj.spec.successfulJobsHistoryLimit ?? 3,
      Failed: cj.spec.failedJobsHistoryLimit ?? 1,
    };
    for (const type of ['Complete', 'Failed'] as const) {
      const jobs = finished
        .filter((j) => finishedCondition(j)!.type === type)
        .sort((a, b) => (startOf(a) < startOf(b) ? -1 : startOf(a) > startOf(b) ? 1 : 0));
      for (const j of jobs.slice(0, Math.max(0, jobs.length - limits[type]))) {
        try {
          await this.objects.delete(JOB, j.metadata.namespace, j.metadata.name, {
            preconditions: { uid: j.metadata.uid },
          });
          this.recorder.normal(cj, 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
        } catch (err) {
          if (errorCode(err) !== 404) throw err;
        }
      }
    }
  }

  private async writeStatus(
    cj: any,
    s: { active: any[]; lastScheduleTime?: string; lastSuccessfulTime?: string },
  ): Promise<void> {
    const { namespace, name, uid } = cj.metadata;
    await ignoreNotFound(
      this.objects.mutate(
        CRONJOB,
        namespace,
        name,
        (obj) => {
          if (obj.metadata.uid !== uid) return undefined;
          const prev = obj.status ?? {};
          const next: any = {};
          if (s.active.length > 0) next.active = s.active;
          const last = [prev.lastScheduleTime, s.lastScheduleTime]
            .filter(Boolean)
            .sort((a, b) => Date.parse(a) - Date.parse(b))
            .at(-1);
          if (last) next.lastScheduleTime = last;
          if (s.lastSuccessfulTime) next.lastSuccessfulTime = s.lastSuccessfulTime;
          if (JSON.stringify(next) === JSON.stringify(prev)) return undefined;
          obj.status = next;
          return obj;
        },
        'status',
      ),
    );
  }
}
