import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { EventGarbageCollector, EventRecorder, type EventSink, objectStoreEventSink } from './events.ts';
import { EVENT, type TestObjects, createNode, openTestObjects, podObject } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  await t.close();
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function recorder(extra: Partial<ConstructorParameters<typeof EventRecorder>[0]> = {}): EventRecorder {
  return new EventRecorder({
    sink: objectStoreEventSink(objects),
    component: 'test-controller',
    log: quiet,
    ...extra,
  });
}

async function allEvents(): Promise<any[]> {
  return (await objects.list(EVENT)).items;
}

describe('EventRecorder', () => {
  it('writes a v1 Event about the object, in its namespace', async () => {
    const pod = await objects.create(podObject({ name: 'web-1' }));
    const r = recorder({ host: 'node-a' });
    r.normal(pod, 'Created', 'Created pod: web-1');
    await r.flush();
    const [ev] = await allEvents();
    expect(ev.metadata.name).toMatch(/^web-1\.[0-9a-f]+$/);
    expect(ev).toMatchObject({
      metadata: { namespace: 'default' },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: 'default',
        name: 'web-1',
        uid: pod.metadata.uid,
      },
      reason: 'Created',
      message: 'Created pod: web-1',
      type: 'Normal',
      source: { component: 'test-controller', host: 'node-a' },
      count: 1,
      reportingComponent: 'test-controller',
    });
    expect(ev.firstTimestamp).toBe(ev.lastTimestamp);
  });

  it('puts events about cluster-scoped objects in the default namespace', async () => {
    const node = await createNode(objects, { name: 'n1' });
    const r = recorder();
    r.warning(node, 'NodeNotReady', 'Node n1 status is now: NodeNotReady');
    await r.flush();
    const [ev] = await allEvents();
    expect(ev.metadata.namespace).toBe('default');
    expect(ev.involvedObject).toMatchObject({ kind: 'Node', name: 'n1' });
    expect(ev.involvedObject.namespace).toBeUndefined();
    expect(ev.type).toBe('Warning');
  });

  it('aggregates repeats into one Event with a count and the latest timestamp', async () => {
    const pod = await objects.create(podObject({ name: 'p' }));
    let now = Date.parse('2030-01-01T00:00:00Z');
    const r = recorder({ now: () => now });
    r.warning(pod, 'BackOff', 'Back-off restarting failed container');
    await r.flush();
    now += 5000;
    r.warning(pod, 'BackOff', 'Back-off restarting failed container');
    r.warning(pod, 'BackOff', 'Back-off restarting failed container'); // coalesces with the previous one
    await r.flush();
    now += 5000;
    r.warning(pod, 'BackOff', 'Back-off restarting failed container');
    r.warning(pod, 'Other', 'Back-off restarting failed container');
    await r.flush();
    const events = await allEvents();
    expect(events).toHaveLength(2);
    const backoff = events.find((e) => e.reason === 'BackOff');
    expect(backoff.count).toBe(4);
    expect(backoff.firstTimestamp).toBe('2030-01-01T00:00:00.000Z');
    expect(backoff.lastTimestamp).toBe('2030-01-01T00:00:10.000Z');
  });

  it('starts a new Event when the aggregated one was deleted meanwhile', async () => {
    const pod = await objects.create(podObject({ name: 'p' }));
    const r = recorder();
    r.normal(pod, 'Pulled', 'pulled');
    await r.flush();
    const [first] = await allEvents();
    await objects.delete(EVENT, 'default', first.metadata.name);
    r.normal(pod, 'Pulled', 'pulled');
    await r.flush();
    const events = await allEvents();
    expect(events).toHaveLength(1);
    expect(events[0].metadata.name).not.toBe(first.metadata.name);
  });

  it('rate-limits per object and source, and the views of withComponent have their own budget', async () => {
    const pod = await objects.create(podObject({ name: 'p' }));
    const r = recorder({ burst: 3, refillIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) r.normal(pod, 'Tick', `tick ${i}`);
    const other = r.withComponent('other-controller');
    other.normal(pod, 'Tick', 'from elsewhere');
    await r.flush();
    const events = await allEvents();
    expect(events.filter((e) => e.source.component === 'test-controller')).toHaveLength(3);
    expect(events.filter((e) => e.source.component === 'other-controller')).toHaveLength(1);
    expect(r.dropped).toBe(7);
  });

  it('never throws into the caller, whatever the sink does', async () => {
    const failing: EventSink = {
      create: () => Promise.reject(new Error('store is down')),
      patch: () => {
        throw new Error('sync failure');
      },
    };
    const r = new EventRecorder({ sink: failing, component: 'c', log: quiet });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' } };
    expect(() => r.normal(pod, 'A', 'a')).not.toThrow();
    expect(() => r.normal(undefined as any, 'A', 'a')).not.toThrow();
    await r.flush();
    expect(r.dropped).toBe(1);
  });
});

describe('EventGarbageCollector', () => {
  it('deletes events not updated for the TTL', async () => {
    const pod = await objects.create(podObject({ name: 'p' }));
    const old = recorder({ now: () => Date.now() - 2 * 3600_000 });
    old.normal(pod, 'Old', 'old news');
    await old.flush();
    const fresh = recorder();
    fresh.normal(pod, 'Fresh', 'fresh news');
    await fresh.flush();
    const gc = new EventGarbageCollector({ objects, ttlSeconds: 3600, log: quiet });
    expect(await gc.collect()).toBe(1);
    expect((await allEvents()).map((e) => e.reason)).toEqual(['Fresh']);
    await gc.stop();
  });
});
