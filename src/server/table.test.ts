import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { columnsFor } from '../api/columns.ts';
import { ApiError } from '../store/objects.ts';
import { negotiate, parseAccept, render, toTable } from './table.ts';
import { startTestServer, type TestServer } from './testing.ts';

const TABLE_V1 = 'application/json;as=Table;v=v1;g=meta.k8s.io';
// What kubectl get sends.
const KUBECTL_GET = `${TABLE_V1},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;

const status = (fn: () => unknown): { code: number; message: string } | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, message: err.status.message ?? '' };
    throw err;
  }
  return undefined;
};

describe('negotiate', () => {
  it('reads kubectl’s Accept header: Table v1 first', () => {
    expect(negotiate(KUBECTL_GET, {})).toEqual({ as: 'Table', version: 'v1', includeObject: 'Metadata' });
    expect(
      negotiate('application/json;as=Table;v=v1beta1;g=meta.k8s.io', { includeObject: 'Object' }),
    ).toEqual({
      as: 'Table',
      version: 'v1beta1',
      includeObject: 'Object',
    });
  });

  it('plain JSON without or with a generic Accept; the best q wins', () => {
    expect(negotiate(undefined, {})).toEqual({ as: 'Object' });
    expect(negotiate('application/json, */*', {})).toEqual({ as: 'Object' });
    expect(negotiate('application/vnd.kubernetes.protobuf, */*', {})).toEqual({ as: 'Object' });
    expect(negotiate(`application/json;q=0.5, ${TABLE_V1};q=0.9`, {})).toMatchObject({ as: 'Table' });
    expect(parseAccept('a/b;q=0, c/d;x="y"')).toEqual([{ type: 'c/d', params: { x: 'y' }, q: 1 }]);
  });

  it('metadata only: PartialObjectMetadata and PartialObjectMetadataList', () => {
    expect(negotiate('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', {})).toEqual({
      as: 'PartialObjectMetadata',
      version: 'v1',
    });
  });

  it('skips what it cannot produce; 406 when nothing is left; 400 for a bad includeObject', () => {
    expect(negotiate(`application/json;as=Table;v=v2;g=meta.k8s.io,${TABLE_V1}`, {})).toMatchObject({
      as: 'Table',
      version: 'v1',
    });
    expect(status(() => negotiate('application/json;as=Table;v=v1;g=example.com', {}))).toMatchObject({
      code: 406,
    });
    expect(status(() => negotiate('application/yaml', {}))).toMatchObject({ code: 406 });
    expect(status(() => negotiate(TABLE_V1, { includeObject: 'Everything' }))).toMatchObject({
      code: 400,
      message: expect.stringContaining('includeObject'),
    });
  });
});

describe('toTable and render', () => {
  const pod = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      resourceVersion: '7',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { a: 'b' },
    },
    spec: { nodeName: 'node-a', runtimeClassName: 'wasm', containers: [{ name: 'c', image: 'x.wasm' }] },
    status: {
      phase: 'Running',
      containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'x.wasm' }],
    },
  });
  const podKind = kindFor('v1', 'Pod')!;
  const now = Date.parse('2026-01-01T00:05:00Z');

  it('a list: every column (wide ones at priority 1), one row per item, PartialObjectMetadata by default', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: '9', continue: 'c1' },
      items: [pod('a'), pod('b')],
    };
    const t = toTable(podKind, list, true, { now });
    expect(t).toMatchObject({
      apiVersion: 'meta.k8s.io/v1',
      kind: 'Table',
      metadata: { resourceVersion: '9', continue: 'c1' },
    });
    expect(t.columnDefinitions!.map((c) => [c.name, c.priority])).toEqual(
      columnsFor('Pod').map((c) => [c.name, c.priority]),
    );
    expect(t.columnDefinitions![0]).toMatchObject({ name: 'Name', type: 'string', format: 'name' });
    expect(t.rows.map((r) => r.cells.slice(0, 5))).toEqual([
      ['a', '1/1', 'Running', '0', '5m0s'],
      ['b', '1/1', 'Running', '0', '5m0s'],
    ]);
    expect(t.rows[0].object).toEqual({
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: pod('a').metadata,
    });
  });

  it('includeObject Object and None; a single object is a table of one row', () => {
    expect(toTable(podKind, pod('a'), false, { includeObject: 'Object' }).rows[0].object).toEqual(pod('a'));
    const none = toTable(podKind, pod('a'), false, { includeObject: 'None', version: 'v1beta1' });
    expect(none.apiVersion).toBe('meta.k8s.io/v1beta1');
    expect(none.metadata).toEqual({ resourceVersion: '7' });
    expect(none.rows).toHaveLength(1);
    expect('object' in none.rows[0]).toBe(false);
  });

  it('passes Status objects and kinds Strata does not serve through unchanged', () => {
    const table = { as: 'Table', version: 'v1', includeObject: 'Metadata' } as const;
    const st = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 };
    expect(render(table, st)).toBe(st);
    const scale = { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'x' } };
    expect(render(table, scale)).toBe(scale);
    expect(render(table, 'text')).toBe('text');
  });
});

describe('Table output over HTTP', () => {
  let s: TestServer;
  const createPod = (name: string) =>
    s.req('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: 'web' } },
        spec: { containers: [{ name: 'main', image: '/opt/app.wasm' }] },
      },
    });

  beforeAll(async () => {
    s = await startTestServer();
    expect((await createPod('web-1')).statusCode).toBe(201);
    expect((await createPod('web-2')).statusCode).toBe(201);
  });
  afterAll(() => s.close());

  it('kubectl get pods: a Table with the pod columns', async () => {
    const res = await s.req('GET', '/api/v1/namespaces/default/pods?limit=500', {
      headers: { accept: KUBECTL_GET },
    });
    expect(res.statusCode).toBe(200);
    const t = res.json();
    expect(t.kind).toBe('Table');
    expect(t.columnDefinitions.filter((c: any) => c.priority === 0).map((c: any) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
    ]);
    expect(t.rows.map((r: any) => r.cells[0]).sort()).toEqual(['web-1', 'web-2']);
    expect(t.rows[0].cells[2]).toBe('Pending');
    expect(t.rows[0].object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { namespace: 'default', labels: { app: 'web' } },
    });
    expect(t.metadata.resourceVersion).toMatch(/^\d+$/);
  });

  it('all namespaces, one object, a cluster-scoped kind, label selectors', async () => {
    const all = (
      await s.req('GET', '/api/v1/pods?labelSelector=app%3Dweb', { headers: { accept: TABLE_V1 } })
    ).json();
    expect(all.rows).toHaveLength(2);
    const one = (
      await s.req('GET', '/api/v1/namespaces/default/pods/web-1?includeObject=Object', {
        headers: { accept: TABLE_V1 },
      })
    ).json();
    expect(one.rows).toHaveLength(1);
    expect(one.rows[0].object).toMatchObject({ kind: 'Pod', spec: { containers: [{ name: 'main' }] } });
    const ns = (await s.req('GET', '/api/v1/namespaces', { headers: { accept: TABLE_V1 } })).json();
    expect(ns.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Status', 'Age']);
    expect(ns.rows.map((r: any) => r.cells.slice(0, 2))).toContainEqual(['default', 'Active']);
  });

  it('plain JSON without the Table Accept; metadata-only lists; errors stay Status objects', async () => {
    const plain = (
      await s.req('GET', '/api/v1/namespaces/default/pods', { headers: { accept: 'application/json' } })
    ).json();
    expect(plain.kind).toBe('PodList');
    const partial = (
      await s.req('GET', '/api/v1/namespaces/default/pods', {
        headers: { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' },
      })
    ).json();
    expect(partial).toMatchObject({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' });
    expect(partial.items[0]).toEqual({
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: expect.objectContaining({ name: expect.any(String) }),
    });
    const missing = await s.req('GET', '/api/v1/namespaces/default/pods/nope', {
      headers: { accept: KUBECTL_GET },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ kind: 'Status', reason: 'NotFound' });
  });

  it('406 for an Accept nothing can satisfy and 400 for a bad includeObject, before anything happens', async () => {
    const before = (await s.objects.list(kindFor('v1', 'Pod')!, 'default', {})).items.length;
    const refused = await s.req('POST', '/api/v1/namespaces/default/pods', {
      headers: { accept: 'application/json;as=Table;g=meta.k8s.io;v=v9' },
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'not-created' },
        spec: { containers: [{ name: 'm', image: '/x.wasm' }] },
      },
    });
    expect(refused.statusCode).toBe(406);
    expect(refused.json()).toMatchObject({ kind: 'Status', reason: 'NotAcceptable', code: 406 });
    expect((await s.objects.list(kindFor('v1', 'Pod')!, 'default', {})).items.length).toBe(before);
    const bad = await s.req('GET', '/api/v1/namespaces/default/pods?includeObject=All', {
      headers: { accept: TABLE_V1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/includeObject/);
  });

  it('watch: each event is a Table of one row; only the first carries the column definitions', async () => {
    const watching = s.req('GET', '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1', {
      headers: { accept: KUBECTL_GET },
    });
    await new Promise((r) => setTimeout(r, 200));
    await createPod('web-3');
    const events = (await watching).body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'ADDED']);
    for (const e of events) {
      expect(e.object.kind).toBe('Table');
      expect(e.object.rows).toHaveLength(1);
    }
    expect(events[0].object.columnDefinitions.map((c: any) => c.name)).toContain('Restarts');
    expect(events[1].object.columnDefinitions).toBeNull();
    expect(events.map((e) => e.object.rows[0].cells[0])).toContain('web-3');
    expect(events[2].object.rows[0].object.kind).toBe('PartialObjectMetadata');
  });

  it('watch without the Table Accept streams the objects themselves', async () => {
    const res = await s.req('GET', '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1');
    const first = JSON.parse(res.body.split('\n')[0]);
    expect(first).toMatchObject({ type: 'ADDED', object: { kind: 'Pod' } });
  });
});
