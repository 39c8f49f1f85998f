// The write semantics kubectl relies on, over HTTP and a real sqlite store: every PATCH content type,
// dryRun, fieldValidation, managedFields and server-side apply. Every refused request is checked to
// leave the store exactly as it was (same revision).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';

let dir: string;
let store: Store;
let app: FastifyInstance;
let objects: ObjectStore;
let rev: number;
const token = 'writes-token';

const JSON_CT = 'application/json';
const MERGE = 'application/merge-patch+json';
const STRATEGIC = 'application/strategic-merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const APPLY = 'application/apply-patch+yaml';

function req(
  method: string,
  url: string,
  body?: unknown,
  contentType = JSON_CT,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: method as any,
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType, ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
const PODS = '/api/v1/namespaces/default/pods';
const CMS = '/api/v1/namespaces/default/configmaps';

function deployment(name: string, image = '/app.wasm') {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'app', image, ports: [{ containerPort: 80 }] },
            { name: 'side', image: '/side.wasm' },
          ],
        },
      },
    },
  };
}

const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'main', image: '/opt/app.wasm' }] },
});

async function create(url: string, body: any, query = ''): Promise<any> {
  const r = await req('POST', `${url}${query}`, body);
  expect(r.statusCode, r.body).toBe(201);
  return r.json();
}

