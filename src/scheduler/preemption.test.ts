import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  POD,
  type TestObjects,
  condition,
  createNode,
  openTestObjects,
  until,
} from '../controllers/testutil.ts';
import type { ObjectStore } from '../store/objects.ts';
import { NodeInfoCache, podInfo } from './node-info.ts';
import { type DisruptionBudget, disruptionBudgets, planPreemption } from './preemption.ts';
import { Placer } from './schedule.ts';
import { Scheduler } from './scheduler.ts';
import { node, pod } from './test-helpers.ts';

function cluster(nodes: any[], bound: Record<string, any[]>): NodeInfoCache {
  const cache = new NodeInfoCache();
  for (const n of nodes) cache.setNode(n);
  for (const [name, pods] of Object.entries(bound))
    for (const p of pods) cache.setPod({ ...p, spec: { ...p.spec, nodeName: name } });
  return cache;
}

const plan = (p: any, cache: NodeInfoCache, budgets: DisruptionBudget[] = []) =>
  planPreemption(podInfo(p), cache, new Placer(), { budgets });
const names = (r: ReturnType<typeof plan>) =>
  r && { node: r.node, victims: r.victims.map((v) => v.pod.metadata.name) };

describe('planPreemption', () => {
  it('evicts the fewest, lowest-priority pods that make room', () => {
    const cache = cluster([node({ name: 'n1', cpu: '4' })], {
      n1: [
        pod({ name: 'low-1', cpu: '1', priority: 1 }),
        pod({ name: 'low-2', cpu: '1', priority: 2 }),
        pod({ name: 'mid', cpu: '2', priority: 50 }),
      ],
    });
    expect(names(plan(pod({ name: 'hi', cpu: '1', priority: 100 }), cache))).toEqual({
      node: 'n1',
      victims: ['low-1'],
    });
    expect(names(plan(pod({ name: 'hi', cpu: '2', priority: 100 }), cache))).toEqual({
      node: 'n1',
      victims: ['low-1', 'low-2'],
    });
    // Pods of equal or higher priority are never victims.
    expect(plan(pod({ name: 'eq', cpu: '1', priority: 2 }), cache)).toMatchObject({
      victims: [expect.anything()],
    });
    expect(plan(pod({ name: 'lowest', cpu: '1', priority: 0 }), cache)).toBeUndefined();
  });

  it('prefers the node whose victims matter least', () => {
    const cache = cluster([node({ name: 'a', cpu: '2' }), node({ name: 'b', cpu: '2' })], {
      a: [pod({ name: 'a-pod', cpu: '2', priority: 10 })],
      b: [pod({ name: 'b-pod', cpu: '2', priority: 5 })],
    });
    expect(names(plan(pod({ name: 'hi', cpu: '1', priority: 100 }), cache))).toEqual({
      node: 'b',
      victims: ['b-pod'],
    });
  });

  it('respects PodDisruptionBudgets where it can', () => {
    const cache = cluster([node({ name: 'a', cpu: '2' }), node({ name: 'b', cpu: '2' })], {
      a: [pod({ name: 'guarded', cpu: '2', priority: 1, labels: { app: 'db' } })],
      b: [pod({ name: 'free', cpu: '2', priority: 5 })],
    });
    const pdb = disruptionBudgets([
      {
        metadata: { name: 'db', namespace: 'default' },
        spec: { selector: { matchLabels: { app: 'db' } } },
        status: { disruptionsAllowed: 0 },
      },
    ]);
    const hi = pod({ name: 'hi', cpu: '1', priority: 100 });
    expect(names(plan(hi, cache))).toEqual({ node: 'a', victims: ['guarded'] }); // lowest priority
    expect(plan(hi, cache, pdb)).toMatchObject({ node: 'b', pdbViolations: 0 });
  });

  it('does not preempt for what eviction cannot cure, or with preemptionPolicy Never', () => {
    const cache = cluster([node({ name: 'a', cpu: '1', labels: { disk: 'hdd' } })], {
      a: [pod({ name: 'x', cpu: '1', priority: 0 })],
    });
    expect(
      plan(pod({ name: 'hi', cpu: '1', priority: 100, nodeSelector: { disk: 'ssd' } }), cache),
    ).toBeUndefined();
    expect(
      plan(pod({ name: 'hi', cpu: '1', priority: 100 }, { preemptionPolicy: 'Never' }), cache),
    ).toBeUndefined();
    expect(plan(pod({ name: 'hi', cpu: '1', priority: 100 }), cache)).toBeDefined();
  });

  it('holds the room for a nominated pod against lower-priority pods', () => {
    const cache = cluster([node({ name: 'a', cpu: '2' })], {});
    const hi = podInfo(pod({ name: 'hi', cpu: '2', priority: 100 }));
    cache.nominate(hi, 'a');
    const placer = new Placer();
    const low = placer.place(podInfo(pod({ name: 'low', cpu: '1', priority: 1 })), cache.nodes(), cache);
    expect(low).toMatchObject({ message: '0/1 nodes are available: 1 Insufficient cpu.' });
    expect(
      placer.place(podInfo(pod({ name: 'higher', cpu: '1', priority: 1000 })), cache.nodes(), cache),
    ).toEqual({
      node: 'a',
    });
    cache.clearNomination(hi.key);
    expect(placer.place(podInfo(pod({ name: 'low', cpu: '1', priority: 1 })), cache.nodes(), cache)).toEqual({
      node: 'a',
    });
  });
});

