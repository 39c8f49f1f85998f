import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { DisruptionController } from './disruption.ts';
import {
  POD,
  type TestObjects,
  budgetStatusOf,
  openTestObjects,
  pdbObject as pdb,
  readyPodFor,
  setPodReady,
} from './testutil.ts';

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