async function get(url: string): Promise<any> {
  const r = await req('GET', url);
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-writes-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
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

beforeEach(async () => {
  rev = await store.revision();
});

async function expectUnchanged(): Promise<void> {
  expect(await store.revision()).toBe(rev);
}

describe('PATCH content types', () => {
  it('strategic merge patch: kubectl set image merges one container by name', async () => {
    await create(DEPLOYS, deployment('smp'));
    const r = await req(
      'PATCH',
      `${DEPLOYS}/smp?fieldManager=kubectl-set`,
      { spec: { template: { spec: { containers: [{ name: 'side', image: '/side2.wasm' }] } } } },
      STRATEGIC,
    );
    expect(r.statusCode, r.body).toBe(200);
    const stored = await get(`${DEPLOYS}/smp`);
    expect(stored.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual([
      'app=/app.wasm',
      'side=/side2.wasm',
    ]);
    expect(stored.metadata.generation).toBe(2);
  });

  it('strategic merge patch: kubectl label / annotate add and remove keys', async () => {
    await create(CMS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'lbl', labels: { a: '1', b: '2' } },
    });
    const r = await req(
      'PATCH',
      `${CMS}/lbl`,
      { metadata: { labels: { a: null, c: '3' }, annotations: { note: 'x' } } },
      STRATEGIC,
    );
    expect(r.statusCode, r.body).toBe(200);
    const stored = await get(`${CMS}/lbl`);
    expect(stored.metadata.labels).toEqual({ b: '2', c: '3' });
    expect(stored.metadata.annotations).toEqual({ note: 'x' });
  });

  it('strategic merge patch: kubectl apply (client-side) 3-way patch with $setElementOrder and $retainKeys', async () => {
    const d: any = deployment('csa');
    d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } };
    await create(DEPLOYS, d);
    // What kubectl apply sends when the manifest drops `side`, reorders nothing and switches to Recreate.
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"x":1}\n' } },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
        template: {
          spec: {
            $setElementOrder: undefined,
            '$setElementOrder/containers': [{ name: 'app' }],
            containers: [{ name: 'side', $patch: 'delete' }],
          },
        },
      },
    };
    const r = await req('PATCH', `${DEPLOYS}/csa?fieldManager=kubectl-client-side-apply`, patch, STRATEGIC);
    expect(r.statusCode, r.body).toBe(200);
    const stored = await get(`${DEPLOYS}/csa`);
    expect(stored.spec.strategy).toEqual({ type: 'Recreate' });
    expect(stored.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['app']);
    expect(stored.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe('{"x":1}\n');
  });

  it('strategic merge patch: an unknown directive is a 400 naming it, nothing changes', async () => {
    await create(DEPLOYS, deployment('baddir'));
    rev = await store.revision();
    const bad = await req(
      'PATCH',
      `${DEPLOYS}/baddir`,
      { spec: { template: { spec: { containers: [{ name: 'app', $patch: 'frobnicate' }] } } } },
      STRATEGIC,
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect(bad.json().message).toContain(
      'unknown patch type: "frobnicate" in list at spec.template.spec.containers',
    );
    const foo = await req('PATCH', `${DEPLOYS}/baddir`, { spec: { $foo: 1 } }, STRATEGIC);
    expect(foo.statusCode).toBe(400);
    expect(foo.json().message).toContain('unknown patch directive "$foo" at spec');
    await expectUnchanged();
  });

  it('strategic merge patch on the status subresource merges conditions by type', async () => {
    await create(PODS, pod('stat'));
    const first = await req(
      'PATCH',
      `${PODS}/stat/status`,
      { status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] } },
      STRATEGIC,
    );
    expect(first.statusCode, first.body).toBe(200);
    const second = await req(
      'PATCH',
      `${PODS}/stat/status`,
      { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
      STRATEGIC,
    );
    expect(second.statusCode, second.body).toBe(200);
    const stored = await get(`${PODS}/stat`);
    expect(stored.status.conditions.map((c: any) => c.type).sort()).toEqual(['PodScheduled', 'Ready']);
    expect(stored.status.phase).toBe('Pending');
  });

  it('JSON patch applies in order; a failing test is a 422 and nothing changes', async () => {
    await create(CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jp' }, data: { a: '1' } });
    const ok = await req(
      'PATCH',
      `${CMS}/jp`,
      [
        { op: 'test', path: '/data/a', value: '1' },
        { op: 'add', path: '/data/b', value: '2' },
        { op: 'remove', path: '/data/a' },
      ],
      JSON_PATCH,
    );
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await get(`${CMS}/jp`)).data).toEqual({ b: '2' });

    rev = await store.revision();
    const failing = await req(
      'PATCH',
      `${CMS}/jp`,
      [
        { op: 'add', path: '/data/c', value: '3' },
        { op: 'test', path: '/data/b', value: 'nope' },
      ],
      JSON_PATCH,
    );
    expect(failing.statusCode).toBe(422);
    expect(failing.json()).toMatchObject({
      reason: 'Invalid',
      code: 422,
      message: 'the server rejected our request due to an error in our request',
      details: {
        causes: [{ message: expect.stringContaining('operation 1 (test /data/b): Test operation failed') }],
      },
    });
    const missing = await req('PATCH', `${CMS}/jp`, [{ op: 'remove', path: '/data/zzz' }], JSON_PATCH);
    expect(missing.statusCode).toBe(422);
    const malformed = await req(
      'PATCH',
      `${CMS}/jp`,
      [
        { op: 'add', path: '/data/x', value: '1' },
        { op: 'jump', path: '/data' },
      ],
      JSON_PATCH,
    );
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toContain('JSON patch operation 1');
    await expectUnchanged();
    expect((await get(`${CMS}/jp`)).data).toEqual({ b: '2' });
  });

  it('merge patch still works, and replaces lists', async () => {
    await create(DEPLOYS, deployment('mp'));
    const r = await req(
      'PATCH',
      `${DEPLOYS}/mp`,
      { spec: { template: { spec: { containers: [{ name: 'only', image: '/only.wasm' }] } } } },
      MERGE,
    );
    expect(r.statusCode, r.body).toBe(200);
    expect((await get(`${DEPLOYS}/mp`)).spec.template.spec.containers.map((c: any) => c.name)).toEqual([
      'only',
    ]);
  });

  it('another content type is 415 UnsupportedMediaType, nothing changes', async () => {
    await create(CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ct' }, data: { a: '1' } });
    rev = await store.revision();
    for (const ct of [JSON_CT, 'application/yaml']) {
      const r = await req('PATCH', `${CMS}/ct`, ct === JSON_CT ? { data: { a: '2' } } : 'data: {a: "2"}', ct);
      expect(r.statusCode, ct).toBe(415);
      expect(r.json()).toMatchObject({ reason: 'UnsupportedMediaType', code: 415 });
      expect(r.json().message).toContain('application/strategic-merge-patch+json');
    }
    await expectUnchanged();
  });

  it('a pinned metadata.resourceVersion is a precondition for every patch type (409)', async () => {
    const created = await create(CMS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'rv' },
      data: { a: '1' },
    });
    const stale = created.metadata.resourceVersion;
    await req('PATCH', `${CMS}/rv`, { data: { a: '2' } }, MERGE);
    rev = await store.revision();
    const attempts: [string, unknown][] = [
      [MERGE, { metadata: { resourceVersion: stale }, data: { a: '3' } }],
      [STRATEGIC, { metadata: { resourceVersion: stale }, data: { a: '3' } }],
      [
        JSON_PATCH,
        [
          { op: 'replace', path: '/metadata/resourceVersion', value: stale },
          { op: 'replace', path: '/data/a', value: '3' },
        ],
      ],
    ];
    for (const [ct, body] of attempts) {
      const r = await req('PATCH', `${CMS}/rv`, body, ct);
      expect(r.statusCode, ct).toBe(409);
      expect(r.json().reason).toBe('Conflict');
    }
    await expectUnchanged();
    const current = (await get(`${CMS}/rv`)).metadata.resourceVersion;
    const fresh = await req(
      'PATCH',
      `${CMS}/rv`,
      { metadata: { resourceVersion: current }, data: { a: '4' } },
      STRATEGIC,
    );
    expect(fresh.statusCode).toBe(200);
  });

  it('scale subresource takes strategic merge and JSON patches', async () => {
    await create(DEPLOYS, deployment('sc'));
    const smp = await req('PATCH', `${DEPLOYS}/sc/scale`, { spec: { replicas: 4 } }, STRATEGIC);
    expect(smp.statusCode, smp.body).toBe(200);
    expect(smp.json()).toMatchObject({ kind: 'Scale', spec: { replicas: 4 } });
    const jp = await req(
      'PATCH',
      `${DEPLOYS}/sc/scale`,
      [{ op: 'replace', path: '/spec/replicas', value: 1 }],
      JSON_PATCH,
    );
    expect(jp.statusCode, jp.body).toBe(200);
    expect((await get(`${DEPLOYS}/sc`)).spec.replicas).toBe(1);
    rev = await store.revision();
    const bad = await req('PATCH', `${DEPLOYS}/sc/scale`, { spec: { replicas: 2 } }, JSON_CT);
    expect(bad.statusCode).toBe(415);
    await expectUnchanged();
  });
});

