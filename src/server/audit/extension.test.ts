// The audit extension on a real API server (sqlite store, real RBAC over informers) listening on
// loopback: real HTTP requests, a watch stream, an exec upgrade, a 401, a 403 and impersonation, each
// checked in the JSON lines of the audit log file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_GROUP } from '../../auth/identities.ts';
import { ObjectStore } from '../../store/objects.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite.ts';
import { buildServer } from '../app.ts';
import { Authenticator } from '../auth.ts';
import { startAuthorization } from '../authorization.ts';
import { startAudit, type Audit } from './index.ts';

const TOKENS = { admin: 'admin-token-0123456789abcdef', alice: 'alice-token-0123456789abcdef' };
const SECRET_VALUE = 'hunter2-never-in-the-audit-log';
const CM_VALUE = 'configmap-value-never-logged';

let dir: string;
let store: SqliteStore;
let informers: SharedInformers;
let app: FastifyInstance;
let audit: Audit;
let base: string;
let logPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-audit-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const auth = new Authenticator();
  auth.add(TOKENS.admin, 'admin', [ADMIN_GROUP]);
  auth.add(TOKENS.alice, 'alice', ['team-a']);
  informers = new SharedInformers(objects);
  informers.start();
  const authz = await startAuthorization({ objects, informers });
  // Everything at RequestResponse, except what the rules below lower: the cap on secrets and
  // configmaps must hold whatever the policy says.
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ['/healthz*']
  - level: RequestResponse
