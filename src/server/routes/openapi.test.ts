import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAPIIndexPaths } from '../../api/index.ts';
import { startTestServer, type TestServer } from '../testing.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

describe('/openapi/v3', () => {
  it('an index in kube-apiserver’s shape: one serverRelativeURL with a hash per group-version', async () => {
    const res = await s.req('GET', '/openapi/v3', { headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(200);
    const index = res.json();
    expect(Object.keys(index)).toEqual(['paths']);
    expect(Object.keys(index.paths).sort()).toEqual(openAPIIndexPaths().sort());
    expect(index.paths['api/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
    expect(index.paths['apis/apps/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=/);
    expect(res.headers['cache-control']).toMatch(/no-cache/);
  });

  it('the document at its hashed URL is immutable; without a hash it must be revalidated', async () => {
    const index = (await s.req('GET', '/openapi/v3')).json();
    const url = index.paths['apis/apps/v1'].serverRelativeURL as string;
    const res = await s.req('GET', url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('public, immutable');
    expect(Date.parse(String(res.headers.expires)) - Date.now()).toBeGreaterThan(300 * 86400_000);
    const hash = url.split('hash=')[1];
    expect(res.headers.etag).toBe(`"${hash}"`);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.0');
    expect(
      doc.components.schemas['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind'],
    ).toEqual([{ group: 'apps', kind: 'Deployment', version: 'v1' }]);
    const plain = await s.req('GET', '/openapi/v3/apis/apps/v1');
    expect(plain.body).toBe(res.body);
    expect(plain.headers['cache-control']).toMatch(/no-cache/);
  });

  it('If-None-Match with the current ETag is a 304; a stale hash redirects to the current URL', async () => {
    const index = (await s.req('GET', '/openapi/v3')).json();
    const url = index.paths['api/v1'].serverRelativeURL as string;
    const etag = (await s.req('GET', url)).headers.etag as string;
    const cached = await s.req('GET', url, { headers: { 'if-none-match': etag } });
    expect(cached.statusCode).toBe(304);
    expect(cached.body).toBe('');
    const stale = await s.req('GET', '/openapi/v3/api/v1?hash=0123ABCD');
    expect(stale.statusCode).toBe(301);
    expect(stale.headers.location).toBe(url);
    const indexEtag = (await s.req('GET', '/openapi/v3')).headers.etag as string;
    expect((await s.req('GET', '/openapi/v3', { headers: { 'if-none-match': indexEtag } })).statusCode).toBe(
      304,
    );
  });

  it('404 for a group-version Strata does not serve, 406 for a client that only takes protobuf', async () => {
    const missing = await s.req('GET', '/openapi/v3/apis/widgets.example.com/v1');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const proto = await s.req('GET', '/openapi/v3/api/v1', {
      headers: { accept: 'application/com.github.proto-openapi.spec.v3@v1.0+protobuf' },
    });
    expect(proto.statusCode).toBe(406);
  });

  it('needs authentication like every API path', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/openapi/v3' });
    expect(res.statusCode).toBe(401);
  });
});