describe('dryRun=All', () => {
  it('POST validates, defaults and answers the object without storing it', async () => {
    const r = await req('POST', `${PODS}?dryRun=All`, pod('dry'));
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().spec.restartPolicy).toBe('Always');
    expect(r.json().metadata.uid).toBeTruthy();
    expect(r.json().metadata.resourceVersion).toBeUndefined();
    await expectUnchanged();
    expect((await req('GET', `${PODS}/dry`)).statusCode).toBe(404);
    const invalid = await req('POST', `${PODS}?dryRun=All`, { ...pod('dry2'), spec: { containers: [] } });
    expect(invalid.statusCode).toBe(422);
    const exists = await req('POST', `${PODS}?dryRun=All`, pod('existing-dry'));
    expect(exists.statusCode).toBe(201);
  });

  it('dry-run create of an existing name is still 409 AlreadyExists', async () => {
    await create(CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dup' } });
    rev = await store.revision();
    const r = await req('POST', `${CMS}?dryRun=All`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dup' },
    });
    expect(r.statusCode).toBe(409);
    expect(r.json().reason).toBe('AlreadyExists');
    await expectUnchanged();
  });

  it('PUT, PATCH (every type), status and scale answer the would-be object and store nothing', async () => {
    const d = await create(DEPLOYS, deployment('dryd'));
    rev = await store.revision();
    const put = await req('PUT', `${DEPLOYS}/dryd?dryRun=All`, { ...d, spec: { ...d.spec, replicas: 7 } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().spec.replicas).toBe(7);
    expect(put.json().metadata.generation).toBe(2);
    for (const [ct, body] of [
      [MERGE, { spec: { replicas: 8 } }],
      [STRATEGIC, { spec: { replicas: 8 } }],
      [JSON_PATCH, [{ op: 'replace', path: '/spec/replicas', value: 8 }]],
      [
        APPLY,
        YAML.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'dryd' },
          spec: { replicas: 8 },
        }),
      ],
    ] as [string, unknown][]) {
      // force: the creator (manager "lightMyRequest", inject's user agent) owns spec.replicas.
      const force = ct === APPLY ? '&force=true' : '';
      const r = await req('PATCH', `${DEPLOYS}/dryd?dryRun=All&fieldManager=dry${force}`, body, ct);
      expect(r.statusCode, `${ct}: ${r.body}`).toBe(200);
      expect(r.json().spec.replicas).toBe(8);
    }
    const status = await req(
      'PATCH',
      `${DEPLOYS}/dryd/status?dryRun=All`,
      { status: { replicas: 3 } },
      MERGE,
    );
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json().status.replicas).toBe(3);
    const scale = await req('PATCH', `${DEPLOYS}/dryd/scale?dryRun=All`, { spec: { replicas: 9 } }, MERGE);
    expect(scale.statusCode, scale.body).toBe(200);
    expect(scale.json().spec.replicas).toBe(9);
    await expectUnchanged();
    expect((await get(`${DEPLOYS}/dryd`)).spec.replicas).toBe(2);
  });

  it('server-side apply of a missing object with dryRun creates nothing', async () => {
    const cfg = YAML.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dry-apply' },
      data: { a: '1' },
    });
    const r = await req('PATCH', `${CMS}/dry-apply?dryRun=All&fieldManager=me`, cfg, APPLY);
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().data).toEqual({ a: '1' });
    await expectUnchanged();
    expect((await req('GET', `${CMS}/dry-apply`)).statusCode).toBe(404);
  });

  it('DELETE answers without deleting (query or DeleteOptions.dryRun)', async () => {
    await create(CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' } });
    rev = await store.revision();
    const q = await req('DELETE', `${CMS}/keep?dryRun=All`);
    expect(q.statusCode, q.body).toBe(200);
    const body = await req('DELETE', `${CMS}/keep`, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      dryRun: ['All'],
    });
    expect(body.statusCode, body.body).toBe(200);
    await expectUnchanged();
    expect((await req('GET', `${CMS}/keep`)).statusCode).toBe(200);
  });

  it('eviction and binding honour dryRun', async () => {
    await create(PODS, pod('evict-dry'));
    rev = await store.revision();
    const ev = await req('POST', `${PODS}/evict-dry/eviction?dryRun=All`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'evict-dry' },
    });
    expect(ev.statusCode, ev.body).toBe(201);
    const bind = await req('POST', `${PODS}/evict-dry/binding?dryRun=All`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'evict-dry' },
      target: { name: 'node-a' },
    });
    expect(bind.statusCode, bind.body).toBe(201);
    await expectUnchanged();
  });

  it('any other dryRun value is a 400, nothing changes', async () => {
    for (const v of ['true', 'Some', '']) {
      const r = await req('POST', `${CMS}?dryRun=${v}`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `dr-${v || 'empty'}` },
      });
      expect(r.statusCode, v).toBe(400);
      expect(r.json()).toMatchObject({ reason: 'BadRequest' });
      expect(r.json().message).toContain('dryRun');
    }
    const del = await req('DELETE', `${PODS}/existing-dry?dryRun=Yes`);
    expect(del.statusCode).toBe(400);
    await expectUnchanged();
  });
});

