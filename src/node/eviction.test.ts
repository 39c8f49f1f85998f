// The eviction API (src/policy/eviction.ts) spending the budgets the disruption controller keeps
// (src/controllers/disruption.ts): both sides together, on a real store, as the server runs them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DisruptionController } from '../controllers/disruption.ts';
import {
  PDB,
  POD,
  type TestObjects,
  budgetStatusOf,
  isPodDeleting,
  openTestObjects,
  pdbObject as pdb,
  readyPodFor,
  setPodReady,
} from '../controllers/testutil.ts';
import { EVICTION_REFUSED, evictPod } from '../policy/eviction.ts';
import type { ObjectStore } from '../store/objects.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: DisruptionController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new DisruptionController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

const readyPod = (name: string, labels?: Record<string, string>, extra?: any) =>
  readyPodFor(objects, name, labels, extra);
const budgetStatus = (name: string, check: (s: any) => boolean) => budgetStatusOf(objects, name, check);
const deleting = (name: string) => isPodDeleting(objects, name);

describe('evictPod', () => {
  it('deletes a pod no budget covers', async () => {
    await readyPod('free', { app: 'free' });
    expect(await evictPod(objects, 'default', 'free')).toEqual({ allowed: true });
    expect(await deleting('free')).toBe(true);
  });

  it('refuses with 429 when the eviction would violate minAvailable, and allows it again once healthy', async () => {
    for (const n of ['a', 'b', 'c']) await readyPod(n);
    await objects.create(pdb('web', { minAvailable: 2 }));
    await budgetStatus('web', (x) => x.disruptionsAllowed === 1);

    expect(await evictPod(objects, 'default', 'a', { gracePeriodSeconds: 5 })).toEqual({ allowed: true });
    const a = await objects.get(POD, 'default', 'a');
    expect(a.metadata.deletionGracePeriodSeconds).toBe(5);
    // the budget was charged at once, before the controller saw the deletion
    expect((await objects.get(PDB, 'default', 'web')).status).toMatchObject({
      disruptionsAllowed: 0,
      disruptedPods: { a: expect.any(String) },
    });

    const no = await evictPod(objects, 'default', 'b');
    expect(no).toMatchObject({ allowed: false, code: 429, reason: EVICTION_REFUSED, budget: 'web' });
    expect(no.allowed === false && no.cause).toBe(
      'The disruption budget web needs 2 healthy pods and has 2 currently',
    );
    expect(await deleting('b')).toBe(false);

    // a replacement becomes ready: one more disruption is allowed
    await readyPod('d');
    await budgetStatus('web', (x) => x.disruptionsAllowed === 1 && !x.disruptedPods);
    expect(await evictPod(objects, 'default', 'b')).toEqual({ allowed: true });
  });

  it('lets only one of two concurrent evictions spend the last allowed disruption', async () => {
    for (const n of ['a', 'b', 'c']) await readyPod(n);
    await objects.create(pdb('web', { minAvailable: 2 }));
    await budgetStatus('web', (x) => x.disruptionsAllowed === 1);
    const results = await Promise.all([
      evictPod(objects, 'default', 'a'),
      evictPod(objects, 'default', 'b'),
      evictPod(objects, 'default', 'c'),
    ]);
    expect(results.filter((r) => r.allowed)).toHaveLength(1);
    expect(results.filter((r) => !r.allowed)).toHaveLength(2);
  });

  it('evicts unready and pending pods without charging the budget, and supports dry runs', async () => {
    for (const n of ['a', 'b', 'c']) await readyPod(n);
    const sick = await readyPod('sick');
    await setPodReady(objects, sick, false);
    await objects.create(pdb('web', { minAvailable: 3 }));
    await budgetStatus('web', (x) => x.currentHealthy === 3);
    expect(await evictPod(objects, 'default', 'a', { dryRun: ['All'] })).toMatchObject({ allowed: false });
    expect(await evictPod(objects, 'default', 'sick', { dryRun: ['All'] })).toEqual({ allowed: true });
    expect(await deleting('sick')).toBe(false);
    expect(await evictPod(objects, 'default', 'sick')).toEqual({ allowed: true });
    expect(await deleting('sick')).toBe(true);
    expect((await objects.get(PDB, 'default', 'web')).status.disruptedPods).toBeUndefined();
  });

  it('refuses while the budget is not yet processed; 404 for a missing pod; 500 for two budgets', async () => {
    await readyPod('a');
    await objects.create(pdb('web', { minAvailable: 0 }));
    // (no controller has looked at it yet if we stop it first)
    await controller.stop();
    await objects.create(pdb('late', { minAvailable: 0, selector: { matchLabels: { app: 'late' } } }));
    await readyPod('l', { app: 'late' });
    expect(await evictPod(objects, 'default', 'l')).toMatchObject({ allowed: false, code: 429 });
    await expect(evictPod(objects, 'default', 'missing')).rejects.toMatchObject({ code: 404 });
    await objects.create(pdb('second', { minAvailable: 0 }));
    await expect(evictPod(objects, 'default', 'a')).rejects.toMatchObject({ code: 500 });
    controller = new DisruptionController({ objects });
    await controller.start();
  });
});
