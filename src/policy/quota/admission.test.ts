// Quota and LimitRange admission through the real HTTP API (Fastify + sqlite), with the real quota
// controller recounting: concurrent creates stay exact, deletions and finished pods release usage.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { ResourceQuotaController } from '../../controllers/resourcequota.ts';
import { type TestServer, startTestServer } from '../../server/testing.ts';
import { QuotaAdmission } from './admission.ts';
import { installLimitRangeAdmission } from './limitrange.ts';

const QUOTA = kindFor('v1', 'ResourceQuota')!;
let ts: TestServer;
let controller: ResourceQuotaController;

const quota = (name: string, spec: any) => ({
  apiVersion: 'v1',
  kind: 'ResourceQuota',
  metadata: { name },
  spec,
});
const pod = (name: string, resources?: any, extra: any = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    containers: [{ name: 'app', image: 'build/wasm/ticker.wasm', ...(resources ? { resources } : {}) }],
    ...extra,
  },
});
const used = async (name: string) => (await ts.objects.get(QUOTA, 'default', name))?.status?.used;

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await what();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeEach(async () => {
  ts = await startTestServer();
  installLimitRangeAdmission(ts.objects);
  const admission = new QuotaAdmission(ts.objects);
  admission.install();
  controller = new ResourceQuotaController({ objects: ts.objects, coordinator: admission });
  await controller.start();
});
afterEach(async () => {
  await controller.stop();
  await ts.close();
});

describe('ResourceQuota admission', () => {
  it('50 concurrent creates against pods: 10 admit exactly 10; used stays exact; a deletion releases one', async () => {
    expect(
      (
        await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
          body: quota('count', { hard: { pods: '10' } }),
        })
      ).statusCode,
    ).toBe(201);
    await until(
      () => used('count'),
      (u) => u?.pods === '0',
    );
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod(`p${i}`) }),
      ),
    );
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201).length).toBe(10);
    expect(codes.filter((c) => c === 403).length).toBe(40);
    const refused = results.find((r) => r.statusCode === 403)!.json();
    expect(refused.reason).toBe('Forbidden');
    expect(refused.message).toMatch(
      /^pods "p\d+" is forbidden: exceeded quota: count, requested: pods=1, used: pods=10, limited: pods=10$/,
    );
    expect((await ts.objects.list(kindFor('v1', 'Pod')!, 'default')).items.length).toBe(10);
    expect(await used('count')).toEqual({ pods: '10' });
    await controller.whenIdle();
    expect(await used('count')).toEqual({ pods: '10' });

    const admitted = results.findIndex((r) => r.statusCode === 201);
    await ts.req('DELETE', `/api/v1/namespaces/default/pods/p${admitted}?gracePeriodSeconds=0`);
    expect((await ts.req('GET', `/api/v1/namespaces/default/pods/p${admitted}`)).statusCode).toBe(404);
    await until(
      () => used('count'),
      (u) => u?.pods === '9',
    );
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('again') })).statusCode).toBe(
      201,
    );
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('over') })).statusCode).toBe(
      403,
    );
  });

  it('compute quota: must specify, exceeded message with amounts, a finished pod releases its requests', async () => {
    await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('compute', { hard: { 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2' } }),
    });
    const bare = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('bare') });
    expect(bare.statusCode).toBe(403);
    expect(bare.json().message).toBe(
      'pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; requests.cpu for: app; requests.memory for: app',
    );
    const r = { requests: { cpu: '600m', memory: '256Mi' }, limits: { cpu: '1', memory: '256Mi' } };
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('a', r) })).statusCode).toBe(
      201,
    );
    const over = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('b', r) });
    expect(over.statusCode).toBe(403);
    expect(over.json().message).toBe(
      'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1',
    );
    expect(await used('compute')).toEqual({
      'limits.cpu': '1',
      'requests.cpu': '600m',
      'requests.memory': '256Mi',
    });
    // The pod finishes: its compute is released by the controller's recount.
    const current = await ts.objects.get(kindFor('v1', 'Pod')!, 'default', 'a');
    await ts.objects.updateStatus(kindFor('v1', 'Pod')!, 'default', 'a', {
      ...current,
      status: { phase: 'Succeeded' },
    });
    await until(
      () => used('compute'),
      (u) => u?.['requests.cpu'] === '0',
    );
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('b', r) })).statusCode).toBe(
      201,
    );
  });

  it('scopes: a PriorityClass scopeSelector and BestEffort quota only count the pods they cover', async () => {
    await ts.req('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', {
      body: {
        apiVersion: 'scheduling.k8s.io/v1',
        kind: 'PriorityClass',
        metadata: { name: 'high' },
        value: 1000,
      },
    });
    await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('high', {
        hard: { pods: '1' },
        scopeSelector: {
          matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }],
        },
      }),
    });
    await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('besteffort', { hard: { pods: '2' }, scopes: ['BestEffort'] }),
    });
    const high = (n: string) => pod(n, { requests: { cpu: '100m' } }, { priorityClassName: 'high' });
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: high('h1') })).statusCode).toBe(
      201,
    );
    const h2 = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: high('h2') });
    expect(h2.statusCode).toBe(403);
    expect(h2.json().message).toContain('exceeded quota: high');
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('b1') })).statusCode).toBe(
      201,
    );
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('b2') })).statusCode).toBe(
      201,
    );
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('b3') })).statusCode).toBe(
      403,
    );
    expect(await used('high')).toEqual({ pods: '1' });
    expect(await used('besteffort')).toEqual({ pods: '2' });
  });

  it('object counts: services, configmaps and count/<resource>', async () => {
    await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('objects', { hard: { configmaps: '1', 'count/secrets': '0' } }),
    });
    const cm = (n: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: {} });
    expect(
      (await ts.req('POST', '/api/v1/namespaces/default/configmaps', { body: cm('one') })).statusCode,
    ).toBe(201);
    const two = await ts.req('POST', '/api/v1/namespaces/default/configmaps', { body: cm('two') });
    expect(two.json().message).toBe(
      'configmaps "two" is forbidden: exceeded quota: objects, requested: configmaps=1, used: configmaps=1, limited: configmaps=1',
    );
    const secret = await ts.req('POST', '/api/v1/namespaces/default/secrets', {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } },
    });
    expect(secret.statusCode).toBe(403);
  });

  it('a bad quota is refused naming the field', async () => {
    const res = await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('bad', { hard: { pods: 'lots', 'requests.gpus': '1' }, scopes: ['BestEffort'] }),
    });
    expect(res.statusCode).toBe(422);
    const fields = res.json().details.causes.map((c: any) => c.field);
    expect(fields).toContain('spec.hard[pods]');
    expect(fields).toContain('spec.hard[requests.gpus]');
  });
});