describe('fieldValidation', () => {
  const withUnknown = (name: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, labels: { a: 'b' }, bogus: 1 },
    data: { k: 'v' },
    extra: { deep: true },
  });

  it('Strict (and absent) refuse unknown fields with a 422 naming each, nothing changes', async () => {
    for (const q of ['', '?fieldValidation=Strict']) {
      const r = await req('POST', `${CMS}${q}`, withUnknown('strict'));
      expect(r.statusCode, q).toBe(422);
      expect(
        r
          .json()
          .details.causes.map((c: any) => c.field)
          .sort(),
      ).toEqual(['extra', 'metadata.bogus']);
    }
    await expectUnchanged();
  });

  it('Warn drops unknown fields and answers a Warning header per field', async () => {
    const r = await req('POST', `${CMS}?fieldValidation=Warn`, withUnknown('warn'));
    expect(r.statusCode, r.body).toBe(201);
    const warnings = [r.headers.warning].flat().sort();
    expect(warnings).toEqual([
      '299 - "unknown field \\"extra\\""',
      '299 - "unknown field \\"metadata.bogus\\""',
    ]);
    const stored = await get(`${CMS}/warn`);
    expect(stored.extra).toBeUndefined();
    expect(stored.metadata.bogus).toBeUndefined();
    expect(stored.data).toEqual({ k: 'v' });
  });

  it('Ignore drops them silently, on update and patch too', async () => {
    const r = await req('POST', `${CMS}?fieldValidation=Ignore`, withUnknown('ignore'));
    expect(r.statusCode, r.body).toBe(201);
    expect(r.headers.warning).toBeUndefined();
    const cur = await get(`${CMS}/ignore`);
    const put = await req('PUT', `${CMS}/ignore?fieldValidation=Ignore`, {
      ...cur,
      data: { k: 'w' },
      nope: 1,
    });
    expect(put.statusCode, put.body).toBe(200);
    const patch = await req(
      'PATCH',
      `${CMS}/ignore?fieldValidation=Warn`,
      { data: { k: 'x' }, spec: { foo: 1 } },
      STRATEGIC,
    );
    expect(patch.statusCode, patch.body).toBe(200);
    expect([patch.headers.warning].flat()).toEqual(['299 - "unknown field \\"spec\\""']);
    expect((await get(`${CMS}/ignore`)).data).toEqual({ k: 'x' });
    const strictPatch = await req('PATCH', `${CMS}/ignore`, { spec: { foo: 1 } }, STRATEGIC);
    expect(strictPatch.statusCode).toBe(422);
  });

  it('Warn on a status write names status fields', async () => {
    await create(PODS, pod('warnstat'));
    const r = await req(
      'PATCH',
      `${PODS}/warnstat/status?fieldValidation=Warn`,
      { status: { phase: 'Running', foo: 1 } },
      MERGE,
    );
    expect(r.statusCode, r.body).toBe(200);
    expect([r.headers.warning].flat()).toEqual(['299 - "unknown field \\"status.foo\\""']);
  });

  it('another value is a 400', async () => {
    const r = await req('POST', `${CMS}?fieldValidation=Lenient`, withUnknown('bad'));
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toContain('fieldValidation');
    await expectUnchanged();
  });
});

