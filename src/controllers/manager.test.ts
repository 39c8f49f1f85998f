import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../scheduler/scheduler.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type RunningControllers, startControllers } from './manager.ts';
import {
  DEPLOYMENT,
  EVENT,
  LEASE,
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

  it('moves the pods of a node whose agent died to the other node', async () => {
    running = startControllers({ objects, nodeMonitorPeriodMs: 20, podEvictionTimeoutSeconds: 0 });
    await running.ready;
    scheduler = new Scheduler({ objects, informers: running.informers });
    await scheduler.start();
    const lease = (node: string, renewTime: Date) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: node, namespace: 'kube-node-lease' },
      spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime: renewTime.toISOString() },
    });
    for (const n of ['n1', 'n2']) {
      await createNode(objects, { name: n });
      await objects.create(lease(n, new Date()));
    }
    await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
        },
      },
    });
    await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return (
        items.length === 4 &&
        items.some((p) => p.spec.nodeName === 'n2') &&
        items.every((p) => p.spec.nodeName)
      );
    }, 'pods on both nodes');
    // n2's agent stops renewing its lease (long ago, as far as the controller can tell)
    await objects.mutate(LEASE, 'kube-node-lease', 'n2', (l) => ({
      ...l,
      spec: { ...l.spec, renewTime: new Date(Date.now() - 10 * 60_000).toISOString() },
    }));
    await until(async () => {
      const { items } = await objects.list(POD, 'default');
      return items.length === 4 && items.every((p) => p.spec.nodeName === 'n1');
    }, 'all pods on n1');
    await running.recorder.flush();
    const reasons = (await objects.list(EVENT)).items.map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['NodeNotReady', 'TaintManagerEviction', 'ScalingReplicaSet']),
    );
  });

  it('stop() is idempotent and waits for the controllers', async () => {
    running = startControllers({ objects });
    await running.ready;
    await Promise.all([running.stop(), running.stop()]);
  });
});
