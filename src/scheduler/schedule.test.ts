import { describe, expect, it } from 'vitest';
import { nodeObject, podObject } from '../controllers/testutil.ts';
import { NodeInfoCache, podInfo } from './node-info.ts';
import { SchedulingQueue } from './queue.ts';
import { podResources } from './resources.ts';
import { Placer, isPlaced, numFeasibleNodesToFind, schedule, unschedulableMessage } from './schedule.ts';

const placedOn = (r: ReturnType<typeof schedule>) => (isPlaced(r) ? r.node : undefined);
const messageOf = (r: ReturnType<typeof schedule>) => (isPlaced(r) ? undefined : r.message);

describe('resource requests', () => {
  it('sums containers, takes the largest init container, adds overhead, falls back to limits', () => {
    const pod = {
      spec: {
        containers: [
          { name: 'a', resources: { requests: { cpu: '250m', memory: '64Mi' } } },
          { name: 'b', resources: { limits: { cpu: '0.5', memory: '1Gi' } } },
        ],
        initContainers: [{ name: 'i', resources: { requests: { cpu: '2', memory: '1Mi' } } }],
        overhead: { cpu: '100m' },
      },
    };
    const r = podResources(pod);
    expect(r.requests).toEqual({ milliCpu: 2100, memory: 64 * 2 ** 20 + 2 ** 30 });
  });

  it('gives best-effort pods non-zero defaults for scoring only', () => {
    const r = podResources(podObject({ name: 'p' }));
    expect(r.requests).toEqual({ milliCpu: 0, memory: 0 });
    expect(r.nonZero.milliCpu).toBe(100);
    expect(r.nonZero.memory).toBe(200 * 2 ** 20);
  });
});

describe('filters', () => {
  it('resources fit: counts non-terminated pods on the node, plus this pod', () => {
    const nodes = [nodeObject({ name: 'n1', cpu: '1', memory: '1Gi' })];
    const running = podObject({ name: 'a', cpu: '600m', memory: '100Mi' });
    const done = podObject({ name: 'b', cpu: '900m', memory: '900Mi', phase: 'Succeeded' });
    const podsByNode = { n1: [running, done] };
    expect(placedOn(schedule(podObject({ name: 'p', cpu: '400m' }), nodes, podsByNode))).toBe('n1');
    expect(messageOf(schedule(podObject({ name: 'p', cpu: '401m' }), nodes, podsByNode))).toBe(
      '0/1 nodes are available: 1 Insufficient cpu.',
    );
    expect(messageOf(schedule(podObject({ name: 'p', cpu: '2', memory: '2Gi' }), nodes, podsByNode))).toBe(
      '0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.',
    );
  });

  it('resources fit: pod slots', () => {
    const nodes = [nodeObject({ name: 'n1', pods: '1' })];
    expect(messageOf(schedule(podObject({ name: 'p' }), nodes, { n1: [podObject({ name: 'a' })] }))).toBe(
      '0/1 nodes are available: 1 Too many pods.',
    );
    expect(placedOn(schedule(podObject({ name: 'p' }), nodes, {}))).toBe('n1');
  });

  it('nodeSelector must match every label', () => {
    const nodes = [
      nodeObject({ name: 'a', labels: { zone: 'a', disk: 'ssd' } }),
      nodeObject({ name: 'b', labels: { zone: 'b', disk: 'ssd' } }),
    ];
    expect(
      placedOn(schedule(podObject({ name: 'p', nodeSelector: { zone: 'b', disk: 'ssd' } }), nodes)),
    ).toBe('b');
    expect(messageOf(schedule(podObject({ name: 'p', nodeSelector: { zone: 'c' } }), nodes))).toBe(
      "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
    );
  });

  it('runtime class must be offered by the node', () => {
    const nodes = [
      nodeObject({ name: 'w', runtimes: ['wasm'] }),
      nodeObject({ name: 'vm', runtimes: ['microvm'] }),
    ];
    expect(placedOn(schedule(podObject({ name: 'p', runtimeClassName: 'microvm' }), nodes))).toBe('vm');
    expect(placedOn(schedule(podObject({ name: 'p', runtimeClassName: 'wasm' }), nodes))).toBe('w');
    expect(messageOf(schedule(podObject({ name: 'p', runtimeClassName: 'container' }), nodes))).toBe(
      '0/2 nodes are available: 2 node(s) didn\'t offer runtime class "container".',
    );
  });

  it('nodes must be Ready and schedulable', () => {
    const nodes = [
      nodeObject({ name: 'down', ready: false }),
      nodeObject({ name: 'cordoned', unschedulable: true }),
      { ...nodeObject({ name: 'no-status' }), status: undefined },
    ];
    expect(messageOf(schedule(podObject({ name: 'p' }), nodes))).toBe(
      '0/3 nodes are available: 2 node(s) were not ready, 1 node(s) were unschedulable.',
    );
  });
});

