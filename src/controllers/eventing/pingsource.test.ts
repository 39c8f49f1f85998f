// The PingSource controller on a real store, delivering to a real HTTP server on loopback through a
// selector-less Service and its EndpointSlice (as a cluster would reach a pod).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { EventRecorder, objectStoreEventSink } from '../events.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import { type TestObjects, openTestObjects, until } from '../testutil.ts';
import { PingSourceController } from './pingsource.ts';

const PING = kindFor('sources.knative.dev/v1', 'PingSource')!;
let t: TestObjects;
let informers: SharedInformers;
let controller: PingSourceController;
let server: Server;
let got: { headers: Record<string, unknown>; body: string }[];
let statuses: number[];

beforeEach(async () => {
  t = await openTestObjects();
  informers = new SharedInformers(t.objects);
  got = [];
  statuses = [200];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses[Math.min(got.length - 1, statuses.length - 1)]).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const recorder = new EventRecorder({
    sink: objectStoreEventSink(t.objects),
    component: 'pingsource-controller',
  });
  controller = new PingSourceController({ objects: t.objects, informers, recorder });
  informers.start();
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  informers.stop();
  await new Promise((r) => server.close(r));
  await t.close();
});

async function loggerService() {
  const port = (server.address() as AddressInfo).port;
  await t.objects.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'logger', namespace: 'default' },
    spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: port }] },
  });
  await t.objects.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'logger-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'logger' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
}

function ping(spec: Record<string, unknown>) {
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name: 'tick', namespace: 'default' },
    spec: {
      schedule: '* * * * * *',
      sink: { ref: { apiVersion: 'v1', kind: 'Service', name: 'logger' } },
      ...spec,
    },
  };
}

describe('PingSourceController', () => {
  it('POSTs a ping CloudEvent on schedule to a Service sink, and reports sinkUri and Ready', async () => {
    await loggerService();
    await t.objects.create(ping({ data: '{"message":"hello"}' }));
    await until(async () => got.length >= 2, 'two pings', 10_000);
    expect(got[0].headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': '/apis/v1/namespaces/default/pingsources/tick',
      'content-type': 'application/json',
    });
    expect(JSON.parse(got[0].body)).toEqual({ message: 'hello' });
    expect(got[0].headers['ce-id']).not.toBe(got[1].headers['ce-id']);
    const p = await t.objects.get(PING, 'default', 'tick');
    expect(p.status.sinkUri).toBe('http://logger.default.svc.cluster.local');
    expect(p.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
    expect(p.status.ceAttributes).toEqual([
      { type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/default/pingsources/tick' },
    ]);
  });

  it('retries a failing sink until it answers', async () => {
    statuses = [503, 500, 200];
    await loggerService();
    await t.objects.create(
      ping({
        schedule: '*/30 * * * * *',
        dataBase64: Buffer.from('raw').toString('base64'),
        contentType: 'text/plain',
      }),
    );
    await until(async () => got.length >= 3, 'three attempts', 40_000);
    expect(got.slice(0, 3).map((g) => g.headers['ce-id'])).toEqual(Array(3).fill(got[0].headers['ce-id']));
    expect(got[2].body).toBe('raw');
  }, 60_000);

  it('reports a sink that does not exist as Ready False', async () => {
    await t.objects.create(ping({}));
    const p = await until(async () => {
      const x = await t.objects.get(PING, 'default', 'tick');
      return x.status?.conditions ? x : undefined;
    }, 'a status');
    expect(p.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NotFound',
    });
  });
});
