// The control plane's /metrics over a real API server and sqlite store: requests are counted with kube's
// labels, store commits and kube-state series follow the objects, and /metrics needs authentication.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openSqliteStore } from '../store/sqlite.ts';
import { ObjectStore } from '../store/objects.ts';
import type { Store } from '../store/store.ts';
import { buildServer } from './app.ts';
import { Authenticator, loadOrCreateAdminToken } from './auth.ts';
import { ServerMetrics, requestInfo } from './metrics.ts';

let dir: string;
let store: Store;
let app: FastifyInstance;
let token: string;
let metrics: ServerMetrics;

function req(method: string, url: string, body?: unknown, auth = true) {
  return app.inject({
    method: method as 'GET',
    url,
    headers: {
      ...(auth ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The value of one series in a Prometheus text exposition (labels in any order). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-metrics-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const auth = new Authenticator();
  token = loadOrCreateAdminToken(dir).token;
  auth.add(token, 'admin', ['system:masters']);
  metrics = new ServerMetrics();
  await metrics.watchStore(objects);
  app = buildServer({ objects, auth, extensions: [metrics.extension()] });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await metrics.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('requestInfo', () => {
  it('labels requests as kube-apiserver does', () => {
    expect(requestInfo('GET', '/api/v1/namespaces/default/pods?labelSelector=a')).toMatchObject({
      verb: 'list',
      group: '',
      version: 'v1',
      resource: 'pods',
      scope: 'namespace',
    });
    expect(requestInfo('GET', '/apis/apps/v1/deployments?watch=true')).toMatchObject({
      verb: 'watch',
      group: 'apps',
      resource: 'deployments',
      scope: 'cluster',
      longRunning: true,
    });
    expect(requestInfo('PATCH', '/apis/apps/v1/namespaces/x/deployments/web/scale')).toMatchObject({
      verb: 'patch',
      resource: 'deployments',
      subresource: 'scale',
      scope: 'resource',
    });
    expect(requestInfo('DELETE', '/api/v1/namespaces/x/pods')).toMatchObject({ verb: 'deletecollection' });
    expect(requestInfo('GET', '/api/v1/namespaces/kube-system')).toMatchObject({
      verb: 'get',
      resource: 'namespaces',
      scope: 'resource',
    });
    expect(requestInfo('POST', '/api/v1/namespaces/x/pods/p/exec')).toMatchObject({
      verb: 'connect',
      subresource: 'exec',
      longRunning: true,
    });
    expect(requestInfo('GET', '/healthz')).toMatchObject({ verb: 'GET', resource: '' });
  });
});

describe('GET /metrics', () => {
  it('needs authentication', async () => {
    const res = await req('GET', '/metrics', undefined, false);
    expect(res.statusCode).toBe(401);
  });

  it('counts requests by verb, resource and code, with latency histograms, commits and kube-state series', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1', namespace: 'default' },
      spec: { containers: [{ name: 'main', image: '/opt/app.wasm' }] },
    };
    expect((await req('POST', '/api/v1/namespaces/default/pods', pod)).statusCode).toBe(201);
    expect((await req('GET', '/api/v1/namespaces/default/pods')).statusCode).toBe(200);
    expect((await req('GET', '/api/v1/namespaces/default/pods/nope')).statusCode).toBe(404);
    const res = await req('GET', '/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(sample(text, 'apiserver_request_total', { verb: 'create', resource: 'pods', code: '201' })).toBe(
      1,
    );
    expect(sample(text, 'apiserver_request_total', { verb: 'list', resource: 'pods', code: '200' })).toBe(1);
    expect(sample(text, 'apiserver_request_total', { verb: 'get', resource: 'pods', code: '404' })).toBe(1);
    expect(
      sample(text, 'apiserver_request_duration_seconds_count', {
        verb: 'list',
        resource: 'pods',
        scope: 'namespace',
      }),
    ).toBe(1);
    expect(sample(text, 'strata_store_commits_total', { operation: 'PUT' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'strata_store_revision', {})).toBeGreaterThan(0);
    expect(sample(text, 'kube_pod_status_phase', { pod: 'p1', phase: 'Pending' })).toBe(1);
    expect(sample(text, 'kube_pod_status_phase', { pod: 'p1', phase: 'Running' })).toBe(0);
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('policy violations', () => {
  it('exposes the admission-policy violation totals read at scrape time', async () => {
    const m = new ServerMetrics();
    let totals = [{ policy: 'untrusted-tiers', severity: 'high', action: 'Deny', count: 2 }];
    m.watchPolicyViolations(() => totals);
    expect(await m.registry.metrics()).toContain(
      'strata_policy_violations_total{policy="untrusted-tiers",severity="high",action="Deny"} 2',
    );
    totals = [{ policy: 'untrusted-tiers', severity: 'high', action: 'Deny', count: 3 }];
    expect(await m.registry.metrics()).toContain(
      'strata_policy_violations_total{policy="untrusted-tiers",severity="high",action="Deny"} 3',
    );
  });
});
