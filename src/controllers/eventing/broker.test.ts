// Broker and Trigger on a real store: events POSTed over real HTTP to the Broker's address (binary and
// structured mode) reach the subscribers of the Triggers whose filters match — real HTTP servers on
// loopback behind selector-less Services — with retries, the dead-letter sink, and the statuses.
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import { EventRecorder, objectStoreEventSink } from '../events.ts';
import { EVENT, type TestObjects, condition, openTestObjects, until } from '../testutil.ts';
import { BrokerController, filterMatches } from './broker.ts';
import { resolveSink } from './sinks.ts';
import type { DeliveryResult } from './delivery.ts';
import { type RecordingSink, recordingSink } from './testing.ts';

const BROKER = kindFor('eventing.knative.dev/v1', 'Broker')!;
const TRIGGER = kindFor('eventing.knative.dev/v1', 'Trigger')!;
let t: TestObjects;
let informers: SharedInformers;
let controller: BrokerController;
const sinks: RecordingSink[] = [];
let outcomes: { trigger: string; id: string; result: DeliveryResult }[];

beforeEach(async () => {
  t = await openTestObjects();
  informers = new SharedInformers(t.objects);
  outcomes = [];
  const recorder = new EventRecorder({
    sink: objectStoreEventSink(t.objects),
    component: 'broker-controller',
  });
  controller = new BrokerController({
    objects: t.objects,
    informers,
    recorder,
    onDelivered: (trigger, e, result) => outcomes.push({ trigger, id: e.id, result }),
  });
  informers.start();
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  informers.stop();
  for (const s of sinks.splice(0)) await s.close();
  await t.close();
});

/** An HTTP server behind a selector-less Service `name`, answering `statuses` in turn (the last repeats). */
async function subscriber(name: string, statuses: number[] = [200]) {
  const sink = await recordingSink(statuses);
  sinks.push(sink);
  const { port, got } = sink;
  await t.objects.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: port }] },
  });
  await t.objects.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  return got;
}

function trigger(name: string, spec: Record<string, unknown>) {
  return t.objects.create({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name, namespace: 'default' },
    spec: { broker: 'default', ...spec },
  });
}

