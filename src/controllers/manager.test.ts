import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../scheduler/scheduler.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type RunningControllers, startControllers } from './manager.ts';
import {
  DEPLOYMENT,
  NAMESPACE,
  POD,
  type TestObjects,
  createNode,
  openTestObjects,
  until,
} from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let running: RunningControllers | undefined;
let scheduler: Scheduler | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  await scheduler?.stop();
  await running?.stop();
  await t.close();
});

describe('startControllers', () => {
  it('ensures the default namespaces and runs deployment → pods → scheduler → gc end to end', async () => {
    await objects.delete(NAMESPACE, undefined, 'kube-node-lease');
    running = startControllers({ objects });
    await running.ready;
    expect(await objects.get(NAMESPACE, undefined, 'default')).toBeDefined();
    expect(await objects.get(NAMESPACE, undefined, 'kube-node-lease')).toBeDefined();

    scheduler = new Scheduler({ objects, informers: running.informers });
    await scheduler.start();
    await createNode(objects, { name: 'n1' });
    await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
        },
      },
    });
    await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return items.length === 3 && items.every((p) => p.spec.nodeName === 'n1');
    }, 'three pods bound to n1');

    // Deleting the Deployment collects its pods (bound pods are deleted gracefully: they get a
    // deletionTimestamp and wait for the node agent, which this test does not run).
    await objects.delete(DEPLOYMENT, 'default', 'web');
    await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return items.every((p) => p.metadata.deletionTimestamp);
    }, 'pods marked for deletion');
  });

  it('stop() is idempotent and waits for the controllers', async () => {
    running = startControllers({ objects });
    await running.ready;
    await Promise.all([running.stop(), running.stop()]);
  });
});
