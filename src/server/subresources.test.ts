// The scale and eviction subresources and priority admission, over a real sqlite store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { kindFor } from '../api/index.ts';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { priorityAdmission } from './admission.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';

let dir: string;
let store: Store;
let objects: ObjectStore;
let app: FastifyInstance;
const token = 'test-token';

function req(method: string, url: string, body?: unknown, contentType = 'application/json') {
  return app.inject({
    method: method as any,
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-sub-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  objects.addCreateHook(priorityAdmission(objects));
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  auth.add(token, 'admin');
  app = buildServer({ objects, auth });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'm', image: '/a.wasm' }] },
    },
  },
};
const scaleUrl = '/apis/apps/v1/namespaces/default/deployments/web/scale';

describe('deployments/{name}/scale', () => {
  it('reads and writes spec.replicas as an autoscaling/v1 Scale', async () => {
    expect((await req('POST', '/apis/apps/v1/namespaces/default/deployments', deployment)).statusCode).toBe(
      201,
    );
    const got = await req('GET', scaleUrl);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: 'web', namespace: 'default' },
      spec: { replicas: 2 },
      status: { replicas: 0, selector: 'app=web' },
    });
    const patched = await req('PATCH', scaleUrl, { spec: { replicas: 5 } }, 'application/merge-patch+json');
    expect(patched.statusCode).toBe(200);
    expect(patched.json().spec.replicas).toBe(5);
    const d = await req('GET', '/apis/apps/v1/namespaces/default/deployments/web');
    expect(d.json().spec.replicas).toBe(5);
    expect(d.json().metadata.generation).toBe(2);
  });

  it('refuses bad replicas and stale versions, and kinds without a scale', async () => {
    const bad = await req('PATCH', scaleUrl, { spec: { replicas: -1 } }, 'application/merge-patch+json');
    expect(bad.statusCode).toBe(422);
    expect(bad.json().details.causes[0].field).toBe('spec.replicas');
    const stale = await req('PUT', scaleUrl, {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: 'web', resourceVersion: '1' },
      spec: { replicas: 1 },
    });
    expect(stale.statusCode).toBe(409);
    const none = await req('GET', '/api/v1/namespaces/default/configmaps/x/scale');
    expect(none.statusCode).toBe(404);
  });
});

describe('pods/{name}/eviction', () => {
  const PDB = kindFor('policy/v1', 'PodDisruptionBudget')!;
  const POD = kindFor('v1', 'Pod')!;
  const evict = (name: string, extra: any = {}) =>
    req('POST', `/api/v1/namespaces/default/pods/${name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name },
      ...extra,
    });

  async function runningPod(name: string, labels: Record<string, string>): Promise<any> {
    await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels },
      spec: { containers: [{ name: 'm', image: '/a.wasm' }] },
    });
    await objects.bind('default', name, 'node-a');
    return objects.patch(
      POD,
      'default',
      name,
      {
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
        },
      },
      'status',
    );
  }

  it('evicts a pod no budget protects: a graceful delete', async () => {
    await runningPod('free', { app: 'free' });
    const r = await evict('free', { deleteOptions: { gracePeriodSeconds: 7 } });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ kind: 'Status', status: 'Success' });
    const p = await objects.get(POD, 'default', 'free');
    expect(p.metadata.deletionTimestamp).toBeDefined();
    expect(p.metadata.deletionGracePeriodSeconds).toBe(7);
  });

  it('answers 429 while a budget allows no disruption, and evicts once it does', async () => {
    await runningPod('guarded', { app: 'guarded' });
    const pdb = await objects.create({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'guard', namespace: 'default' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    });
    const status = (allowed: number) => ({
      observedGeneration: pdb.metadata.generation,
      disruptionsAllowed: allowed,
      currentHealthy: 1,
      desiredHealthy: 1,
      expectedPods: 1,
    });
    await objects.patch(PDB, 'default', 'guard', { status: status(0) }, 'status');
    const refused = await evict('guarded');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({
      kind: 'Status',
      reason: 'TooManyRequests',
      code: 429,
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
    });
    expect(refused.json().details.causes[0].reason).toBe('DisruptionBudget');
    expect((await objects.get(POD, 'default', 'guarded')).metadata.deletionTimestamp).toBeUndefined();
    await objects.patch(PDB, 'default', 'guard', { status: status(1) }, 'status');
    expect((await evict('guarded')).statusCode).toBe(201);
    expect((await objects.get(POD, 'default', 'guarded')).metadata.deletionTimestamp).toBeDefined();
  });

  it('refuses a malformed Eviction and a missing pod', async () => {
    const wrong = await req('POST', '/api/v1/namespaces/default/pods/x/eviction', {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'y' },
    });
    expect(wrong.statusCode).toBe(400);
    const bogus = await evict('x', { deleteOptions: { bogus: 1 } });
    expect(bogus.statusCode).toBe(422);
    expect(bogus.json().details.causes[0].field).toBe('deleteOptions.bogus');
    expect((await evict('nope')).statusCode).toBe(404);
    expect((await req('GET', '/api/v1/namespaces/default/pods/x/eviction')).statusCode).toBe(405);
  });
});

describe('priority admission', () => {
  const pod = (name: string, spec: any = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'm', image: '/a.wasm' }], ...spec },
  });

  it('resolves priorityClassName into spec.priority, for every writer', async () => {
    const pc = await req('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: 'high' },
      value: 1000,
    });
    expect(pc.statusCode).toBe(201);
    const r = await req(
      'POST',
      '/api/v1/namespaces/default/pods',
      pod('important', { priorityClassName: 'high' }),
    );
    expect(r.statusCode).toBe(201);
    expect(r.json().spec.priority).toBe(1000);
    expect(r.json().spec.preemptionPolicy).toBe('PreemptLowerPriority');
    // Controllers write through ObjectStore directly: they get the same admission.
    const direct = await objects.create({
      ...pod('direct', { priorityClassName: 'high' }),
      metadata: { name: 'direct', namespace: 'default' },
    });
    expect(direct.spec.priority).toBe(1000);
    const plain = await req('POST', '/api/v1/namespaces/default/pods', pod('plain'));
    expect(plain.json().spec.priority).toBe(0);
  });

  it('refuses an unknown class, naming the field, and stores nothing', async () => {
    const r = await req(
      'POST',
      '/api/v1/namespaces/default/pods',
      pod('lost', { priorityClassName: 'nope' }),
    );
    expect(r.statusCode).toBe(422);
    expect(r.json().details.causes[0].field).toBe('spec.priorityClassName');
    expect((await req('GET', '/api/v1/namespaces/default/pods/lost')).statusCode).toBe(404);
  });
});