describe('reason message', () => {
  it('counts nodes per reason, most common first', () => {
    const nodes = [
      nodeObject({ name: 'a', memory: '1Gi', runtimes: ['microvm'] }),
      nodeObject({ name: 'b', memory: '1Gi', runtimes: ['microvm'] }),
      nodeObject({ name: 'c', memory: '64Gi', runtimes: ['wasm'] }),
    ];
    const r = schedule(podObject({ name: 'p', memory: '2Gi', runtimeClassName: 'microvm' }), nodes);
    expect(isPlaced(r)).toBe(false);
    if (isPlaced(r)) return;
    expect(r.message).toBe(
      '0/3 nodes are available: 2 Insufficient memory, 1 node(s) didn\'t offer runtime class "microvm".',
    );
    expect(r.reasons).toEqual(
      new Map([
        ['Insufficient memory', 2],
        ['node(s) didn\'t offer runtime class "microvm"', 1],
      ]),
    );
  });

  it('at scale, through the indexes, still counts every node', () => {
    const cache = new NodeInfoCache();
    for (let i = 0; i < 5000; i++)
      cache.setNode(
        i < 4000
          ? nodeObject({ name: `vm-${i}`, memory: '4Gi', runtimes: ['microvm', 'container'] })
          : nodeObject({ name: `c-${i}`, memory: '64Gi', runtimes: ['container', 'wasm'] }),
      );
    const placer = new Placer();
    const vm = podInfo(podObject({ name: 'vm', memory: '8Gi', runtimeClassName: 'microvm' }));
    const r = placer.place(vm, cache.nodes(), cache);
    expect(isPlaced(r) ? r.node : r.message).toBe(
      '0/5000 nodes are available: 4000 Insufficient memory, 1000 node(s) didn\'t offer runtime class "microvm".',
    );
    // The runtime index narrowed the search to the 4000 microvm nodes; the explanation covers all 5000.
    expect(placer.stats.examined).toBe(4000);
  });

  it('with no nodes', () => {
    expect(messageOf(schedule(podObject({ name: 'p' }), []))).toBe(
      '0/0 nodes are available: no nodes registered.',
    );
    expect(unschedulableMessage(new Map(), 0)).toBe('0/0 nodes are available: no nodes registered.');
  });
});

describe('strategies', () => {
  const nodes = [
    nodeObject({ name: 'busy', cpu: '4', memory: '8Gi' }),
    nodeObject({ name: 'idle', cpu: '4', memory: '8Gi' }),
  ];
  const podsByNode = { busy: [podObject({ name: 'x', cpu: '2', memory: '4Gi' })] };
  const pod = podObject({ name: 'p', cpu: '1', memory: '1Gi' });

  it('spread picks the least allocated node', () => {
    expect(placedOn(schedule(pod, nodes, podsByNode, { strategy: 'spread' }))).toBe('idle');
  });

  it('binpack picks the most allocated node that still fits', () => {
    expect(placedOn(schedule(pod, nodes, podsByNode, { strategy: 'binpack' }))).toBe('busy');
    const big = podObject({ name: 'big', cpu: '3', memory: '1Gi' });
    expect(placedOn(schedule(big, nodes, podsByNode, { strategy: 'binpack' }))).toBe('idle');
  });

  it('rejects an unknown strategy', () => {
    expect(() => new Placer({ strategy: 'random' as never })).toThrow(/unknown scheduling strategy "random"/);
  });
});