describe('managedFields', () => {
  it('records an Update entry per manager (fieldManager param, else the user agent)', async () => {
    const created = await create(
      CMS,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mf' }, data: { a: '1' } },
      '?fieldManager=kubectl-create',
    );
    expect(created.metadata.managedFields).toEqual([
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: 'v1',
        time: expect.any(String),
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { 'f:a': {} } },
      },
    ]);
    const r = await req('PATCH', `${CMS}/mf`, { data: { b: '2' } }, STRATEGIC, {
      'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/abc',
    });
    expect(r.statusCode).toBe(200);
    const managers = r
      .json()
      .metadata.managedFields.map((m: any) => [m.manager, m.operation, Object.keys(m.fieldsV1['f:data'])]);
    expect(managers).toEqual([
      ['kubectl', 'Update', ['f:b']],
      ['kubectl-create', 'Update', ['f:a']],
    ]);
  });

  it('a PUT or POST body carrying managedFields is accepted (kubectl edit / replace send them back)', async () => {
    const created = await create(
      CMS,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'edit' }, data: { a: '1' } },
      '?fieldManager=kubectl-create',
    );
    const edited = { ...created, data: { a: '2' } };
    const r = await req('PUT', `${CMS}/edit?fieldManager=kubectl-edit`, edited);
    expect(r.statusCode, r.body).toBe(200);
    const mf = r.json().metadata.managedFields;
    // kubectl-edit changed data.a: it owns it now, kubectl-create no longer does.
    expect(mf.map((m: any) => m.manager)).toEqual(['kubectl-edit']);
    expect(mf[0].fieldsV1).toEqual({ 'f:data': { 'f:a': {} } });
    const replaced = await req('POST', CMS, {
      ...pod('x'),
      apiVersion: 'v1',
      kind: 'ConfigMap',
      spec: undefined,
      metadata: { name: 'withmf', managedFields: mf },
    });
    expect(replaced.statusCode, replaced.body).toBe(201);
  });
});