async function readyBroker(spec?: Record<string, unknown>): Promise<string> {
  await t.objects.create({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Broker',
    metadata: { name: 'default', namespace: 'default' },
    ...(spec ? { spec } : {}),
  });
  const b = await until(async () => {
    const x = await t.objects.get(BROKER, 'default', 'default');
    return condition(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  return b.status.address.url;
}

function post(url: string, headers: Record<string, string>, body = '') {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ce = (id: string, type: string) => ({
  'ce-specversion': '1.0',
  'ce-id': id,
  'ce-source': '/shop',
  'ce-type': type,
});

describe('filterMatches', () => {
  const e = { specversion: '1.0', id: '1', source: '/s', type: 'a', extensions: { region: 'eu' } };
  it('matches exact values of context attributes and extensions; "" matches any value that is set', () => {
    expect(filterMatches(undefined, e)).toBe(true);
    expect(filterMatches({ type: 'a', region: 'eu' }, e)).toBe(true);
    expect(filterMatches({ type: 'b' }, e)).toBe(false);
    expect(filterMatches({ region: '' }, e)).toBe(true);
    expect(filterMatches({ subject: '' }, e)).toBe(false);
  });
});

describe('BrokerController', () => {
  it('delivers events to the subscribers of the matching Triggers, in both modes', async () => {
    const orders = await subscriber('orders');
    const all = await subscriber('audit');
    await trigger('on-order', {
      filter: { attributes: { type: 'order.created' } },
      subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'orders' } },
    });
    await trigger('everything', {
      subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'audit' } },
    });
    const url = await readyBroker();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/default\/default$/);
    await until(async () => {
      const x = await t.objects.get(TRIGGER, 'default', 'on-order');
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    });
    expect((await t.objects.get(TRIGGER, 'default', 'on-order')).status.subscriberUri).toBe(
      'http://orders.default.svc.cluster.local',
    );
    expect(
      await post(url, { ...ce('b1', 'order.created'), 'content-type': 'text/plain' }, 'two apples'),
    ).toBe(202);
    expect(
      await post(
        url,
        { 'content-type': 'application/cloudevents+json' },
        JSON.stringify({
          specversion: '1.0',
          id: 's1',
          source: '/shop',
          type: 'order.paid',
          data: { total: 3 },
        }),
      ),
    ).toBe(202);
    await controller.drain();
    expect(orders.map((g) => g.headers['ce-id'])).toEqual(['b1']);
    expect(orders[0]).toMatchObject({ body: 'two apples', headers: { 'ce-type': 'order.created' } });
    expect(all.map((g) => g.headers['ce-id']).sort()).toEqual(['b1', 's1']);
    expect(JSON.parse(all.find((g) => g.headers['ce-id'] === 's1')!.body)).toEqual({ total: 3 });
    // An unknown Broker is a 404; a bad event a 400, delivered nowhere.
    expect(await post(url.replace(/default$/, 'nope'), ce('x', 'order.created'))).toBe(404);
    expect(await post(url, { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't' })).toBe(400);
  });

  it("retries a failing subscriber with the Broker's delivery spec, then uses the dead-letter sink", async () => {
    const flaky = await subscriber('flaky', [503, 200]);
    const broken = await subscriber('broken', [500]);
    const dead = await subscriber('dead');
    const url = await readyBroker({
      delivery: {
        retry: 2,
        backoffPolicy: 'linear',
        backoffDelay: 'PT0.05S',
        deadLetterSink: { ref: { apiVersion: 'v1', kind: 'Service', name: 'dead' } },
      },
    });
    await trigger('flaky', { subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'flaky' } } });
    await trigger('broken', { subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'broken' } } });
    await until(async () => {
      const x = await t.objects.get(TRIGGER, 'default', 'broken');
      return x.status?.deadLetterSinkUri ? x : undefined;
    });
    expect(await post(url, ce('r1', 'order.created'))).toBe(202);
    await controller.drain();
    expect(flaky).toHaveLength(2);
    expect(broken).toHaveLength(3);
    expect(dead).toHaveLength(1);
    expect(dead[0].headers).toMatchObject({ 'ce-id': 'r1', 'ce-knativeerrorcode': '500' });
    const byTrigger = Object.fromEntries(outcomes.map((o) => [o.trigger, o.result]));
    expect(byTrigger['default/flaky']).toMatchObject({
      ok: true,
      attempts: [{ status: 503 }, { status: 200 }],
    });
    expect(byTrigger['default/broken']).toMatchObject({ ok: false, deliveredTo: 'deadLetterSink' });
    const warning = await until(async () => {
      const { items } = await t.objects.list(EVENT, 'default');
      return (items as any[]).find(
        (e) => e.reason === 'DeliveryFailed' && e.involvedObject.name === 'broken',
      );
    });
    expect(warning.message).toBe(
      'event r1 not delivered to http://broken.default.svc.cluster.local after 3 attempt(s): HTTP 500; sent to the dead-letter sink',
    );
  });

  it('reports a Trigger whose Broker or subscriber is missing as not Ready, naming why', async () => {
    await trigger('lost', {
      broker: 'none',
      subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'gone' } },
    });
    const x = await until(async () => {
      const o = await t.objects.get(TRIGGER, 'default', 'lost');
      return condition(o, 'Ready') ? o : undefined;
    });
    expect(condition(x, 'BrokerReady')).toMatchObject({ status: 'False', reason: 'BrokerDoesNotExist' });
    expect(condition(x, 'SubscriberResolved')).toMatchObject({ status: 'False', reason: 'NotFound' });
    expect(condition(x, 'Ready')).toMatchObject({ status: 'False', reason: 'BrokerDoesNotExist' });
    expect(x.metadata.labels['eventing.knative.dev/broker']).toBe('none');
  });

  it('is a sink itself: a Destination naming a Broker resolves to its ingress address', async () => {
    const url = await readyBroker();
    const sink = await resolveSink(t.objects, 'default', {
      ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' },
    });
    expect(sink).toEqual({ uri: url, target: url });
  });
});
