// custom.metrics.k8s.io on the real API server over a real sqlite store: the MetricValueList shapes of
// both versions, `*` with a label selector, 404s for an unknown metric or an object with no reading, and
// discovery. The rates come from a fixed table here (the gateways' source, hpa-gateway-rps.ts, has its
// own tests; the HPA e2e reads these routes through kubectl on a real cluster).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultNamespaces } from '../../controllers/manager.ts';
import { ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import type { Store } from '../../store/store.ts';
import { buildServer } from '../app.ts';
import { Authenticator, loadOrCreateAdminToken } from '../auth.ts';
import {
  customMetricsApi,
  rateQuantity,
  type Reading,
  type RequestRateSource,
} from './custom-metrics-api.ts';

let dir: string;
let store: Store;
let app: FastifyInstance;
let token: string;
const AT = Date.parse('2026-12-02T12:00:00Z');
/** What the gateways measured, per Service and per pod. */
const servicesRps = new Map([['default/web', { rps: 7.5, at: AT, windowMs: 30_000 }]]);
const podsRps = new Map<string, Reading>([
  ['web-1', { value: 2.5, timestamp: AT, windowMs: 30_000 }],
  ['web-2', { value: 5, timestamp: AT, windowMs: 30_000 }],
]);
const asked: Array<{ pods: string[]; fresh?: boolean }> = [];
const source: RequestRateSource = {
  async podMetric(_ns, _metric, pods, opts) {
    asked.push({ pods, fresh: opts.fresh });
    return new Map([...podsRps].filter(([name]) => pods.includes(name)));
  },
  async serviceRates() {
    return servicesRps;
  },
};

const get = (url: string) =>
  app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const base = (v: string) => `/apis/custom.metrics.k8s.io/${v}/namespaces/default`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-custom-metrics-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  token = loadOrCreateAdminToken(dir).token;
  auth.add(token, 'admin');
  app = buildServer({ objects, auth, extensions: [customMetricsApi(objects, source)] });
  await app.ready();
  for (const [name, labels] of [
    ['web-1', { app: 'web' }],
    ['web-2', { app: 'web' }],
    ['db-1', { app: 'db' }],
  ] as const)
    await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels },
      spec: { containers: [{ name: 'main', image: 'build/wasm/ticker.wasm' }] },
    });
  await objects.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  });
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('custom.metrics.k8s.io', () => {
  it('lists every pod with a reading for `*`, filtered by labelSelector, in v1beta2 shape', async () => {
    const res = await get(`${base('v1beta2')}/pods/*/requests_per_second?labelSelector=app%3Dweb`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      kind: 'MetricValueList',
      apiVersion: 'custom.metrics.k8s.io/v1beta2',
      metadata: {},
      items: [
        {
          describedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', apiVersion: '/v1' },
          metric: { name: 'requests_per_second', selector: { matchLabels: { app: 'web' } } },
          timestamp: '2026-12-02T12:00:00Z',
          windowSeconds: 30,
          value: '2500m',
        },
        {
          describedObject: { kind: 'Pod', namespace: 'default', name: 'web-2', apiVersion: '/v1' },
          metric: { name: 'requests_per_second', selector: { matchLabels: { app: 'web' } } },
          timestamp: '2026-12-02T12:00:00Z',
          windowSeconds: 30,
          value: '5',
        },
      ],
    });
    // Only the selected pods were asked for, and the first reader waits for a rate (fresh).
    expect(asked.at(-1)).toEqual({ pods: ['web-1', 'web-2'], fresh: true });
  });

  it('answers one pod, and a Service, in v1beta1 shape', async () => {
    const pod = await get(`${base('v1beta1')}/pods/web-2/requests_per_second`);
    expect(pod.statusCode, pod.body).toBe(200);
    expect(pod.json().items).toEqual([
      {
        describedObject: { kind: 'Pod', namespace: 'default', name: 'web-2', apiVersion: '/v1' },
        metricName: 'requests_per_second',
        timestamp: '2026-12-02T12:00:00Z',
        window: 30,
        value: '5',
        selector: null,
      },
    ]);
    const svc = await get(`${base('v1beta1')}/services/web/requests_per_second`);
    expect(svc.statusCode, svc.body).toBe(200);
    expect(svc.json().items).toEqual([
      expect.objectContaining({
        describedObject: { kind: 'Service', namespace: 'default', name: 'web', apiVersion: '/v1' },
        value: '7500m',
      }),
    ]);
  });

  it('answers 404 naming the metric for an unknown metric or an object without a reading', async () => {
    const unknown = await get(`${base('v1beta2')}/pods/*/queue_depth`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({
      kind: 'Status',
      reason: 'NotFound',
      message: 'the server could not find the metric queue_depth for pods',
    });
    const quiet = await get(`${base('v1beta2')}/pods/db-1/requests_per_second`);
    expect(quiet.statusCode).toBe(404);
    expect(quiet.json().message).toBe(
      'the server could not find the metric requests_per_second for pods db-1',
    );
    const noService = await get(`${base('v1beta2')}/services/nope/requests_per_second`);
    expect(noService.statusCode).toBe(404);
    const badSelector = await get(`${base('v1beta2')}/pods/*/requests_per_second?labelSelector=%3D%3D`);
    expect(badSelector.statusCode).toBe(400);
    expect(badSelector.json().message).toContain('labelSelector: Invalid value');
  });

  it('writes rates as quantities: milli-units when fractional', () => {
    expect(rateQuantity(0)).toBe('0');
    expect(rateQuantity(3)).toBe('3');
    expect(rateQuantity(0.3333)).toBe('333m');
    expect(rateQuantity(12.25)).toBe('12250m');
  });

  it('is listed in discovery, preferred version first', async () => {
    const group = await get('/apis/custom.metrics.k8s.io');
    expect(group.statusCode, group.body).toBe(200);
    expect(group.json().preferredVersion.version).toBe('v1beta2');
    const v2 = await get('/apis/custom.metrics.k8s.io/v1beta2');
    expect(v2.json().resources).toEqual([
      expect.objectContaining({
        name: 'pods/requests_per_second',
        namespaced: true,
        kind: 'MetricValueList',
        verbs: ['get'],
      }),
      expect.objectContaining({
        name: 'services/requests_per_second',
        namespaced: true,
        kind: 'MetricValueList',
        verbs: ['get'],
      }),
    ]);
  });
});