describe('Scheduler preemption', () => {
  let t: TestObjects;
  let objects: ObjectStore;
  let scheduler: Scheduler | undefined;
  let finalizing = true;

  beforeEach(async () => {
    t = await openTestObjects();
    objects = t.objects;
    finalizing = true;
  });

  afterEach(async () => {
    finalizing = false;
    await scheduler?.stop();
    scheduler = undefined;
    await t.close();
  });

  /** What an agent does: finish pods marked for deletion. */
  async function finalizeDeletedPods(): Promise<void> {
    while (finalizing) {
      const { items } = await objects.list(POD, 'default');
      for (const p of items)
        if (p.metadata.deletionTimestamp)
          await objects.delete(POD, 'default', p.metadata.name, { gracePeriodSeconds: 0 }).catch(() => {});
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const getPod = (name: string) => objects.get(POD, 'default', name);

  it('a high-priority pod evicts a low-priority one on a full node and takes its place', async () => {
    await createNode(objects, { name: 'n1', cpu: '2' });
    await objects.create(pod({ name: 'low', cpu: '2', nodeName: 'n1', priority: 0 }));
    const preempted: string[] = [];
    scheduler = new Scheduler({
      objects,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      retryIntervalMs: 50,
      onPreempt: (p, victims, nodeName) =>
        preempted.push(
          `${p.metadata.name} → ${victims.map((v) => v.metadata.name).join(',')} on ${nodeName}`,
        ),
    });
    await scheduler.start();
    const finalizer = finalizeDeletedPods();
    await objects.create(pod({ name: 'high', cpu: '2', priority: 1000 }));
    // Nominated first, while the victim terminates (it carries DisruptionTarget), then bound.
    const nominated = await until(async () => (await getPod('high'))?.status?.nominatedNodeName, 'nominated');
    expect(nominated).toBe('n1');
    expect(await until(async () => (await getPod('high'))?.spec.nodeName, 'high bound')).toBe('n1');
    expect(await getPod('low')).toBeUndefined();
    expect(preempted).toEqual(['high → low on n1']);
    expect(scheduler.stats()).toMatchObject({ preemptions: 1, victims: 1 });
    finalizing = false;
    await finalizer;
  });

  it('marks the victim DisruptionTarget before deleting it', async () => {
    await createNode(objects, { name: 'n1', cpu: '1' });
    await objects.create(pod({ name: 'low', cpu: '1', nodeName: 'n1' }));
    scheduler = new Scheduler({ objects, initialBackoffMs: 5, maxBackoffMs: 20 });
    await scheduler.start();
    await objects.create(pod({ name: 'high', cpu: '1', priority: 10 }));
    const victim = await until(async () => {
      const p = await getPod('low');
      return p?.metadata.deletionTimestamp && p;
    }, 'victim marked for deletion');
    expect(condition(victim, 'DisruptionTarget')).toMatchObject({
      status: 'True',
      reason: 'PreemptionByScheduler',
    });
    // Still terminating (no agent here): the preemptor waits, nominated, and nobody else is evicted.
    expect((await getPod('high')).spec.nodeName).toBeUndefined();
  });

  it('preemptionPolicy Never waits instead', async () => {
    await createNode(objects, { name: 'n1', cpu: '1' });
    await objects.create(pod({ name: 'low', cpu: '1', nodeName: 'n1' }));
    scheduler = new Scheduler({ objects, initialBackoffMs: 5, maxBackoffMs: 20 });
    await scheduler.start();
    await objects.create(pod({ name: 'polite', cpu: '1', priority: 1000 }, { preemptionPolicy: 'Never' }));
    await until(
      async () => condition(await getPod('polite'), 'PodScheduled')?.status === 'False',
      'reported',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect((await getPod('low')).metadata.deletionTimestamp).toBeUndefined();
    expect((await getPod('polite')).status.nominatedNodeName).toBeUndefined();
    expect(scheduler.stats().preemptions).toBe(0);
  });
});
