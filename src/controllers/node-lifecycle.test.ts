import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { NodeLifecycleController, evictionTime } from './node-lifecycle.ts';
import {
  LEASE,
  NODE,
  POD,
  type TestObjects,
  condition,
  createNode,
  eventsFor,
  openTestObjects,
  podObject,
  setPodReady,
  until,
} from './testutil.ts';

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

async function start(gracePeriodMs: number, podEvictionTimeoutMs?: number): Promise<NodeLifecycleController> {
  controller = new NodeLifecycleController({
    objects,
    gracePeriodMs,
    monitorPeriodMs: 10,
    podEvictionTimeoutMs,
  });
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

    await until(async () => {
      const n = await objects.get(NODE, undefined, 'stale');
      return condition(n, 'Ready')?.status === 'Unknown' && n.spec.taints?.length === 1;
    }, 'stale node marked Unknown and tainted');
    await c.monitor();
    const node = await objects.get(NODE, undefined, 'stale');
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

describe('evictionTime', () => {
  const unreachable = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' as const };
  const custom = { key: 'maintenance', effect: 'NoExecute' as const };
  const at = () => 1000;
  it('gives untolerated condition taints the default timeout and other taints none', () => {
    expect(evictionTime([unreachable], [], at, 300_000)).toBe(301_000);
    expect(evictionTime([custom], [], at, 300_000)).toBe(1000);
    expect(evictionTime([{ ...custom, effect: 'NoSchedule' as any }], [], at, 300_000)).toBeUndefined();
  });
  it('honours tolerations, with and without tolerationSeconds', () => {
    expect(
      evictionTime(
        [unreachable],
        [{ key: unreachable.key, operator: 'Exists', effect: 'NoExecute' }],
        at,
        300_000,
      ),
    ).toBeUndefined();
    expect(
      evictionTime(
        [unreachable],
        [{ key: unreachable.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }],
        at,
        300_000,
      ),
    ).toBe(6000);
    expect(evictionTime([unreachable, custom], [{ operator: 'Exists' }], at, 300_000)).toBeUndefined();
  });
});

describe('NodeLifecycleController (taints and eviction)', () => {
  async function boundPod(name: string, node: string, tolerations?: any[]): Promise<any> {
    const p = podObject({ name, nodeName: node });
    if (tolerations) p.spec.tolerations = tolerations;
    const created = await objects.create(p);
    return setPodReady(objects, created);
  }

  it('taints an unreachable node, marks its pods not ready and evicts them after the timeout', async () => {
    await createNode(objects, { name: 'dead' });
    await createNode(objects, { name: 'alive' });
    await objects.create(lease('dead', new Date(Date.now() - 5 * 60_000)));
    await objects.create(lease('alive', new Date()));
    await boundPod('victim', 'dead');
    await boundPod('patient', 'dead', [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    ]);
    await boundPod('bystander', 'alive');
    await start(60_000, 300);

    const node = await until(async () => {
      const n = await objects.get(NODE, undefined, 'dead');
      return n.spec.taints?.length && n;
    }, 'taint');
    expect(node.spec.taints).toEqual([
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: expect.any(String) },
    ]);
    await until(async () => !(await objects.get(POD, 'default', 'victim')), 'victim evicted');
    const patient = await objects.get(POD, 'default', 'patient');
    expect(patient).toBeDefined();
    expect(condition(patient, 'Ready')).toMatchObject({ status: 'False', reason: 'NodeNotReady' });
    expect(condition(await objects.get(POD, 'default', 'bystander'), 'Ready')?.status).toBe('True');
    expect((await objects.get(NODE, undefined, 'alive')).spec.taints).toBeUndefined();

    await until(
      async () =>
        (await eventsFor(objects, 'Pod', 'victim')).some((e) => e.reason === 'TaintManagerEviction'),
      'eviction event',
    );
    await until(
      async () => (await eventsFor(objects, 'Node', 'dead')).some((e) => e.reason === 'NodeNotReady'),
      'node event',
    );

    // the agent comes back: Ready again, taint removed
    await objects.mutate(LEASE, 'kube-node-lease', 'dead', (l) => ({
      ...l,
      spec: { ...l.spec, renewTime: new Date().toISOString() },
    }));
    await objects.mutate(
      NODE,
      undefined,
      'dead',
      (n) => ({
        ...n,
        status: { ...n.status, conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }] },
      }),
      'status',
    );
    await until(async () => !(await objects.get(NODE, undefined, 'dead')).spec.taints, 'taint removed');
  });

  it('evicts gracefully from a node whose agent reports NotReady, honouring tolerationSeconds', async () => {
    await createNode(objects, { name: 'sick', ready: false });
    await createNode(objects, { name: 'ok' });
    await objects.create(lease('sick', new Date()));
    await objects.create(lease('ok', new Date()));
    await boundPod('short', 'sick', [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 },
    ]);
    await boundPod('long', 'sick', [
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 3600,
      },
    ]);
    const c = await start(60_000, 3_600_000);
    const short = await until(async () => {
      const p = await objects.get(POD, 'default', 'short');
      return p?.metadata.deletionTimestamp && p;
    }, 'graceful eviction');
    expect(short.metadata.deletionGracePeriodSeconds).toBe(30);
    await c.monitor();
    expect((await objects.get(POD, 'default', 'long')).metadata.deletionTimestamp).toBeUndefined();
    expect((await objects.get(NODE, undefined, 'sick')).spec.taints[0].key).toBe(
      'node.kubernetes.io/not-ready',
    );
  });

  it('evicts nothing while no node at all is ready', async () => {
    await createNode(objects, { name: 'only' });
    await objects.create(lease('only', new Date(Date.now() - 5 * 60_000)));
    await boundPod('p', 'only');
    const c = await start(60_000, 0);
    await until(async () => (await objects.get(NODE, undefined, 'only')).spec.taints?.length === 1, 'taint');
    await c.monitor();
    await c.monitor();
    expect(await objects.get(POD, 'default', 'p')).toBeDefined();
  });
});