describe('LimitRange admission', () => {
  it('defaults appear on the created pod, before quota counts them; max and ratio refuse', async () => {
    await ts.req('POST', '/api/v1/namespaces/default/limitranges', {
      body: {
        apiVersion: 'v1',
        kind: 'LimitRange',
        metadata: { name: 'limits' },
        spec: {
          limits: [
            {
              type: 'Container',
              default: { cpu: '500m', memory: '128Mi' },
              defaultRequest: { cpu: '100m' },
              max: { cpu: '1' },
              maxLimitRequestRatio: { cpu: '10' },
            },
          ],
        },
      },
    });
    await ts.req('POST', '/api/v1/namespaces/default/resourcequotas', {
      body: quota('compute', { hard: { 'requests.cpu': '1', 'limits.memory': '1Gi' } }),
    });
    const created = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: pod('plain') });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body.spec.containers[0].resources).toEqual({
      limits: { cpu: '500m', memory: '128Mi' },
      requests: { cpu: '100m', memory: '128Mi' },
    });
    expect(body.metadata.annotations['kubernetes.io/limit-ranger']).toBe(
      'LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app',
    );
    expect(await used('compute')).toEqual({ 'limits.memory': '128Mi', 'requests.cpu': '100m' });
    const big = await ts.req('POST', '/api/v1/namespaces/default/pods', {
      body: pod('big', { requests: { cpu: '100m' }, limits: { cpu: '2' } }),
    });
    expect(big.statusCode).toBe(403);
    expect(big.json().message).toBe(
      'pods "big" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, cpu max limit to request ratio per Container is 10, but provided ratio is 20.000000]',
    );
  });

  it('a LimitRange with min above max is refused naming the field', async () => {
    const res = await ts.req('POST', '/api/v1/namespaces/default/limitranges', {
      body: {
        apiVersion: 'v1',
        kind: 'LimitRange',
        metadata: { name: 'bad' },
        spec: { limits: [{ type: 'Pod', min: { cpu: '2' }, max: { cpu: '1' }, default: { cpu: '1' } }] },
      },
    });
    expect(res.statusCode).toBe(422);
    const fields = res.json().details.causes.map((c: any) => c.field);
    expect(fields).toEqual(expect.arrayContaining(['spec.limits[0].min[cpu]', 'spec.limits[0].default']));
  });
});
