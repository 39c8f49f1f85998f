import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import { LEASE, NODE, type TestObjects, condition, createNode, openTestObjects, until } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: NodeLifecycleController | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  await controller?.stop();
  controller = undefined;
  await t.close();
});

const lease = (node: string, renewTime: Date) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: node, namespace: 'kube-node-lease' },
  spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime: renewTime.toISOString() },
});

async function start(gracePeriodMs: number): Promise<NodeLifecycleController> {
  controller = new NodeLifecycleController({ objects, gracePeriodMs, monitorPeriodMs: 10 });
  await controller.start();
  return controller;
}

describe('NodeLifecycleController', () => {
  it('marks a node whose lease is stale Ready=Unknown and leaves a renewed one alone', async () => {
    await createNode(objects, { name: 'stale' });
    await createNode(objects, { name: 'fresh' });
    await objects.create(lease('stale', new Date(Date.now() - 5 * 60_000)));
    await objects.create(lease('fresh', new Date()));
    const c = await start(60_000);

    const node = await until(async () => {
      const n = await objects.get(NODE, undefined, 'stale');
      return condition(n, 'Ready')?.status === 'Unknown' && n;
    }, 'stale node marked Unknown');
    expect(condition(node, 'Ready')).toMatchObject({
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Node agent stopped posting node status.',
    });
    await c.monitor(); // one more full pass: the fresh node stays Ready, the stale one is not rewritten
    const fresh = await objects.get(NODE, undefined, 'fresh');
    expect(condition(fresh, 'Ready')?.status).toBe('True');
    expect((await objects.get(NODE, undefined, 'stale')).metadata.resourceVersion).toBe(
      node.metadata.resourceVersion,
    );
  });

  it('notices a lease that stops being renewed', async () => {
    await createNode(objects, { name: 'n1' });
    await objects.create(lease('n1', new Date()));
    const c = await start(60_000);
    await c.monitor();
    expect(condition(await objects.get(NODE, undefined, 'n1'), 'Ready')?.status).toBe('True');
    // The last renewal is now long past (as if the agent died minutes ago).
    await objects.mutate(LEASE, 'kube-node-lease', 'n1', (l) => ({
      ...l,
      spec: { ...l.spec, renewTime: new Date(Date.now() - 61_000).toISOString() },
    }));
    await until(
      async () => condition(await objects.get(NODE, undefined, 'n1'), 'Ready')?.status === 'Unknown',
      'n1 Unknown',
    );
  });

  it('marks a node that never had a lease once the grace period has passed since it registered', async () => {
    await createNode(objects, { name: 'silent' });
    await start(0);
    const silent = await until(async () => {
      const n = await objects.get(NODE, undefined, 'silent');
      return condition(n, 'Ready')?.status === 'Unknown' && n;
    }, 'silent Unknown');
    expect(condition(silent, 'Ready')).toMatchObject({ reason: 'NodeStatusNeverUpdated' });
  });
});
