import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { CronJobController, cronJobRunName } from './cronjob.ts';
import { CRONJOB, JOB, type TestObjects, eventsFor, openTestObjects, until } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: CronJobController;

/** A clock the test moves by hand; starts 2 minutes and 1 second past the current minute. */
class FakeClock {
  ms: number;
  constructor() {
    this.ms = Math.floor(Date.now() / 60_000) * 60_000 + 121_000;
  }
  now = () => this.ms;
  /** The scheduled time `minutes` minutes after the last full minute of the clock's start. */
  minute(minutes: number): number {
    return Math.floor(this.ms / 60_000) * 60_000 + minutes * 60_000;
  }
}

let clock: FakeClock;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  clock = new FakeClock();
  controller = new CronJobController({ objects, clock });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function cronjob(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'default' },
    spec: {
      schedule: '* * * * *',
      jobTemplate: {
        metadata: { labels: { cron: name } },
        spec: { template: { spec: { containers: [{ name: 'run', image: 'registry.example/run:1' }] } } },
      },
      ...spec,
    },
  };
}

async function jobsOf(name: string): Promise<any[]> {
  const { items } = await objects.list(JOB, 'default');
  return items
    .filter((j) => j.metadata.ownerReferences?.some((r: any) => r.kind === 'CronJob' && r.name === name))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

/** Move the clock on by `ms` and let the controller look again. */
async function advance(ms: number): Promise<void> {
  clock.ms += ms;
  controller.resync();
  await controller.whenIdle();
}

async function finish(job: any, type: 'Complete' | 'Failed'): Promise<void> {
  const now = new Date().toISOString();
  await objects.updateStatus(JOB, 'default', job.metadata.name, {
    status: {
      startTime: job.metadata.creationTimestamp,
      ...(type === 'Complete' ? { completionTime: now, succeeded: 1 } : { failed: 1 }),
      conditions: [{ type, status: 'True', lastTransitionTime: now }],
    },
  });
}

describe('CronJobController', () => {
  it('creates a Job for the most recent scheduled time, then one per scheduled time', async () => {
    const cj = await objects.create(cronjob('tick'));
    const start = clock.minute(0);
    const [first] = await until(async () => {
      const jobs = await jobsOf('tick');
      return jobs.length === 1 && jobs;
    }, 'first job');
    // only the most recent of the missed times since creation runs
    expect(first.metadata.name).toBe(cronJobRunName('tick', start));
    expect(first.metadata.name).toBe(`tick-${start / 60_000}`);
    expect(first.metadata.labels).toEqual({ cron: 'tick' });
    expect(first.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(
      new Date(start).toISOString().replace('.000Z', 'Z'),
    );
    expect(first.metadata.ownerReferences[0]).toMatchObject({
      kind: 'CronJob',
      uid: cj.metadata.uid,
      controller: true,
    });

    await advance(30_000); // not yet the next minute
    expect(await jobsOf('tick')).toHaveLength(1);
    await advance(30_000);
    const jobs = await until(async () => {
      const j = await jobsOf('tick');
      return j.length === 2 && j;
    }, 'second job');
    expect(jobs.map((j) => j.metadata.name)).toEqual([
      cronJobRunName('tick', start),
      cronJobRunName('tick', start + 60_000),
    ]);
    const status = await until(async () => {
      const s = (await objects.get(CRONJOB, 'default', 'tick')).status;
      return s?.active?.length === 2 && s;
    }, 'status');
    expect(status.lastScheduleTime).toBe(new Date(start + 60_000).toISOString().replace('.000Z', 'Z'));
    expect(status.active.map((r: any) => r.name)).toEqual(jobs.map((j) => j.metadata.name));

    await finish(jobs[0], 'Complete');
    const done = await until(async () => {
      const s = (await objects.get(CRONJOB, 'default', 'tick')).status;
      return s?.active?.length === 1 && s;
    }, 'one active');
    expect(done.lastSuccessfulTime).toBeDefined();
    const events = await until(async () => {
      const e = await eventsFor(objects, 'CronJob', 'tick');
      return e.some((x) => x.reason === 'SawCompletedJob') && e;
    }, 'events');
    expect(events.filter((e) => e.reason === 'SuccessfulCreate').map((e) => e.message)).toContain(
      `Created job ${jobs[0].metadata.name}`,
    );
  });

  it('Forbid skips a run while one is active and starts it once the active one finished', async () => {
    await objects.create(cronjob('solo', { concurrencyPolicy: 'Forbid' }));
    const [first] = await until(async () => {
      const j = await jobsOf('solo');
      return j.length === 1 && j;
    }, 'first job');
    await advance(60_000);
    expect(await jobsOf('solo')).toHaveLength(1);
    await until(
      async () => (await eventsFor(objects, 'CronJob', 'solo')).some((e) => e.reason === 'JobAlreadyActive'),
      'JobAlreadyActive event',
    );
    await finish(first, 'Complete');
    const jobs = await until(async () => {
      const j = await jobsOf('solo');
      return j.length === 2 && j;
    }, 'the skipped run starts');
    expect(jobs[1].metadata.name).toBe(cronJobRunName('solo', clock.minute(0)));
  });

  it('Replace deletes the active run and starts the new one', async () => {
    await objects.create(cronjob('swap', { concurrencyPolicy: 'Replace' }));
    const [first] = await until(async () => {
      const j = await jobsOf('swap');
      return j.length === 1 && j;
    }, 'first job');
    await advance(60_000);
    const jobs = await until(async () => {
      const j = await jobsOf('swap');
      return j.length === 1 && j[0].metadata.name !== first.metadata.name && j;
    }, 'replaced');
    expect(jobs[0].metadata.name).toBe(cronJobRunName('swap', clock.minute(0)));
  });

  it('suspend stops new runs', async () => {
    await objects.create(cronjob('off', { suspend: true }));
    await controller.whenIdle();
    await advance(120_000);
    expect(await jobsOf('off')).toHaveLength(0);
    await objects.mutate(CRONJOB, 'default', 'off', (cj) => ({
      ...cj,
      spec: { ...cj.spec, suspend: false },
    }));
    await until(async () => (await jobsOf('off')).length === 1, 'runs after resume');
  });

  it('startingDeadlineSeconds skips runs missed by more than the deadline', async () => {
    clock.ms += 29_000; // 30 s past the scheduled minute
    await objects.create(cronjob('strict', { startingDeadlineSeconds: 10 }));
    await controller.whenIdle();
    await advance(0);
    expect(await jobsOf('strict')).toHaveLength(0);
    await advance(35_000); // 5 s past the next minute: within the deadline
    const jobs = await until(async () => {
      const j = await jobsOf('strict');
      return j.length === 1 && j;
    }, 'run within the deadline');
    expect(jobs[0].metadata.name).toBe(cronJobRunName('strict', clock.minute(0)));
  });

  it('keeps only successfulJobsHistoryLimit / failedJobsHistoryLimit finished jobs', async () => {
    await objects.create(cronjob('hist', { successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 }));
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      if (i > 0) await advance(60_000);
      const job = await until(async () => {
        const j = (await jobsOf('hist')).find((x) => !names.includes(x.metadata.name));
        return j;
      }, `run ${i}`);
      names.push(job.metadata.name);
      await finish(job, i < 2 ? 'Failed' : 'Complete');
    }
    await advance(0);
    const left = await until(async () => {
      const j = await jobsOf('hist');
      return j.length === 2 && j;
    }, 'history pruned');
    // one failed (the newest: run 1) and one successful (the newest: run 3)
    expect(left.map((j) => j.metadata.name).sort()).toEqual([names[1], names[3]].sort());
  });
});
