// Authorization through the real API server (sqlite store, RBAC over informers, the ClusterRole
// aggregation controller) with real clients: Fastify's inject for the REST surface, a raw HTTP upgrade for
// exec, and the real kubectl for `auth can-i` and `--as`. Each denial is checked to change nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { ClusterRoleAggregationController } from '../controllers/clusterrole-aggregation.ts';
import { which } from '../lib/command.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadOrCreateClusterPKI, type ClusterPKI } from '../auth/cluster-pki.ts';
import { ADMIN_GROUP } from '../auth/identities.ts';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';
import { startAuthorization } from './authorization.ts';

const run = promisify(execFile);
const G = 'rbac.authorization.k8s.io';
const TOKENS = {
  admin: 'admin-token-0123456789abcdef',
  alice: 'alice-token-0123456789abcdef',
  bob: 'bob-token-0123456789abcdef',
};
const podKind = kindFor('v1', 'Pod')!;

/** The server under test, its store, and an admin request helper (as src/server/testing.ts offers). */
interface Server {
  app: FastifyInstance;
  objects: ObjectStore;
  req(
    method: string,
    url: string,
    opts?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
}
let s: Server;
let store: Store;
let pki: ClusterPKI;
let informers: SharedInformers;
let aggregation: ClusterRoleAggregationController;
let aggregationInformers: SharedInformers;
let base = '';
let dir = '';

const as = (who: keyof typeof TOKENS, method: string, url: string, body?: unknown, headers = {}) =>
  s.app.inject({
    method: method as 'GET',
    url,
    headers: {
      authorization: `Bearer ${TOKENS[who]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });

/** RBAC reads informer caches: a new binding takes effect a moment later, as in Kubernetes. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition never held');
}

const roleBinding = (ns: string, name: string, user: string, role: string, kind = 'ClusterRole') => ({
  apiVersion: `${G}/v1`,
  kind: 'RoleBinding',
  metadata: { name, namespace: ns },
  subjects: [{ kind: 'User', apiGroup: G, name: user }],
  roleRef: { apiGroup: G, kind, name: role },
});

async function pods(ns: string): Promise<string[]> {
  return (await s.objects.list(podKind, ns)).items.map((p) => p.metadata.name);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-rbac-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  pki = await loadOrCreateClusterPKI(dir);
  const auth = new Authenticator();
  auth.add(TOKENS.admin, 'admin', [ADMIN_GROUP]);
  auth.add(TOKENS.alice, 'alice', []);
  auth.add(TOKENS.bob, 'bob', ['devs']);
  informers = new SharedInformers(objects);
  informers.start();
  const authz = await startAuthorization({ objects, informers });
  const app = buildServer({
    objects,
    auth,
    tls: { cert: pki.serving.cert, key: pki.serving.key, clientCA: pki.ca.cert },
    extensions: [authz.extension],
  });
  s = {
    app,
    objects,
    req: (method, url, opts = {}) => as('admin', method, url, opts.body, opts.headers),
  };
  aggregationInformers = new SharedInformers(s.objects);
  aggregation = new ClusterRoleAggregationController({ objects: s.objects, informers: aggregationInformers });
  aggregationInformers.start();
  await aggregation.start();
  for (const ns of ['team-a', 'team-b'])
    expect(
      (
        await s.req('POST', '/api/v1/namespaces', {
          body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        })
      ).statusCode,
    ).toBe(201);
  // alice may read team-a; bob administers team-b.
  expect(
    (
      await s.req('POST', `/apis/${G}/v1/namespaces/team-a/rolebindings`, {
        body: roleBinding('team-a', 'alice-view', 'alice', 'view'),
      })
    ).statusCode,
  ).toBe(201);
  expect(
    (
      await s.req('POST', `/apis/${G}/v1/namespaces/team-b/rolebindings`, {
        body: roleBinding('team-b', 'bob-admin', 'bob', 'admin'),
      })
    ).statusCode,
  ).toBe(201);
  await s.req('POST', '/api/v1/namespaces/team-a/pods', {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    },
  });
  // admin's rules come from the aggregation controller (view → edit → admin).
  await eventually(async () => (await as('bob', 'GET', '/api/v1/namespaces/team-b/pods')).statusCode === 200);
  await eventually(
    async () => (await as('alice', 'GET', '/api/v1/namespaces/team-a/pods')).statusCode === 200,
  );

  await s.app.listen({ host: '127.0.0.1', port: 0 });
  base = `https://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await aggregation?.stop();
  aggregationInformers?.stop();
  await s?.app.close();
  informers?.stop();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('authorization on the request path', () => {
  it('denies with kube’s 403 Status and message, and lets the allowed through', async () => {
    const r = await as('alice', 'GET', '/api/v1/namespaces/default/pods');
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      details: { kind: 'pods', group: '' },
      message:
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    });
    const named = await as('alice', 'GET', '/apis/apps/v1/namespaces/team-b/deployments/x');
    expect(named.json().message).toBe(
      'deployments.apps "x" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "team-b"',
    );
    const cluster = await as('alice', 'GET', '/api/v1/nodes');
    expect(cluster.json().message).toBe(
      'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope',
    );
    const watch = await as('alice', 'GET', '/api/v1/namespaces/team-b/pods?watch=true');
    expect(watch.json().message).toContain('cannot watch resource "pods"');
    expect((await as('alice', 'GET', '/api/v1/namespaces/team-a/pods/web')).statusCode).toBe(200);
    // Discovery and the public info are everyone's (system:discovery, system:public-info-viewer).
    expect((await as('alice', 'GET', '/apis')).statusCode).toBe(200);
    expect((await as('alice', 'GET', '/api/v1')).statusCode).toBe(200);
  });

  it('a viewer cannot write, read secrets or logs elsewhere, and nothing changes', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'sneaky' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    };
    const r = await as('alice', 'POST', '/api/v1/namespaces/team-a/pods', pod);
    expect(r.statusCode).toBe(403);
    expect(r.json().message).toBe(
      'pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team-a"',
    );
    expect(await pods('team-a')).toEqual(['web']);
    const del = await as('alice', 'DELETE', '/api/v1/namespaces/team-a/pods');
    expect(del.json().message).toContain('cannot deletecollection resource "pods"');
    expect((await as('alice', 'DELETE', '/api/v1/namespaces/team-a/pods/web')).statusCode).toBe(403);
    expect(await pods('team-a')).toEqual(['web']);
    expect((await as('alice', 'GET', '/api/v1/namespaces/team-a/secrets')).statusCode).toBe(403);
    const log = await as('alice', 'GET', '/api/v1/namespaces/team-b/pods/x/log');
    expect(log.json().message).toContain(
      'cannot get resource "pods/log" in API group "" in the namespace "team-b"',
    );
  });

  it('authorizes exec upgrades: another tenant’s pod is a 403 before anything runs', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/api/v1/namespaces/team-a/pods/web/exec?command=sh&stdout=true`, {
        ca: pki.ca.cert,
        headers: {
          authorization: `Bearer ${TOKENS.bob}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-protocol': 'v5.channel.k8s.io',
        },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe(
      'pods "web" is forbidden: User "bob" cannot create resource "pods/exec" in API group "" in the namespace "team-a"',
    );
  });
});

