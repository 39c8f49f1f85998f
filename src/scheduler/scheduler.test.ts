import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  NODE,
  POD,
  type TestObjects,
  condition,
  createNode,
  nodeStatus,
  openTestObjects,
  podObject,
  until,
} from '../controllers/testutil.ts';
import type { ObjectStore } from '../store/objects.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';

let t: TestObjects;
let objects: ObjectStore;
const schedulers: Scheduler[] = [];

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  for (const s of schedulers.splice(0)) await s.stop();
  await t.close();
});

async function startScheduler(opts: Partial<SchedulerOptions> = {}): Promise<Scheduler> {
  const s = new Scheduler({ objects, initialBackoffMs: 5, maxBackoffMs: 20, ...opts });
  schedulers.push(s);
  await s.start();
  return s;
}

const getPod = (name: string) => objects.get(POD, 'default', name);
const nodeOf = async (name: string) => (await getPod(name))?.spec.nodeName as string | undefined;

describe('Scheduler', () => {
  it('binds pending pods and marks them PodScheduled=True', async () => {
    await createNode(objects, { name: 'n1', cpu: '2', memory: '4Gi' });
    await createNode(objects, { name: 'n2', cpu: '2', memory: '4Gi' });
    for (let i = 0; i < 6; i++)
      await objects.create(podObject({ name: `p${i}`, cpu: '500m', memory: '512Mi' }));
    const s = await startScheduler();
    const placed = await until(async () => {
      const { items } = await objects.list(POD, 'default');
      const ok = items.every((p) => p.spec.nodeName && condition(p, 'PodScheduled')?.status === 'True');
      return ok && items;
    }, 'all pods bound');
    const perNode = new Map<string, number>();
    for (const p of placed) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    expect(perNode).toEqual(
      new Map([
        ['n1', 3],
        ['n2', 3],
      ]),
    ); // spread
    // Pods created after start are bound too.
    await objects.create(podObject({ name: 'late', cpu: '100m' }));
    await until(() => nodeOf('late'), 'late pod bound');
    expect(s.stats().scheduled).toBe(7);
  });

  it('holds a pod with scheduling gates (SchedulingGated) and places it once the gates are removed', async () => {
    await createNode(objects, { name: 'n1', cpu: '2', memory: '4Gi' });
    const gated = podObject({ name: 'gated', cpu: '100m' });
    gated.spec.schedulingGates = [{ name: 'example.com/quota' }, { name: 'example.com/review' }];
    await objects.create(gated);
    await startScheduler();
    const held = await until(async () => {
      const p = await getPod('gated');
      return condition(p, 'PodScheduled')?.reason === 'SchedulingGated' && p;
    }, 'SchedulingGated condition');
    expect(held.spec.nodeName).toBeUndefined();
    // Gates may only be removed: adding one is refused.
    const added = structuredClone(held);
    added.spec.schedulingGates.push({ name: 'example.com/more' });
    await expect(objects.update(added)).rejects.toMatchObject({ code: 422 });
    const one = structuredClone(held);
    one.spec.schedulingGates = [{ name: 'example.com/review' }];
    await objects.update(one);
    expect(await nodeOf('gated')).toBeUndefined();
    const none = await getPod('gated');
    none.spec.schedulingGates = [];
    await objects.update(none);
    await until(() => nodeOf('gated'), 'gated pod bound once its gates are gone');
  });

  it('explains an unschedulable pod, and binds it when a fitting node appears', async () => {
    await createNode(objects, { name: 'small-1', memory: '1Gi', runtimes: ['microvm'] });
    await createNode(objects, { name: 'small-2', memory: '1Gi', runtimes: ['microvm'] });
    await createNode(objects, { name: 'wasm-only', memory: '64Gi', runtimes: ['wasm'] });
    await objects.create(podObject({ name: 'vm', memory: '2Gi', runtimeClassName: 'microvm' }));
    const s = await startScheduler({ retryIntervalMs: 10 });
    const pod = await until(async () => {
      const p = await getPod('vm');
      return condition(p, 'PodScheduled') && p;
    }, 'PodScheduled condition');
    expect(condition(pod, 'PodScheduled')).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message:
        '0/3 nodes are available: 2 Insufficient memory, 1 node(s) didn\'t offer runtime class "microvm".',
    });
    expect(pod.status.phase).toBe('Pending');
    // Retries (node heartbeats, periodic flushes) do not rewrite an unchanged condition.
    const rv = pod.metadata.resourceVersion;
    await objects.create(podObject({ name: 'other', cpu: '1', runtimeClassName: 'microvm' })); // a pod event
    await until(() => nodeOf('other'), 'other pod bound');
    await until(() => s.stats().unschedulableAttempts >= 5, 'periodic retries');
    expect((await getPod('vm')).metadata.resourceVersion).toBe(rv);
    expect(s.stats().unschedulable).toBe(1);

    await createNode(objects, { name: 'big', memory: '16Gi', runtimes: ['microvm'] });
    expect(await until(() => nodeOf('vm'), 'vm bound after node added')).toBe('big');
    expect(condition(await getPod('vm'), 'PodScheduled')).toMatchObject({ status: 'True' });
  });

  it('says so when no nodes are registered', async () => {
    await objects.create(podObject({ name: 'p' }));
    await startScheduler();
    const c = await until(async () => condition(await getPod('p'), 'PodScheduled'), 'condition');
    expect(c.message).toBe('0/0 nodes are available: no nodes registered.');
  });

  it('retries when a node becomes Ready and when a bound pod finishes', async () => {
    await createNode(objects, { name: 'n1', cpu: '1', ready: false });
    await objects.create(podObject({ name: 'a', cpu: '800m' }));
    await startScheduler();
    await until(
      async () =>
        condition(await getPod('a'), 'PodScheduled')?.message ===
        '0/1 nodes are available: 1 node(s) were not ready.',
    );
    await objects.updateStatus(NODE, undefined, 'n1', { status: nodeStatus({ name: 'n1', cpu: '1' }) });
    expect(await until(() => nodeOf('a'), 'a bound')).toBe('n1');

    await objects.create(podObject({ name: 'b', cpu: '800m' }));
    await until(
      async () =>
        condition(await getPod('b'), 'PodScheduled')?.message ===
        '0/1 nodes are available: 1 Insufficient cpu.',
    );
    await objects.patch(POD, 'default', 'a', { status: { phase: 'Succeeded' } }, 'status');
    expect(await until(() => nodeOf('b'), 'b bound after a finished')).toBe('n1');
  });

  it('never overcommits a node (assumed placements count before bindings are visible)', async () => {
    await createNode(objects, { name: 'n1', cpu: '1', pods: '10' });
    await createNode(objects, { name: 'n2', cpu: '1', pods: '10' });
    for (let i = 0; i < 10; i++) await objects.create(podObject({ name: `p${i}`, cpu: '400m' }));
    const s = await startScheduler();
    await until(() => s.stats().scheduled === 4 && s.stats().unschedulable === 6, 'four bound, six waiting');
    const { items } = await objects.list(POD, 'default');
    const bound = items.filter((p) => p.spec.nodeName);
    expect(bound.filter((p) => p.spec.nodeName === 'n1')).toHaveLength(2);
    expect(bound.filter((p) => p.spec.nodeName === 'n2')).toHaveLength(2);
  });

  it('binpack fills one node before the next', async () => {
    await createNode(objects, { name: 'a', cpu: '2' });
    await createNode(objects, { name: 'b', cpu: '2' });
    await createNode(objects, { name: 'c', cpu: '2' });
    await startScheduler({ strategy: 'binpack' });
    // One at a time, so each placement sees the previous binding.
    const where: string[] = [];
    for (let i = 0; i < 4; i++) {
      await objects.create(podObject({ name: `p${i}`, cpu: '1' }));
      where.push((await until(() => nodeOf(`p${i}`), `p${i} bound`))!);
    }
    expect(where[0]).toBe(where[1]);
    expect(where[2]).toBe(where[3]);
    expect(where[2]).not.toBe(where[0]);
  });

  it('binds pending pods highest priority first', async () => {
    await createNode(objects, { name: 'n1', cpu: '1' });
    const withPriority = (name: string, priority: number) => ({
      ...podObject({ name, cpu: '1' }),
      spec: { ...podObject({ name, cpu: '1' }).spec, priority },
    });
    await objects.create(withPriority('early-low', 1));
    await objects.create(withPriority('late-high', 100));
    await startScheduler({ preemption: false });
    expect(await until(() => nodeOf('late-high'), 'high bound')).toBe('n1');
    expect(await nodeOf('early-low')).toBeUndefined();
  });

  it('ignores pods already bound and pods deleted while waiting', async () => {
    await createNode(objects, { name: 'n1', cpu: '1' });
    await objects.create(podObject({ name: 'pinned', cpu: '1', nodeName: 'n1' }));
    await objects.create(podObject({ name: 'waiting', cpu: '1' }));
    const s = await startScheduler();
    await until(async () => condition(await getPod('waiting'), 'PodScheduled'), 'waiting reported');
    expect(s.stats().unschedulable).toBe(1);
    await objects.delete(POD, 'default', 'waiting');
    await until(() => s.stats().unschedulable === 0, 'dropped from the queue');
    expect(s.stats().scheduled).toBe(0);
  });
});
