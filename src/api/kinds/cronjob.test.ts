import { describe, expect, it } from 'vitest';
import { cronMostRecentRun, cronNextRun, cronScheduleErrors } from './cronjob.ts';
import { invalid, valid } from './testing.ts';

const cj = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'nightly', namespace: 'default' },
  spec: {
    schedule: '*/5 * * * *',
    jobTemplate: { spec: { template: { spec: { containers: [{ name: 'r', image: 'task.wasm' }] } } } },
    ...spec,
  },
});

describe('CronJob', () => {
  it('defaults policies, history limits and the job template', () => {
    const c = valid(cj());
    expect(c.spec).toMatchObject({
      concurrencyPolicy: 'Allow',
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
    });
    expect(c.spec.jobTemplate.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(c.spec.jobTemplate.spec.template.spec.restartPolicy).toBe('Never');
  });

  it.each([
    ['61 * * * *', /minute/],
    ['* * * * * *', /exactly 5 fields/],
    ['every day', /exactly 5 fields/],
    ['@every 1h', /unknown macro/],
    ['TZ=UTC 0 * * * *', /timeZone/],
  ])('rejects schedule %j', (schedule, why) => {
    const c = invalid(cj({ schedule }));
    expect(c[0].field).toBe('spec.schedule');
    expect(c[0].message).toMatch(why);
  });

  it('accepts macros, names and a time zone; rejects an unknown zone', () => {
    for (const schedule of ['@hourly', '@daily', '0 3 * * MON-FRI', '0 0 1,15 * *']) valid(cj({ schedule }));
    valid(cj({ timeZone: 'Europe/Berlin' }));
    expect(invalid(cj({ timeZone: 'Mars/Olympus' }))[0].field).toBe('spec.timeZone');
    expect(invalid(cj({ concurrencyPolicy: 'Sometimes' }))[0].field).toBe('spec.concurrencyPolicy');
  });

  it('computes next and most recent runs', () => {
    expect(cronScheduleErrors('0 0 * * *')).toEqual([]);
    expect(cronNextRun('*/5 * * * *', new Date('2026-01-01T00:02:00Z'), 'UTC')?.toISOString()).toBe(
      '2026-01-01T00:05:00.000Z',
    );
    expect(
      cronNextRun('0 9 * * *', new Date('2026-01-01T00:00:00Z'), 'America/New_York')?.toISOString(),
    ).toBe('2026-01-01T14:00:00.000Z');
    const r = cronMostRecentRun(
      '*/5 * * * *',
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-01-01T00:17:00Z'),
      'UTC',
    );
    expect(r).toEqual({ time: new Date('2026-01-01T00:15:00Z'), missed: 3 });
    const many = cronMostRecentRun(
      '* * * * *',
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-01-02T00:17:30Z'),
      'UTC',
    );
    expect(many).toEqual({ time: new Date('2026-01-02T00:17:00Z'), missed: 100 });
  });
});