describe('escalation prevention', () => {
  it('refuses a binding to a role one does not hold, and changes nothing', async () => {
    const r = await as(
      'bob',
      'POST',
      `/apis/${G}/v1/namespaces/team-b/rolebindings`,
      roleBinding('team-b', 'grab', 'bob', 'cluster-admin'),
    );
    expect(r.statusCode).toBe(403);
    expect(r.json().message).toContain(
      'rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:',
    );
    expect((await s.req('GET', `/apis/${G}/v1/namespaces/team-b/rolebindings/grab`)).statusCode).toBe(404);
    // A ClusterRoleBinding is cluster-wide: bob has no say there at all.
    const crb = {
      ...roleBinding('', 'grab', 'bob', 'view'),
      kind: 'ClusterRoleBinding',
      metadata: { name: 'grab' },
    };
    expect((await as('bob', 'POST', `/apis/${G}/v1/clusterrolebindings`, crb)).statusCode).toBe(403);
  });

  it('lets a namespace admin grant what it holds, and refuses roles granting more', async () => {
    expect(
      (
        await as(
          'bob',
          'POST',
          `/apis/${G}/v1/namespaces/team-b/rolebindings`,
          roleBinding('team-b', 'carol-view', 'carol', 'view'),
        )
      ).statusCode,
    ).toBe(201);
    const role = (rules: unknown[]) => ({
      apiVersion: `${G}/v1`,
      kind: 'Role',
      metadata: { name: 'r', namespace: 'team-b' },
      rules,
    });
    const more = await as(
      'bob',
      'POST',
      `/apis/${G}/v1/namespaces/team-b/roles`,
      role([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]),
    );
    expect(more.statusCode).toBe(403);
    expect(more.json().message).toContain('{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}');
    expect(
      (
        await as(
          'bob',
          'POST',
          `/apis/${G}/v1/namespaces/team-b/roles`,
          role([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]),
        )
      ).statusCode,
    ).toBe(201);
  });

  it('keeps roleRef immutable', async () => {
    const url = `/apis/${G}/v1/namespaces/team-a/rolebindings/alice-view`;
    const current = (await s.req('GET', url)).json();
    const r = await s.req('PUT', url, {
      body: { ...current, roleRef: { ...current.roleRef, name: 'edit' } },
    });
    expect(r.statusCode).toBe(422);
    expect(r.json().details.causes[0]).toMatchObject({ field: 'roleRef' });
    expect((await s.req('GET', url)).json().roleRef.name).toBe('view');
  });
});