describe('server-side apply', () => {
  const cm = (data: Record<string, string>, name = 'ssa') =>
    YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });

  it('creates the object when missing, owned by the Apply manager', async () => {
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=alice`, cm({ a: '1', b: '2' }), APPLY);
    expect(r.statusCode, r.body).toBe(201);
    const stored = await get(`${CMS}/ssa`);
    expect(stored.data).toEqual({ a: '1', b: '2' });
    expect(stored.metadata.managedFields).toEqual([
      {
        manager: 'alice',
        operation: 'Apply',
        apiVersion: 'v1',
        time: expect.any(String),
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} } },
      },
    ]);
  });

  it('re-applying the same configuration changes nothing', async () => {
    const before = await get(`${CMS}/ssa`);
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=alice`, cm({ a: '1', b: '2' }), APPLY);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('a second manager setting the same value shares it; a different value is a 409 listing each field', async () => {
    const same = await req('PATCH', `${CMS}/ssa?fieldManager=bob`, cm({ a: '1' }), APPLY);
    expect(same.statusCode, same.body).toBe(200);
    rev = await store.revision();
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=carol`, cm({ a: 'x', b: 'y' }), APPLY);
    expect(r.statusCode).toBe(409);
    const status = r.json();
    expect(status).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    expect(status.message).toMatch(
      /^Apply failed with 3 conflicts: conflicts with "alice":\n- \.data\.a\n- \.data\.b\nconflicts with "bob":\n- \.data\.a$/,
    );
    expect(status.details.causes).toEqual(
      expect.arrayContaining([
        { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.data.a' },
        { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.data.b' },
        { reason: 'FieldManagerConflict', message: 'conflict with "bob"', field: '.data.a' },
      ]),
    );
    await expectUnchanged();
  });

  it('force=true takes ownership', async () => {
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=carol&force=true`, cm({ b: 'y' }), APPLY);
    expect(r.statusCode, r.body).toBe(200);
    const stored = await get(`${CMS}/ssa`);
    expect(stored.data).toEqual({ a: '1', b: 'y' });
    const owners = Object.fromEntries(
      stored.metadata.managedFields.map((m: any) => [m.manager, Object.keys(m.fieldsV1['f:data'] ?? {})]),
    );
    expect(owners).toEqual({ alice: ['f:a'], bob: ['f:a'], carol: ['f:b'] });
  });

  it('fields a manager applied before and omits now are removed unless someone else owns them', async () => {
    // alice drops a (bob still owns it: kept) and adds c.
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=alice`, cm({ c: '3' }), APPLY);
    expect(r.statusCode, r.body).toBe(200);
    expect((await get(`${CMS}/ssa`)).data).toEqual({ a: '1', b: 'y', c: '3' });
    // bob drops a: nobody owns it any more, so it goes.
    const r2 = await req(
      'PATCH',
      `${CMS}/ssa?fieldManager=bob`,
      YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' } }),
      APPLY,
    );
    expect(r2.statusCode, r2.body).toBe(200);
    expect((await get(`${CMS}/ssa`)).data).toEqual({ b: 'y', c: '3' });
  });

  it('conflicts with an Update manager (kubectl edit) name it with its apiVersion', async () => {
    const edit = await req(
      'PATCH',
      `${CMS}/ssa?fieldManager=kubectl-edit`,
      { data: { c: 'edited' } },
      STRATEGIC,
    );
    expect(edit.statusCode).toBe(200);
    const r = await req('PATCH', `${CMS}/ssa?fieldManager=alice`, cm({ c: '3' }), APPLY);
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toMatch(
      /^Apply failed with 1 conflict: conflict with "kubectl-edit" using v1 at .*: \.data\.c$/,
    );
    expect(r.json().details.causes[0]).toMatchObject({ reason: 'FieldManagerConflict', field: '.data.c' });
  });

  it('kubectl apply --server-side of a Deployment: change an image, drop a container, conflict on replicas', async () => {
    const manifest = (image: string, containers = ['app', 'side']) =>
      YAML.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'ssa-deploy' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'ssa-deploy' } },
          template: {
            metadata: { labels: { app: 'ssa-deploy' } },
            spec: {
              containers: containers.map((name) => ({
                name,
                image: name === 'app' ? image : '/side.wasm',
                ports: name === 'app' ? [{ containerPort: 80 }] : undefined,
              })),
            },
          },
        },
      });
    const first = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy?fieldManager=kubectl&force=false`,
      manifest('/v1.wasm'),
      APPLY,
    );
    expect(first.statusCode, first.body).toBe(201);
    const fields = first.json().metadata.managedFields[0].fieldsV1;
    expect(fields['f:spec']['f:template']['f:spec']['f:containers']).toMatchObject({
      'k:{"name":"app"}': {
        '.': {},
        'f:image': {},
        'f:name': {},
        'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
      },
      'k:{"name":"side"}': { '.': {}, 'f:image': {}, 'f:name': {} },
    });
    const second = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy?fieldManager=kubectl`,
      manifest('/v2.wasm', ['app']),
      APPLY,
    );
    expect(second.statusCode, second.body).toBe(200);
    const stored = await get(`${DEPLOYS}/ssa-deploy`);
    expect(stored.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual([
      'app=/v2.wasm',
    ]);
    expect(stored.metadata.generation).toBe(2);

    const scaled = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy/scale?fieldManager=hpa`,
      { spec: { replicas: 5 } },
      MERGE,
    );
    expect(scaled.statusCode, scaled.body).toBe(200);
    rev = await store.revision();
    const conflict = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy?fieldManager=kubectl`,
      manifest('/v2.wasm', ['app']),
      APPLY,
    );
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().details.causes).toEqual([
      {
        reason: 'FieldManagerConflict',
        message: expect.stringMatching(/^conflict with "hpa" using apps\/v1/),
        field: '.spec.replicas',
      },
    ]);
    await expectUnchanged();
    const forced = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy?fieldManager=kubectl&force=true`,
      manifest('/v2.wasm', ['app']),
      APPLY,
    );
    expect(forced.statusCode, forced.body).toBe(200);
    expect((await get(`${DEPLOYS}/ssa-deploy`)).spec.replicas).toBe(2);
  });

  it('applying to a Pod created without managedFields credits its fields to before-first-apply', async () => {
    // Created in-process (as controllers do): no manager, so no managedFields.
    await objects.create(pod('untracked'), 'default');
    const cfg = YAML.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'untracked', labels: { team: 'a' } },
    });
    const r = await req('PATCH', `${PODS}/untracked?fieldManager=labeler`, cfg, APPLY);
    expect(r.statusCode, r.body).toBe(200);
    const managers = r.json().metadata.managedFields.map((m: any) => `${m.manager}/${m.operation}`);
    expect(managers).toEqual(['labeler/Apply', 'before-first-apply/Update']);
    expect(r.json().metadata.labels).toEqual({ team: 'a' });
  });

  it('applies to the status subresource as its own manager, leaving spec alone', async () => {
    await create(PODS, pod('ssa-status'));
    const cfg = YAML.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ssa-status' },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const r = await req('PATCH', `${PODS}/ssa-status/status?fieldManager=agent`, cfg, APPLY);
    expect(r.statusCode, r.body).toBe(200);
    const stored = await get(`${PODS}/ssa-status`);
    expect(stored.status).toMatchObject({
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
    });
    const entry = stored.metadata.managedFields.find((m: any) => m.manager === 'agent');
    expect(entry).toMatchObject({ operation: 'Apply', subresource: 'status' });
    expect(Object.keys(entry.fieldsV1)).toEqual(['f:status']);
    const missing = await req(
      'PATCH',
      `${PODS}/nope/status?fieldManager=agent`,
      cfg.replace('ssa-status', 'nope'),
      APPLY,
    );
    expect(missing.statusCode).toBe(404);
  });

  it('refuses requests kube refuses, changing nothing', async () => {
    rev = await store.revision();
    const noManager = await req('PATCH', `${CMS}/ssa`, cm({ a: '1' }), APPLY);
    expect(noManager.statusCode).toBe(400);
    expect(noManager.json().message).toContain('fieldManager');
    const noKind = await req(
      'PATCH',
      `${CMS}/ssa?fieldManager=a`,
      YAML.stringify({ apiVersion: 'v1', metadata: { name: 'ssa' } }),
      APPLY,
    );
    expect(noKind.statusCode).toBe(400);
    const wrongName = await req('PATCH', `${CMS}/ssa?fieldManager=a`, cm({ a: '1' }, 'other'), APPLY);
    expect(wrongName.statusCode).toBe(400);
    const withMf = await req(
      'PATCH',
      `${CMS}/ssa?fieldManager=a`,
      YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', managedFields: [] } }),
      APPLY,
    );
    expect(withMf.statusCode).toBe(400);
    const forceOnMerge = await req('PATCH', `${CMS}/ssa?force=true`, { data: { a: '1' } }, MERGE);
    expect(forceOnMerge.statusCode).toBe(400);
    const invalid = await req(
      'PATCH',
      `${DEPLOYS}/ssa-deploy?fieldManager=kubectl`,
      YAML.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'ssa-deploy' },
        spec: { replicas: -1 },
      }),
      APPLY,
    );
    expect(invalid.statusCode).toBe(422);
    await expectUnchanged();
  });
});
