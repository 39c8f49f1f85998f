import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { JobController, finishedCondition } from './job.ts';
import { JOB, POD, type TestObjects, condition, eventsFor, openTestObjects, until } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: JobController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new JobController({ objects, podFailureBackoffMs: 0 });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function job(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      ...spec,
      template: {
        metadata: { labels: { team: 'a' } },
        spec: { containers: [{ name: 'work', image: 'registry.example/work:1' }] },
      },
    },
  };
}

const isActive = (p: any) =>
  !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

async function podsOf(name: string): Promise<any[]> {
  const { items } = await objects.list(POD, 'default');
  return items.filter((p) => p.metadata.labels?.['job-name'] === name);
}

/** Track, from the watch, how many of the job's pods were ever active at once, and how many were created. */
async function observe(name: string) {
  const active = new Set<string>();
  const seen = { maxActive: 0, created: 0 };
  const w = await objects.watch(POD, 'default', undefined, (ev) => {
    const p = ev.object;
    if (p.metadata.labels?.['job-name'] !== name) return;
    if (ev.type === 'ADDED') seen.created++;
    if (ev.type !== 'DELETED' && isActive(p)) active.add(p.metadata.name);
    else active.delete(p.metadata.name);
    seen.maxActive = Math.max(seen.maxActive, active.size);
  });
  return { seen, cancel: () => w.cancel() };
}

const setPhase = (name: string, phase: string) =>
  objects.updateStatus(POD, 'default', name, { status: { phase } });

describe('JobController', () => {
  it('runs 5 completions at most 2 at a time, then completes', async () => {
    const watch = await observe('batch');
    const created = await objects.create(job('batch', { completions: 5, parallelism: 2 }));
    let finished: any;
    while (!finished) {
      const running = await until(async () => {
        const j = await objects.get(JOB, 'default', 'batch');
        if (finishedCondition(j)) return [j];
        const active = (await podsOf('batch')).filter(isActive);
        return active.length > 0 && active;
      }, 'active pods or completion');
      if (running[0].kind === 'Job') {
        finished = running[0];
        break;
      }
      for (const p of running) await setPhase(p.metadata.name, 'Succeeded');
    }
    watch.cancel();
    expect(watch.seen.maxActive).toBe(2);
    expect(watch.seen.created).toBe(5);
    expect(condition(finished, 'Complete')).toMatchObject({ status: 'True' });
    expect(finished.status).toMatchObject({ succeeded: 5, failed: 0, active: 0 });
    expect(Date.parse(finished.status.completionTime)).toBeGreaterThanOrEqual(
      Date.parse(finished.status.startTime),
    );
    const pods = await podsOf('batch');
    expect(pods).toHaveLength(5);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(/^batch-[a-z0-9]{5}$/);
      expect(p.metadata.labels).toMatchObject({
        team: 'a',
        'job-name': 'batch',
        'controller-uid': created.metadata.uid,
      });
      expect(p.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: 'batch',
          uid: created.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(p.spec.restartPolicy).toBe('Never');
    }
  });

  it('fails with BackoffLimitExceeded after backoffLimit failures and deletes active pods', async () => {
    await objects.create(job('flaky', { completions: 3, parallelism: 2, backoffLimit: 1 }));
    const first = await until(async () => {
      const active = (await podsOf('flaky')).filter(isActive);
      return active.length === 2 && active;
    }, 'two active pods');
    await setPhase(first[0].metadata.name, 'Failed');
    // One failure is within the limit: it is replaced.
    const second = await until(async () => {
      const active = (await podsOf('flaky')).filter(isActive);
      return active.length === 2 && !active.some((p) => p.metadata.name === first[0].metadata.name) && active;
    }, 'replacement pod');
    await setPhase(second[0].metadata.name, 'Failed');
    const failed = await until(async () => {
      const j = await objects.get(JOB, 'default', 'flaky');
      return finishedCondition(j) && j;
    }, 'job failed');
    expect(condition(failed, 'Failed')).toMatchObject({
      status: 'True',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit',
    });
    expect(condition(failed, 'Complete')).toBeUndefined();
    expect(failed.status).toMatchObject({ active: 0, succeeded: 0, failed: 3 });
    await until(async () => (await podsOf('flaky')).filter(isActive).length === 0, 'active pods deleted');
  });

  it('fails with DeadlineExceeded after activeDeadlineSeconds', async () => {
    await objects.create(job('slow', { activeDeadlineSeconds: 1 }));
    const failed = await until(async () => {
      const j = await objects.get(JOB, 'default', 'slow');
      return finishedCondition(j) && j;
    }, 'deadline');
    expect(condition(failed, 'Failed')).toMatchObject({ reason: 'DeadlineExceeded' });
    await until(async () => (await podsOf('slow')).filter(isActive).length === 0, 'active pods deleted');
  });

  it('waits out the failure backoff before replacing a failed pod', async () => {
    await controller.stop();
    controller = new JobController({ objects, podFailureBackoffMs: 60_000 });
    await controller.start();
    await objects.create(job('patient', { backoffLimit: 3 }));
    const [p] = await until(async () => {
      const active = (await podsOf('patient')).filter(isActive);
      return active.length === 1 && active;
    }, 'first pod');
    await setPhase(p.metadata.name, 'Failed');
    await until(
      async () => (await objects.get(JOB, 'default', 'patient')).status?.failed === 1,
      'failure counted',
    );
    await controller.whenIdle();
    expect((await podsOf('patient')).filter(isActive)).toHaveLength(0);
  });
});