describe('tenancy guard', () => {
  it('refuses host access to non-admins, naming the field; admins may', async () => {
    const pod = (name: string, spec: object) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
    });
    const hostPath = await as(
      'bob',
      'POST',
      '/api/v1/namespaces/team-b/pods',
      pod('hp', { volumes: [{ name: 'v', hostPath: { path: '/' } }] }),
    );
    expect(hostPath.statusCode).toBe(403);
    expect(hostPath.json().message).toContain('spec.volumes[0].hostPath');
    expect(hostPath.json().details.causes[0].field).toBe('spec.volumes[0].hostPath');
    // Privileged containers and host namespaces are not even in Strata's pod schema: a 422 naming the field.
    const priv = await as('bob', 'POST', '/api/v1/namespaces/team-b/pods', {
      ...pod('priv', {}),
      spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
    });
    expect(priv.statusCode).toBe(422);
    expect(priv.json().details.causes[0].field).toBe('spec.containers[0].securityContext.privileged');
    const deploy = await as('bob', 'POST', '/apis/apps/v1/namespaces/team-b/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'net' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: {
          metadata: { labels: { a: 'b' } },
          spec: {
            volumes: [{ name: 'v', hostPath: { path: '/etc' } }],
            containers: [{ name: 'c', image: 'busybox' }],
          },
        },
      },
    });
    expect(deploy.statusCode).toBe(403);
    expect(deploy.json().details.causes[0].field).toBe('spec.template.spec.volumes[0].hostPath');
    expect(await pods('team-b')).toEqual([]);
    expect((await as('bob', 'POST', '/api/v1/namespaces/team-b/pods', pod('plain', {}))).statusCode).toBe(
      201,
    );
    expect(
      (
        await s.req('POST', '/api/v1/namespaces/team-b/pods', {
          body: pod('hp', { volumes: [{ name: 'v', hostPath: { path: '/tmp' } }] }),
        })
      ).statusCode,
    ).toBe(201);
  });
});

describe('impersonation', () => {
  it('needs the impersonate verb, then acts as the user', async () => {
    const r = await as('alice', 'GET', '/api/v1/namespaces/team-b/pods', undefined, {
      'impersonate-user': 'bob',
    });
    expect(r.statusCode).toBe(403);
    expect(r.json().message).toBe(
      'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    const asAlice = await s.req('GET', '/api/v1/namespaces/default/pods', {
      headers: { 'impersonate-user': 'alice' },
    });
    expect(asAlice.json().message).toContain('User "alice" cannot list resource "pods"');
    const whoami = await s.req('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      headers: { 'impersonate-user': 'carol', 'impersonate-group': 'devs' },
    });
    expect(whoami.json().status.userInfo).toEqual({
      username: 'carol',
      groups: ['devs', 'system:authenticated'],
    });
  });
});

