import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allKinds } from '../../api/index.ts';
import { subresourcesOf } from '../../api/subresources.ts';
import { startTestServer, type TestServer } from '../testing.ts';
import {
  aggregatedDiscovery,
  discoveredResources,
  storageVersionHash,
  wantsAggregated,
} from './discovery.ts';

// What kubectl 1.32 sends for /api and /apis.
const KUBECTL_DISCOVERY =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const get = async (url: string, accept?: string) => {
  const res = await s.req('GET', url, { headers: accept ? { accept } : {} });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
};
const entry = (list: any, name: string) => list.resources.find((r: any) => r.name === name);

describe('discovery documents', () => {
  it('storageVersionHash as kube-apiserver computes it', () => {
    expect(storageVersionHash('', 'v1', 'Pod')).toBe('xPOwRZ+Yhw8=');
  });

  it('/api: APIVersions with the address clients reach the server at', async () => {
    const { status, body } = await get('/api');
    expect(status).toBe(200);
    expect(body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect(body.serverAddressByClientCIDRs).toEqual([
      { clientCIDR: '0.0.0.0/0', serverAddress: expect.stringMatching(/:\d+$|^localhost/) },
    ]);
  });

  it('/api/v1: verbs, short names, the all category, subresources as their own entries', async () => {
    const { body } = await get('/api/v1');
    expect(body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    expect(entry(body, 'pods')).toEqual({
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['po'],
      categories: ['all'],
      storageVersionHash: 'xPOwRZ+Yhw8=',
    });
    expect(entry(body, 'configmaps').categories).toBeUndefined();
    expect(entry(body, 'nodes')).toMatchObject({ namespaced: false, shortNames: ['no'] });
    expect(entry(body, 'pods/log')).toEqual({
      name: 'pods/log',
      singularName: '',
      namespaced: true,
      kind: 'Pod',
      verbs: ['get'],
    });
    expect(entry(body, 'pods/exec')).toMatchObject({ kind: 'PodExecOptions', verbs: ['create', 'get'] });
    expect(entry(body, 'pods/status')).toMatchObject({ kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    expect(entry(body, 'pods/eviction')).toMatchObject({
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    });
    expect(entry(body, 'pods/binding')).toMatchObject({ kind: 'Binding', verbs: ['create'] });
    expect(entry(body, 'configmaps/status')).toBeUndefined();
  });

  it('/apis, /apis/{group}, /apis/{group}/{version}', async () => {
    const groups = (await get('/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    const names = groups.groups.map((g: any) => g.name);
    expect(names).toEqual(
      expect.arrayContaining(['apps', 'batch', 'policy', 'authentication.k8s.io', 'coordination.k8s.io']),
    );
    expect(groups.groups.find((g: any) => g.name === 'apps')).toEqual({
      name: 'apps',
      versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
    });
    expect((await get('/apis/apps')).body).toMatchObject({ kind: 'APIGroup', name: 'apps' });
    const apps = (await get('/apis/apps/v1')).body;
    expect(entry(apps, 'deployments')).toMatchObject({ shortNames: ['deploy'], categories: ['all'] });
    expect(entry(apps, 'deployments/scale')).toMatchObject({
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
      verbs: ['get', 'patch', 'update'],
    });
    expect(entry(apps, 'deployments/status')).toBeDefined();
    expect(entry(apps, 'daemonsets').categories).toEqual(['all']);
    const authn = (await get('/apis/authentication.k8s.io/v1')).body;
    expect(authn.resources).toEqual([
      expect.objectContaining({
        name: 'selfsubjectreviews',
        kind: 'SelfSubjectReview',
        verbs: ['create'],
        namespaced: false,
      }),
      expect.objectContaining({
        name: 'tokenreviews',
        kind: 'TokenReview',
        verbs: ['create'],
        namespaced: false,
      }),
    ]);
    for (const url of [
      '/apis/widgets.example.com/v1',
      '/apis/apps/v2',
      '/apis/widgets.example.com',
      '/api/v2',
    ]) {
      const res = await get(url);
      expect(res.status, url).toBe(404);
      expect(res.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    }
  });
});

describe('aggregated discovery (apidiscovery.k8s.io/v2)', () => {
  it('answers kubectl’s Accept with every group, version and resource in one response', async () => {
    const core = await get('/api', KUBECTL_DISCOVERY);
    // What client-go checks (mime.ParseMediaType: quoting does not matter).
    const params = Object.fromEntries(
      String(core.headers['content-type'])
        .split(';')
        .slice(1)
        .map((p) => p.trim().replace(/"/g, '').split('=')),
    );
    expect(String(core.headers['content-type'])).toMatch(/^application\/json;/);
    expect(params).toMatchObject({ g: 'apidiscovery.k8s.io', v: 'v2', as: 'APIGroupDiscoveryList' });
    expect(core.body).toMatchObject({ kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2' });
    expect(core.body.items).toHaveLength(1);
    expect(core.body.items[0].metadata.name).toBeUndefined();
    const pods = core.body.items[0].versions[0].resources.find((r: any) => r.resource === 'pods');
    expect(pods).toMatchObject({
      responseKind: { group: '', version: 'v1', kind: 'Pod' },
      scope: 'Namespaced',
      singularResource: 'pod',
      shortNames: ['po'],
      categories: ['all'],
    });
    expect(pods.subresources.map((x: any) => x.subresource)).toEqual([
      'binding',
      'ephemeralcontainers',
      'eviction',
      'exec',
      'log',
      'status',
    ]);
    expect(core.body.items[0].versions[0].freshness).toBe('Current');

    const named = await get('/apis', KUBECTL_DISCOVERY);
    const apps = named.body.items.find((g: any) => g.metadata.name === 'apps');
    const deployments = apps.versions[0].resources.find((r: any) => r.resource === 'deployments');
    expect(deployments.subresources).toContainEqual({
      subresource: 'scale',
      responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      verbs: ['get', 'patch', 'update'],
    });
    expect(named.body.items.map((g: any) => g.metadata.name)).not.toContain(undefined);
  });

  it('v2beta1 when asked first; plain documents when plain JSON comes first', async () => {
    const beta = await get(
      '/apis',
      'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList',
    );
    expect(beta.body.apiVersion).toBe('apidiscovery.k8s.io/v2beta1');
    expect(
      wantsAggregated(
        'application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
      ),
    ).toBeUndefined();
    expect(wantsAggregated(undefined)).toBeUndefined();
  });

  it('ETag and 304 for a client that has the current document', async () => {
    const first = await s.req('GET', '/apis', { headers: { accept: KUBECTL_DISCOVERY } });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    const again = await s.req('GET', '/apis', {
      headers: { accept: KUBECTL_DISCOVERY, 'if-none-match': etag },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('lists the same resources as the unaggregated documents', () => {
    const resources = discoveredResources();
    const agg = [
      ...aggregatedDiscovery(resources, 'core').items,
      ...aggregatedDiscovery(resources, 'named').items,
    ];
    const listed = agg.flatMap((g) =>
      g.versions.flatMap((v) => v.resources.map((r) => `${r.responseKind.group}/${r.resource}`)),
    );
    expect(listed.sort()).toEqual(resources.map((r) => `${r.group}/${r.plural}`).sort());
  });
});

describe('every resource and subresource discovery lists is served', () => {
  // A request to a missing object must fail on the object ("not found"), never on the route.
  const ROUTE_MISSING =
    /no subresource|no status subresource|could not find the requested resource|doesn't have a resource type/;

  it('subresources', async () => {
    for (const k of allKinds()) {
      const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
      const item = `${base}/${k.namespaced ? 'namespaces/default/' : ''}${k.plural}/missing`;
      for (const sub of subresourcesOf(k)) {
        // exec's `get` is the WebSocket upgrade; a plain request posts.
        const method = sub.verbs.includes('create') ? 'POST' : 'GET';
        const body =
          sub.name === 'eviction'
            ? { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'missing' } }
            : sub.name === 'binding'
              ? { target: { name: 'node-a' } }
              : sub.name === 'exec'
                ? { command: ['true'] }
                : undefined;
        const res = await s.req(method, `${item}/${sub.name}`, {
          body: method === 'POST' ? body : undefined,
        });
        const what = `${method} ${k.plural}/${sub.name}`;
        expect(res.statusCode, what).toBe(404);
        expect(res.json().message, what).not.toMatch(ROUTE_MISSING);
      }
    }
  });

  it('resources served without storage', async () => {
    const review = await s.req('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.statusCode).toBeLessThan(300);
    const token = await s.req('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'nope' } },
    });
    expect(token.statusCode).toBeLessThan(300);
  });
});
