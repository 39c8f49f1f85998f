// batch/v1 CronJob: creates a Job from `jobTemplate` on a cron schedule. Schedules are standard
// five-field cron (minute hour day-of-month month day-of-week) or a @hourly-style macro, evaluated in
// `timeZone` (default: the controller's local zone) by croner.
import { Cron } from 'croner';
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Annotations, Labels, ObjectMeta, ObjectReference, Timestamp } from '../meta.ts';
import { defaultJobSpec, JobSpec } from './job.ts';

const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

function cronFor(schedule: string, timeZone?: string): Cron {
  const s = schedule.trim();
  // croner also accepts 6- and 7-field (seconds, years) patterns; Kubernetes' dialect does not.
  if (!s.startsWith('@') && s.split(/\s+/).length !== 5)
    throw new Error(
      `expected exactly 5 fields (minute hour day-of-month month day-of-week), got ${s.split(/\s+/).length}`,
    );
  if (s.startsWith('@') && !MACROS.includes(s.toLowerCase()))
    throw new Error(`unknown macro; supported: ${MACROS.join(', ')}`);
  return new Cron(s.toLowerCase() === '@midnight' ? '@daily' : s, { mode: '5-part', timezone: timeZone });
}

/** Problems with a cron schedule (empty when valid). */
export function cronScheduleErrors(schedule: string, timeZone?: string): string[] {
  if (/^\s*(CRON_)?TZ=/.test(schedule))
    return ['TZ= and CRON_TZ= are not supported in schedule; use the `timeZone` field'];
  try {
    cronFor(schedule, timeZone);
    return [];
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
}

/** Whether `tz` is an IANA time zone name this runtime knows. */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The first scheduled time strictly after `after`, or undefined if the schedule never fires again. */
export function cronNextRun(schedule: string, after: Date, timeZone?: string): Date | undefined {
  return cronFor(schedule, timeZone).nextRun(after) ?? undefined;
}

/**
 * The most recent scheduled time in (`earliest`, `now`] and how many were missed in that window — what a
 * CronJob controller needs after a restart or a pause (the count stops at `limit`, Kubernetes' 100).
 */
export function cronMostRecentRun(
  schedule: string,
  earliest: Date,
  now: Date,
  timeZone?: string,
  limit = 100,
): { time?: Date; missed: number } {
  const cron = cronFor(schedule, timeZone);
  let time: Date | undefined;
  let missed = 0;
  for (let t = cron.nextRun(earliest); t && t <= now; t = cron.nextRun(t)) {
    time = t;
    if (++missed >= limit) {
      // Too many to walk one by one: jump to the last run at or before now.
      const last = cron.previousRuns(1, now)[0];
      if (last) time = last;
      break;
    }
  }
  return { time, missed };
}

export const JobTemplateSpec = z.strictObject({
  metadata: z.strictObject({ labels: Labels.optional(), annotations: Annotations.optional() }).optional(),
  spec: JobSpec,
});
export type JobTemplateSpec = z.infer<typeof JobTemplateSpec>;

export const CronJobSpec = z
  .strictObject({
    schedule: z.string().min(1),
    timeZone: z.string().min(1).optional(),
    startingDeadlineSeconds: z.int().min(0).optional(),
    concurrencyPolicy: z.enum(['Allow', 'Forbid', 'Replace']).default('Allow'),
    suspend: z.boolean().default(false),
    jobTemplate: JobTemplateSpec,
    successfulJobsHistoryLimit: z.int().min(0).default(3),
    failedJobsHistoryLimit: z.int().min(0).default(1),
  })
  .superRefine((spec, ctx) => {
    const tzOk = spec.timeZone === undefined || isValidTimeZone(spec.timeZone);
    if (!tzOk) addCause(ctx, ['timeZone'], Reason.Invalid, msg.invalid(spec.timeZone, 'unknown time zone'));
    for (const e of cronScheduleErrors(spec.schedule, tzOk ? spec.timeZone : undefined))
      addCause(ctx, ['schedule'], Reason.Invalid, msg.invalid(spec.schedule, e));
  });
export type CronJobSpec = z.infer<typeof CronJobSpec>;

export const CronJobStatus = z.strictObject({
  /** The Jobs this CronJob created that are still running. */
  active: z.array(ObjectReference).optional(),
  lastScheduleTime: Timestamp.optional(),
  lastSuccessfulTime: Timestamp.optional(),
});
export type CronJobStatus = z.infer<typeof CronJobStatus>;

export const CronJob = z.strictObject({
  apiVersion: z.literal('batch/v1'),
  kind: z.literal('CronJob'),
  metadata: ObjectMeta,
  spec: CronJobSpec,
  status: CronJobStatus.optional(),
});
export type CronJob = z.infer<typeof CronJob>;

export function defaultCronJob(cj: CronJob): void {
  defaultJobSpec(cj.spec.jobTemplate.spec);
}