describe('access reviews', () => {
  const ssar = (attrs: object) => ({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: attrs },
  });

  it('SelfSubjectAccessReview and SubjectAccessReview answer without storing anything', async () => {
    const yes = await as(
      'alice',
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      ssar({ namespace: 'team-a', verb: 'list', resource: 'pods' }),
    );
    expect(yes.statusCode).toBe(201);
    expect(yes.json().status).toEqual({ allowed: true });
    const no = await as(
      'alice',
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      ssar({ namespace: 'team-b', verb: 'delete', resource: 'pods' }),
    );
    expect(no.json().status.allowed).toBe(false);
    const bad = await as('alice', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      spec: {},
    });
    expect(bad.statusCode).toBe(422);
    // Asking about someone else needs permission to create SubjectAccessReviews.
    const sar = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'bob',
        groups: ['devs'],
        resourceAttributes: { namespace: 'team-b', verb: 'create', resource: 'pods' },
      },
    };
    expect(
      (await as('alice', 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', sar)).statusCode,
    ).toBe(403);
    expect(
      (await s.req('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { body: sar })).json().status
        .allowed,
    ).toBe(true);
  });

  it('SelfSubjectRulesReview lists what one may do in a namespace', async () => {
    const r = await as('alice', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
      spec: { namespace: 'team-a' },
    });
    const st = r.json().status;
    expect(st.incomplete).toBe(false);
    expect(st.resourceRules).toContainEqual(
      expect.objectContaining({
        resources: expect.arrayContaining(['pods']),
        verbs: ['get', 'list', 'watch'],
      }),
    );
    expect(st.nonResourceRules).toContainEqual(
      expect.objectContaining({ nonResourceURLs: expect.arrayContaining(['/api']) }),
    );
  });
});

describe('kubectl', () => {
  const kubectlAvailable = !!which('kubectl');
  const kubeconfig = (user: keyof typeof TOKENS) => {
    const path = join(dir, `${user}.kubeconfig`);
    const token = TOKENS[user];
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: {
              server: base,
              'certificate-authority-data': Buffer.from(pki.ca.cert).toString('base64'),
            },
          },
        ],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    return path;
  };
  const kubectl = async (user: keyof typeof TOKENS, ...args: string[]) => {
    try {
      const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig(user), ...args]);
      return { code: 0, out: stdout.trim() };
    } catch (err: any) {
      return { code: err.code as number, out: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() };
    }
  };

  it.skipIf(!kubectlAvailable)(
    'kubectl auth can-i answers yes and no per namespace, --list lists',
    async () => {
      expect(await kubectl('alice', 'auth', 'can-i', 'list', 'pods', '-n', 'team-a')).toEqual({
        code: 0,
        out: 'yes',
      });
      expect(await kubectl('alice', 'auth', 'can-i', 'list', 'pods', '-n', 'team-b')).toEqual({
        code: 1,
        out: 'no',
      });
      expect(await kubectl('alice', 'auth', 'can-i', 'get', 'pods/log', '-n', 'team-a')).toEqual({
        code: 0,
        out: 'yes',
      });
      expect((await kubectl('alice', 'auth', 'can-i', 'create', 'pods/exec', '-n', 'team-a')).out).toBe('no');
      const list = await kubectl('alice', 'auth', 'can-i', '--list', '-n', 'team-a');
      expect(list.code).toBe(0);
      expect(list.out).toMatch(/pods\s+\[\]\s+\[\]\s+\[get list watch\]/);
    },
  );

  it.skipIf(!kubectlAvailable)(
    'kubectl --as: an admin acting as alice is denied in another namespace',
    async () => {
      const denied = await kubectl('admin', '--as', 'alice', 'get', 'pods', '-n', 'team-b');
      expect(denied.code).toBe(1);
      expect(denied.out).toContain(
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b"',
      );
      expect((await kubectl('admin', '--as', 'alice', 'get', 'pods', '-n', 'team-a', '-o', 'name')).out).toBe(
        'pod/web',
      );
      expect((await kubectl('alice', '--as', 'bob', 'get', 'pods', '-n', 'team-b')).out).toContain(
        'cannot impersonate resource "users"',
      );
      expect(
        await kubectl('admin', 'auth', 'can-i', 'create', 'pods', '-n', 'team-b', '--as', 'bob'),
      ).toEqual({ code: 0, out: 'yes' });
    },
  );

  it.skipIf(!kubectlAvailable)(
    'kubectl create rolebinding to cluster-admin as a namespace admin is refused',
    async () => {
      const r = await kubectl(
        'bob',
        'create',
        'rolebinding',
        'mine',
        '--clusterrole=cluster-admin',
        '--user=bob',
        '-n',
        'team-b',
      );
      expect(r.code).toBe(1);
      expect(r.out).toContain('is attempting to grant RBAC permissions not currently held');
      expect((await s.req('GET', `/apis/${G}/v1/namespaces/team-b/rolebindings/mine`)).statusCode).toBe(404);
    },
  );
});
