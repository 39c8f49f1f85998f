// Request options kubectl sends that change how a request is served: DeleteOptions.propagationPolicy
// (the garbage collector acts on the finalizer it leaves), resourceVersionMatch on lists, and bodies
// without a Content-Type.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } });
const CMS = '/api/v1/namespaces/default/configmaps';

describe('DeleteOptions.propagationPolicy', () => {
  it('Orphan and Foreground leave the object deleting with their finalizer; Background deletes at once', async () => {
    for (const [policy, finalizer] of [
      ['Orphan', 'orphan'],
      ['Foreground', 'foregroundDeletion'],
    ] as const) {
      const name = `p-${policy.toLowerCase()}`;
      expect((await s.req('POST', CMS, { body: cm(name) })).statusCode).toBe(201);
      const del = await s.req('DELETE', `${CMS}/${name}`, {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: policy },
      });
      expect(del.statusCode).toBe(200);
      const got = (await s.req('GET', `${CMS}/${name}`)).json();
      expect(got.metadata.deletionTimestamp).toBeTruthy();
      expect(got.metadata.finalizers).toEqual([finalizer]);
    }
    expect((await s.req('POST', CMS, { body: cm('p-bg') })).statusCode).toBe(201);
    expect((await s.req('DELETE', `${CMS}/p-bg?propagationPolicy=Background`)).statusCode).toBe(200);
    expect((await s.req('GET', `${CMS}/p-bg`)).statusCode).toBe(404);
  });

  it('the deprecated orphanDependents: true means Orphan', async () => {
    expect((await s.req('POST', CMS, { body: cm('p-old') })).statusCode).toBe(201);
    await s.req('DELETE', `${CMS}/p-old`, { body: { orphanDependents: true } });
    expect((await s.req('GET', `${CMS}/p-old`)).json().metadata.finalizers).toEqual(['orphan']);
  });

  it('an unknown policy is a 422 naming it, and nothing is deleted', async () => {
    expect((await s.req('POST', CMS, { body: cm('p-bad') })).statusCode).toBe(201);
    const r = await s.req('DELETE', `${CMS}/p-bad`, { body: { propagationPolicy: 'Sideways' } });
    expect(r.statusCode).toBe(422);
    expect(r.json().message).toBe(
      'propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan"',
    );
    const got = (await s.req('GET', `${CMS}/p-bad`)).json();
    expect(got.metadata.deletionTimestamp).toBeUndefined();
  });
});

describe('resourceVersionMatch on lists', () => {
  it('NotOlderThan is served from the latest state; Exact only at the current revision', async () => {
    const list = (await s.req('GET', CMS)).json();
    const rv = list.metadata.resourceVersion;
    expect(
      (await s.req('GET', `${CMS}?resourceVersion=1&resourceVersionMatch=NotOlderThan`)).statusCode,
    ).toBe(200);
    expect((await s.req('GET', `${CMS}?resourceVersion=${rv}&resourceVersionMatch=Exact`)).statusCode).toBe(
      200,
    );
    const old = await s.req('GET', `${CMS}?resourceVersion=1&resourceVersionMatch=Exact`);
    expect(old.statusCode).toBe(410);
    expect(old.json().reason).toBe('Expired');
  });

  it('refuses an unknown match and a match without a resourceVersion with 422', async () => {
    const bad = await s.req('GET', `${CMS}?resourceVersion=1&resourceVersionMatch=Newest`);
    expect(bad.statusCode).toBe(422);
    expect(bad.json().message).toMatch(/resourceVersionMatch: Unsupported value: "Newest"/);
    const bare = await s.req('GET', `${CMS}?resourceVersionMatch=NotOlderThan`);
    expect(bare.statusCode).toBe(422);
    expect(bare.json().message).toMatch(/forbidden unless resourceVersion is provided/);
  });
});

describe('Warning headers for fields a tier does not honour', () => {
  it('a wasm pod with hostAliases is created, with a Warning naming the field and the tier', async () => {
    const r = await s.req('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'aliased' },
        spec: {
          runtimeClassName: 'wasm',
          hostAliases: [{ ip: '127.0.0.1', hostnames: ['db'] }],
          containers: [{ name: 'main', image: '/opt/app.wasm' }],
        },
      },
    });
    expect(r.statusCode).toBe(201);
    expect([r.headers.warning].flat()).toEqual([
      '299 - "spec.hostAliases: ignored: wasm guests have no /etc/hosts on the wasm runtime class"',
    ]);
  });
});

describe('bodies without a Content-Type', () => {
  it('are read as JSON; an unknown Content-Type is a 415', async () => {
    const created = await s.app.inject({
      method: 'POST',
      url: CMS,
      headers: { authorization: s.authorization },
      payload: JSON.stringify(cm('no-type')),
    });
    expect(created.statusCode).toBe(201);
    const odd = await s.req('POST', CMS, { body: cm('odd-type'), headers: { 'content-type': 'text/csv' } });
    expect(odd.statusCode).toBe(415);
    expect((await s.req('GET', `${CMS}/odd-type`)).statusCode).toBe(404);
  });
});