describe('incremental placement (NodeInfoCache + Placer)', () => {
  it('keeps per-node totals from pod events and assumptions', () => {
    const cache = new NodeInfoCache();
    cache.setNode(nodeObject({ name: 'n1', cpu: '2' }));
    const a = podObject({ name: 'a', cpu: '500m', nodeName: 'n1' });
    cache.setPod(a);
    expect(cache.get('n1')!.requested).toEqual({ milliCpu: 500, memory: 0, pods: 1 });
    // Assumed before the binding is visible, confirmed by the event, never counted twice.
    const b = podInfo(podObject({ name: 'b', cpu: '1' }));
    cache.assume(b, 'n1');
    expect(cache.get('n1')!.requested.milliCpu).toBe(1500);
    cache.setPod(podObject({ name: 'b', cpu: '1' })); // a stale, unbound copy must not undo the assumption
    expect(cache.get('n1')!.requested.milliCpu).toBe(1500);
    cache.setPod(podObject({ name: 'b', cpu: '1', nodeName: 'n1' }));
    cache.forget(b.key); // confirmed: forget is a no-op
    expect(cache.get('n1')!.requested.milliCpu).toBe(1500);
    // Finishing frees resources; deleting a pod that no longer counts changes nothing.
    expect(cache.setPod({ ...a, status: { phase: 'Succeeded' } })).toBe(true);
    expect(cache.get('n1')!.requested).toEqual({ milliCpu: 1000, memory: 0, pods: 1 });
    expect(cache.removePod('default/a')).toBe(false);
    // A failed binding is undone.
    const c = podInfo(podObject({ name: 'c', cpu: '1' }));
    cache.assume(c, 'n1');
    cache.forget(c.key);
    expect(cache.get('n1')!.requested.milliCpu).toBe(1000);
  });

  it('accounts pods bound to a node it has not seen yet once the node appears', () => {
    const cache = new NodeInfoCache();
    cache.setPod(podObject({ name: 'a', cpu: '1', nodeName: 'late' }));
    expect(cache.nodes()).toHaveLength(0);
    cache.setNode(nodeObject({ name: 'late', cpu: '1' }));
    const r = new Placer().place(podInfo(podObject({ name: 'p', cpu: '1' })), cache.nodes());
    expect(isPlaced(r) ? r.node : r.message).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    cache.removeNode('late');
    expect(cache.nodes()).toHaveLength(0);
  });

  it('fills a large cluster evenly and examines a bounded share of nodes per pod', () => {
    expect(numFeasibleNodesToFind(50)).toBe(50);
    expect(numFeasibleNodesToFind(5000)).toBe(500);
    expect(numFeasibleNodesToFind(5000, 100)).toBe(5000);
    const cache = new NodeInfoCache();
    for (let i = 0; i < 1000; i++)
      cache.setNode(nodeObject({ name: `n${i}`, cpu: '2', memory: '4Gi', pods: '10' }));
    const placer = new Placer({ strategy: 'spread' });
    let examined = 0;
    const countingPlacer = new Placer({
      filters: [{ name: 'count', filter: () => void examined++ }],
    });
    for (let i = 0; i < 3000; i++) {
      const info = podInfo(podObject({ name: `p${i}`, cpu: '100m', memory: '128Mi' }));
      const r = placer.place(info, cache.nodes());
      if (!isPlaced(r)) throw new Error(r.message);
      cache.assume(info, r.node);
      countingPlacer.place(info, cache.nodes());
    }
    const perNode = cache.nodes().map((n) => n.requested.pods);
    expect(Math.min(...perNode)).toBe(3);
    expect(Math.max(...perNode)).toBe(3);
    expect(examined).toBe(3000 * numFeasibleNodesToFind(1000));
    // Now full: every node is examined and every one explains itself.
    const r = placer.place(podInfo(podObject({ name: 'big', cpu: '1900m' })), cache.nodes());
    expect(isPlaced(r) ? r.node : r.message).toBe('0/1000 nodes are available: 1000 Insufficient cpu.');
  });
});

describe('SchedulingQueue', () => {
  it('is FIFO, parks unschedulable pods and releases them with backoff', () => {
    let now = 1000;
    const q = new SchedulingQueue({ initialBackoffMs: 100, maxBackoffMs: 400, now: () => now });
    q.addOrUpdate('a', { n: 1 });
    q.addOrUpdate('b', {});
    q.addOrUpdate('a', { n: 2 }); // an update keeps the place in line
    const a = q.pop()!;
    expect(a.key).toBe('a');
    expect(a.pod).toEqual({ n: 2 });
    a.attempts = 1;
    a.lastAttemptAt = now;
    q.requeue(a, 'unschedulable');
    expect(q.pop()!.key).toBe('b');
    expect(q.pop()).toBeUndefined();
    q.moveAllUnschedulable();
    expect(q.pop()).toBeUndefined(); // still backing off
    expect(q.flushBackoff()).toBe(100);
    now += 100;
    expect(q.flushBackoff()).toBeUndefined();
    expect(q.pop()!.key).toBe('a');
    expect(q.backoffDelay({ key: 'x', pod: {}, attempts: 10, lastAttemptAt: 0 })).toBe(400);
  });

  it('takes higher priority first, FIFO among equals', () => {
    const q = new SchedulingQueue();
    const withPriority = (priority?: number) => ({ spec: priority === undefined ? {} : { priority } });
    q.addOrUpdate('a', withPriority());
    q.addOrUpdate('b', withPriority(100));
    q.addOrUpdate('c', withPriority(-5));
    q.addOrUpdate('d', withPriority(100));
    q.addOrUpdate('e', withPriority(0));
    const order: string[] = [];
    for (let e = q.pop(); e; e = q.pop()) order.push(e.key);
    expect(order).toEqual(['b', 'd', 'a', 'e', 'c']);
    // A re-queued pod keeps its priority but goes behind its equals.
    for (const k of ['x', 'y']) q.addOrUpdate(k, withPriority(1));
    q.requeue(q.pop()!, 'active');
    expect([q.pop()?.key, q.pop()?.key]).toEqual(['y', 'x']);
  });

  it('sends a re-queued pod to the back of the line and forgets removed ones', () => {
    const q = new SchedulingQueue();
    for (const k of ['a', 'b', 'c']) q.addOrUpdate(k, {});
    const a = q.pop()!;
    q.requeue(a, 'active');
    q.remove('b');
    expect([q.pop()?.key, q.pop()?.key, q.pop()?.key]).toEqual(['c', 'a', undefined]);
  });
});
