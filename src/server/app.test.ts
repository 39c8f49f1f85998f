// The API server over a real sqlite store: every kind of bad input gets its Status error and leaves
// the store exactly as it was.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openSqliteStore } from '../store/sqlite.ts';
import { ObjectStore } from '../store/objects.ts';
import type { Store } from '../store/store.ts';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { buildServer } from './app.ts';
import { Authenticator, loadOrCreateAdminToken } from './auth.ts';

let dir: string;
let store: Store;
let app: FastifyInstance;
let token: string;
let rev: number;

const pod = (name: string, extra: any = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'main', image: '/opt/app.wasm', ...extra }] },
});

function req(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method: method as any,
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-app-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  token = loadOrCreateAdminToken(dir).token;
  auth.add(token, 'admin');
  app = buildServer({ objects, auth, bodyLimit: 64 * 1024 });
  await app.ready();
  const ok = await req('POST', '/api/v1/namespaces/default/pods', pod('existing'));
  expect(ok.statusCode).toBe(201);
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  rev = await store.revision();
});

async function expectUnchanged(): Promise<void> {
  expect(await store.revision()).toBe(rev);
}

describe('API server', () => {
  it('writes the admin token 0600', () => {
    expect(statSync(join(dir, 'admin.token')).mode & 0o777).toBe(0o600);
  });

  it('401 without a token, with a wrong token', async () => {
    const none = await app.inject({ method: 'GET', url: '/api/v1/namespaces/default/pods' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/default/pods',
      headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
      payload: JSON.stringify(pod('sneaky')),
    });
    expect(wrong.statusCode).toBe(401);
    await expectUnchanged();
  });

  it('400 for malformed JSON and YAML', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/pods', '{"apiVersion": "v1", "kind": ');
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/not valid JSON/);
    const y = await req('POST', '/api/v1/namespaces/default/pods', 'kind: Pod\n  bad: [', {
      'content-type': 'application/yaml',
    });
    expect(y.statusCode).toBe(400);
    expect(y.json().message).toMatch(/not valid YAML/);
    await expectUnchanged();
  });

  it('422 naming the field for unknown fields and wrong types', async () => {
    const unknown = await req(
      'POST',
      '/api/v1/namespaces/default/pods',
      pod('a', { imagePullPolicyX: 'Always' }),
    );
    expect(unknown.statusCode).toBe(422);
    const body = unknown.json();
    expect(body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
    expect(body.details.causes.map((c: any) => c.field)).toContain('spec.containers[0].imagePullPolicyX');
    const wrongType = await req('POST', '/api/v1/namespaces/default/pods', pod('b', { args: 'not-a-list' }));
    expect(wrongType.statusCode).toBe(422);
    expect(wrongType.json().details.causes[0].field).toBe('spec.containers[0].args');
    await expectUnchanged();
  });

  it('422 for a bad name', async () => {
    const r = await req('POST', '/api/v1/namespaces/default/pods', pod('Not_A_Name'));
    expect(r.statusCode).toBe(422);
    expect(r.json().details.causes[0].field).toBe('metadata.name');
    await expectUnchanged();
  });

  it('413 for an oversize body', async () => {
    const big = pod('big', { env: [{ name: 'X', value: 'x'.repeat(100 * 1024) }] });
    const r = await req('POST', '/api/v1/namespaces/default/pods', big);
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ kind: 'Status', code: 413 });
    await expectUnchanged();
  });

  it('409 for a stale resourceVersion and for a duplicate create', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '1' } };
    const created = (await req('POST', '/api/v1/namespaces/default/configmaps', cm)).json();
    const rv1 = created.metadata.resourceVersion;
    const upd = await req('PUT', '/api/v1/namespaces/default/configmaps/cfg', {
      ...cm,
      metadata: { name: 'cfg', resourceVersion: rv1 },
      data: { a: '2' },
    });
    expect(upd.statusCode).toBe(200);
    rev = await store.revision();
    const stale = await req('PUT', '/api/v1/namespaces/default/configmaps/cfg', {
      ...cm,
      metadata: { name: 'cfg', resourceVersion: rv1 },
      data: { a: '3' },
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().reason).toBe('Conflict');
    const dup = await req('POST', '/api/v1/namespaces/default/configmaps', cm);
    expect(dup.statusCode).toBe(409);
    expect(dup.json().reason).toBe('AlreadyExists');
    await expectUnchanged();
    const now = (await req('GET', '/api/v1/namespaces/default/configmaps/cfg')).json();
    expect(now.data.a).toBe('2');
  });

  it('404 for unknown kinds, objects and namespaces', async () => {
    expect((await req('GET', '/api/v1/namespaces/default/widgets')).statusCode).toBe(404);
    expect((await req('GET', '/api/v1/namespaces/default/pods/nope')).json()).toMatchObject({
      reason: 'NotFound',
      code: 404,
    });
    const r = await req('POST', '/api/v1/namespaces/nowhere/pods', pod('x'));
    expect(r.statusCode).toBe(404);
    await expectUnchanged();
  });

  it('applies defaults server-side and writes status only through the subresource', async () => {
    const created = (
      await req('POST', '/api/v1/namespaces/default/pods', {
        ...pod('defaults'),
        status: { phase: 'Running' },
      })
    ).json();
    expect(created.spec.restartPolicy).toBe('Always');
    expect(created.spec.runtimeClassName).toBe('wasm');
    expect(created.metadata.uid).toBeTruthy();
    expect(created.status?.phase).toBeUndefined();
    const st = await req(
      'PATCH',
      '/api/v1/namespaces/default/pods/defaults/status',
      { status: { phase: 'Running' } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(st.statusCode).toBe(200);
    expect(st.json().status.phase).toBe('Running');
  });

  it('lists with label and field selectors, rejects bad selectors', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', {
      ...pod('labelled'),
      metadata: { name: 'labelled', labels: { app: 'web' } },
    });
    const byLabel = (await req('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).json();
    expect(byLabel.items.map((p: any) => p.metadata.name)).toEqual(['labelled']);
    const byField = (
      await req('GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dexisting')
    ).json();
    expect(byField.items).toHaveLength(1);
    expect(byField.metadata.resourceVersion).toMatch(/^\d+$/);
    const bad = await req('GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.image%3Dx');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/spec\.image/);
  });

  it('serves /version, /healthz and /openapi/v3', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/version' })).json()).toMatchObject({
      major: '1',
      gitVersion: 'v1.32.0+strata.0.1.0',
      strataVersion: '0.1.0',
    });
    const spec = (await req('GET', '/openapi/v3')).json();
    expect(spec.paths['api/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]+$/);
  });
});