`,
  );
  logPath = join(dir, 'audit', 'audit.log');
  audit = startAudit({ path: logPath, policyFile }, auth);
  app = buildServer({ objects, auth, extensions: [audit.extension, authz.extension] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  audit.close();
  informers.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(
  who: keyof typeof TOKENS | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(base + path, {
    method,
    headers: {
      ...(who ? { authorization: `Bearer ${TOKENS[who]}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      'user-agent': 'audit-test/1.0',
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The audit events written so far (after the writer's end-of-turn flush). */
async function events(): Promise<any[]> {
  await new Promise((r) => setImmediate(r));
  audit.writer.flush();
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function eventsFor(auditID: string): Promise<any[]> {
  // The completion is written when the response's socket side closes: wait for it.
  for (let i = 0; i < 50; i++) {
    const evs = (await events()).filter((e) => e.auditID === auditID);
    if (evs.some((e) => e.stage === 'ResponseComplete')) return evs;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await events()).filter((e) => e.auditID === auditID);
}

describe('audit log', () => {
  it('create at RequestResponse: who, what, when, request and response objects', async () => {
    const res = await call('admin', 'POST', '/api/v1/namespaces/default/serviceaccounts', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'robot' },
    });
    expect(res.status).toBe(201);
    const id = res.headers.get('audit-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const [e] = await eventsFor(id);
    expect(e).toMatchObject({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      stage: 'ResponseComplete',
      requestURI: '/api/v1/namespaces/default/serviceaccounts',
      verb: 'create',
      user: { username: 'admin', groups: [ADMIN_GROUP, 'system:authenticated'] },
      sourceIPs: ['127.0.0.1'],
      userAgent: 'audit-test/1.0',
      objectRef: {
        resource: 'serviceaccounts',
        namespace: 'default',
        name: 'robot',
        apiGroup: '',
        apiVersion: 'v1',
      },
      responseStatus: { code: 201 },
      requestObject: { kind: 'ServiceAccount', metadata: { name: 'robot' } },
      responseObject: { kind: 'ServiceAccount', metadata: { name: 'robot', namespace: 'default' } },
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    expect(Date.parse(e.requestReceivedTimestamp)).toBeLessThanOrEqual(Date.parse(e.stageTimestamp));
    expect(e.user.via).toBeUndefined();
  });

  it('get names the object; secrets and configmaps stay at Metadata whatever the policy says', async () => {
    const secret = await call('admin', 'POST', '/api/v1/namespaces/default/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db' },
      stringData: { password: SECRET_VALUE },
    });
    expect(secret.status).toBe(201);
    const cm = await call('admin', 'POST', '/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: { v: CM_VALUE },
    });
    expect(cm.status).toBe(201);
    const get = await call('admin', 'GET', '/api/v1/namespaces/default/secrets/db');
    expect(get.status).toBe(200);
    const [create] = await eventsFor(secret.headers.get('audit-id')!);
    expect(create.level).toBe('Metadata');
    expect(create.requestObject).toBeUndefined();
    expect(create.responseObject).toBeUndefined();
    const [read] = await eventsFor(get.headers.get('audit-id')!);
    expect(read).toMatchObject({
      level: 'Metadata',
      verb: 'get',
      objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
      responseStatus: { code: 200 },
    });
    const text = readFileSync(logPath, 'utf8');
    for (const v of [SECRET_VALUE, CM_VALUE]) {
      expect(text).not.toContain(v);
      expect(text).not.toContain(Buffer.from(v).toString('base64'));
    }
  });

  it('401 without credentials is logged, with no user and no decision', async () => {
    const res = await call(undefined, 'GET', '/api/v1/namespaces/default/pods');
    expect(res.status).toBe(401);
    const all = await events();
    const e = all.findLast((x) => x.responseStatus.code === 401);
    expect(e).toMatchObject({
      stage: 'ResponseComplete',
      verb: 'list',
      user: {},
      objectRef: { resource: 'pods', namespace: 'default' },
      responseStatus: { code: 401, reason: 'Unauthorized' },
    });
    expect(e.annotations).toBeUndefined();
  });

  it("403 from RBAC carries kube's decision annotation; impersonation is logged as such", async () => {
    const res = await call('alice', 'GET', '/api/v1/namespaces/default/secrets');
    expect(res.status).toBe(403);
    const [e] = await eventsFor(res.headers.get('audit-id')!);
    expect(e).toMatchObject({
      verb: 'list',
      user: { username: 'alice' },
      responseStatus: { code: 403, reason: 'Forbidden' },
      annotations: { 'authorization.k8s.io/decision': 'forbid' },
    });
    expect(e.responseStatus.message).toMatch(/secrets is forbidden: User "alice" cannot list/);

    const imp = await call('admin', 'GET', '/api/v1/namespaces/default/pods', undefined, {
      'impersonate-user': 'alice',
    });
    expect(imp.status).toBe(403); // admin may impersonate; alice may not list pods
    const [i] = await eventsFor(imp.headers.get('audit-id')!);
    expect(i.user.username).toBe('admin');
    expect(i.impersonatedUser.username).toBe('alice');
    expect(i.annotations['authorization.k8s.io/decision']).toBe('forbid');
  });

  it('a watch gets ResponseStarted when its stream opens and ResponseComplete when it ends', async () => {
    const ac = new AbortController();
    const res = await call('admin', 'GET', '/api/v1/namespaces/default/configmaps?watch=true', undefined, {});
    const id = res.headers.get('audit-id')!;
    const reader = res.body!.getReader();
    await reader.read(); // the ADDED event of cfg
    const started = (await events()).filter((e) => e.auditID === id);
    expect(started.map((e) => e.stage)).toEqual(['ResponseStarted']);
    expect(started[0]).toMatchObject({ verb: 'watch', responseStatus: { code: 200 } });
    await reader.cancel();
    ac.abort();
    const all = await eventsFor(id);
    expect(all.map((e) => e.stage)).toEqual(['ResponseStarted', 'ResponseComplete']);
  });

  it('exec upgrades are audited from the upgrade event: verb create on pods/exec, the refusal code', async () => {
    const code = await new Promise<number>((resolve, reject) => {
      const r = request(
        `${base}/api/v1/namespaces/default/pods/nosuchpod/exec?command=ls&stdout=true`,
        {
          headers: {
            authorization: `Bearer ${TOKENS.admin}`,
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'sec-websocket-protocol': 'v5.channel.k8s.io',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      r.on('upgrade', () => reject(new Error('unexpected upgrade')));
      r.on('error', reject);
      r.end();
    });
    expect(code).toBe(404);
    let e: any;
    for (let i = 0; i < 50 && !e; i++) {
      e = (await events()).find((x) => x.objectRef?.subresource === 'exec');
      if (!e) await new Promise((r) => setTimeout(r, 20));
    }
    expect(e).toMatchObject({
      stage: 'ResponseComplete',
      verb: 'create',
      user: { username: 'admin' },
      objectRef: { resource: 'pods', namespace: 'default', name: 'nosuchpod', subresource: 'exec' },
      responseStatus: { code: 404, reason: 'NotFound' },
    });
  });

  it('rules with level None keep requests out of the log', async () => {
    const res = await call('admin', 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect((await events()).some((e) => e.requestURI === '/healthz')).toBe(false);
  });
});