describe('JobController (Indexed, TTL, events)', () => {
  it('runs an Indexed Job: one completion per index, lowest pending first, index annotation and label', async () => {
    const watch = await observe('idx');
    await objects.create(job('idx', { completionMode: 'Indexed', completions: 4, parallelism: 2 }));
    const first = await until(async () => {
      const active = (await podsOf('idx')).filter(isActive);
      return active.length === 2 && active;
    }, 'two active pods');
    const index = (p: any) => p.metadata.annotations['batch.kubernetes.io/job-completion-index'];
    expect(first.map(index).sort()).toEqual(['0', '1']);
    for (const p of first) {
      expect(p.metadata.labels['batch.kubernetes.io/job-completion-index']).toBe(index(p));
      expect(p.metadata.name).toMatch(new RegExp(`^idx-${index(p)}-[a-z0-9]{5}$`));
    }
    // index 1 succeeds, index 0 fails: 0 is retried, 2 starts
    const one = first.find((p) => index(p) === '1');
    const zero = first.find((p) => index(p) === '0');
    await setPhase(one.metadata.name, 'Succeeded');
    await setPhase(zero.metadata.name, 'Failed');
    const second = await until(async () => {
      const active = (await podsOf('idx')).filter(isActive);
      return active.length === 2 && active.every((p) => !first.includes(p)) && active;
    }, 'next two');
    expect(second.map(index).sort()).toEqual(['0', '2']);
    const j = await until(async () => {
      const x = await objects.get(JOB, 'default', 'idx');
      // The two pods' phases are two writes: a sync may see the success before the failure.
      return x.status?.completedIndexes === '1' && x.status?.failed === 1 && x;
    }, 'completedIndexes 1 and one failure');
    expect(j.status).toMatchObject({ succeeded: 1, failed: 1 });
    for (const p of second) await setPhase(p.metadata.name, 'Succeeded');
    const last = await until(async () => {
      const active = (await podsOf('idx')).filter(isActive);
      return active.length === 1 && active;
    }, 'last index');
    expect(index(last[0])).toBe('3');
    await setPhase(last[0].metadata.name, 'Succeeded');
    const done = await until(async () => {
      const x = await objects.get(JOB, 'default', 'idx');
      return finishedCondition(x) && x;
    }, 'complete');
    watch.cancel();
    expect(condition(done, 'Complete')?.status).toBe('True');
    expect(done.status).toMatchObject({ succeeded: 4, completedIndexes: '0-3', active: 0 });
    expect(watch.seen.created).toBe(5);
    expect(watch.seen.maxActive).toBe(2);
  });

  it('deletes a finished Job ttlSecondsAfterFinished after it finished', async () => {
    await objects.create(job('short', { ttlSecondsAfterFinished: 0 }));
    const [p] = await until(async () => {
      const active = (await podsOf('short')).filter(isActive);
      return active.length === 1 && active;
    }, 'pod');
    await setPhase(p.metadata.name, 'Succeeded');
    await until(async () => !(await objects.get(JOB, 'default', 'short')), 'job deleted');
  });

  it('records pod creations and the outcome as events', async () => {
    await objects.create(job('noisy', { backoffLimit: 0 }));
    const [p] = await until(async () => {
      const active = (await podsOf('noisy')).filter(isActive);
      return active.length === 1 && active;
    }, 'pod');
    await setPhase(p.metadata.name, 'Failed');
    const events = await until(async () => {
      const e = await eventsFor(objects, 'Job', 'noisy');
      return e.some((x) => x.reason === 'BackoffLimitExceeded') && e;
    }, 'events');
    expect(events.find((e) => e.reason === 'SuccessfulCreate')).toMatchObject({
      type: 'Normal',
      message: `Created pod: ${p.metadata.name}`,
      source: { component: 'job-controller' },
    });
    expect(events.find((e) => e.reason === 'BackoffLimitExceeded')).toMatchObject({ type: 'Warning' });
  });
});
