import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { DisruptionController, EVICTION_REFUSED, evictPod } from './disruption.ts';
import { PDB, POD, type TestObjects, openTestObjects, podObject, setPodReady, until } from './testutil.ts';

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

async function readyPod(
  name: string,
  labels: Record<string, string> = { app: 'web' },
  extra: any = {},
): Promise<any> {
  const p = podObject({ name, nodeName: 'n1' });
  p.metadata.labels = labels;
  Object.assign(p.metadata, extra);
  return setPodReady(objects, await objects.create(p));
}

function pdb(name: string, spec: Record<string, unknown>): any {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: 'default' },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
  };
}

async function budgetStatus(name: string, check: (s: any) => boolean): Promise<any> {
  return until(async () => {
    const s = (await objects.get(PDB, 'default', name))?.status;
    return s && check(s) && s;
  }, `status of ${name}`);
}

const deleting = async (name: string) =>
  !!(await objects.get(POD, 'default', name))?.metadata.deletionTimestamp;

describe('DisruptionController', () => {
  it('computes expected, healthy and allowed disruptions for minAvailable', async () => {
    for (const n of ['a', 'b', 'c']) await readyPod(n);
    await readyPod('other', { app: 'db' });
    await objects.create(pdb('web', { minAvailable: 2 }));
    const s = await budgetStatus('web', (x) => x.expectedPods === 3);
    expect(s).toMatchObject({
      expectedPods: 3,
      currentHealthy: 3,
      desiredHealthy: 2,
      disruptionsAllowed: 1,
      observedGeneration: 1,
    });
    expect(s.conditions[0]).toMatchObject({
      type: 'DisruptionAllowed',
      status: 'True',
      reason: 'SufficientPods',
    });
    await setPodReady(objects, await objects.get(POD, 'default', 'a'), false);
    const after = await budgetStatus('web', (x) => x.currentHealthy === 2);
    expect(after.disruptionsAllowed).toBe(0);
    expect(after.conditions[0]).toMatchObject({ status: 'False', reason: 'InsufficientPods' });
  });

  it('uses the scale of the pods controller for maxUnavailable', async () => {
    const d = await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'registry.example/x:1' }] },
        },
      },
    });
    const owner = {
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true },
      ],
    };
    for (const n of ['a', 'b', 'c']) await readyPod(n, { app: 'web' }, owner);
    await objects.create(pdb('web', { maxUnavailable: 1 }));
    // 4 expected (the Deployment's replicas) although only 3 pods exist: no disruption allowed
    const s = await budgetStatus('web', (x) => x.expectedPods === 4);
    expect(s).toMatchObject({ desiredHealthy: 3, currentHealthy: 3, disruptionsAllowed: 0 });
  });

  it("counts a Deployment's replicas once for the pods of all its ReplicaSets", async () => {
    const template = {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'registry.example/x:1' }] },
    };
    const d = await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: { replicas: 5, selector: { matchLabels: { app: 'web' } }, template },
    });
    const controlled = (o: any) => [
      {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        uid: o.metadata.uid,
        controller: true,
      },
    ];
    const replicaSet = (hash: string, replicas: number) =>
      objects.create({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: `web-${hash}`, namespace: 'default', ownerReferences: controlled(d) },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } },
          template: { ...template, metadata: { labels: { app: 'web', 'pod-template-hash': hash } } },
        },
      });
    const [older, newer] = [await replicaSet('a', 2), await replicaSet('b', 2)];
    await readyPod('o1', { app: 'web' }, { ownerReferences: controlled(older) });
    await readyPod('n1', { app: 'web' }, { ownerReferences: controlled(newer) });
    await readyPod('n2', { app: 'web' }, { ownerReferences: controlled(newer) });
    await objects.create(pdb('web', { maxUnavailable: 1 }));
    const s = await budgetStatus('web', (x) => x.expectedPods === 5);
    expect(s).toMatchObject({ desiredHealthy: 4, currentHealthy: 3, disruptionsAllowed: 0 });
  });
});

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
