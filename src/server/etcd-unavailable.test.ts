// The API server in front of an etcd that does not answer (a real EtcdStore on a loopback port nothing
// listens on): requests get a 503 Status naming etcd, and /readyz reports the failed check in
// kube-apiserver's shape, while a healthy server's /readyz says ok.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openEtcdStore, type EtcdStore } from '../store/etcd.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { ObjectStore } from '../store/objects.ts';
import type { Store } from '../store/store.ts';
import { freePort } from '../lib/free-port.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';

const TOKEN = 'etcd-unavailable-test-token';

function server(objects: ObjectStore, checks: { name: string; check: () => Promise<void> }[]) {
  const auth = new Authenticator();
  auth.add(TOKEN, 'admin', ['system:masters']);
  return buildServer({ objects, auth, readyChecks: checks });
}

describe('API server without etcd', () => {
  let etcd: EtcdStore;
  let app: FastifyInstance;
  beforeAll(async () => {
    // A port nothing listens on: every etcd call fails to connect.
    etcd = openEtcdStore({
      endpoints: [`http://127.0.0.1:${await freePort()}`],
      compactionIntervalMs: 0,
      dialTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
    });
    app = server(new ObjectStore(etcd), [{ name: 'etcd', check: () => etcd.checkHealth() }]);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await etcd?.close();
  });

  it('answers a read with 503 ServiceUnavailable naming etcd', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/configmaps/x',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(503);
    const status = res.json();
    expect(status.kind).toBe('Status');
    expect(status.reason).toBe('ServiceUnavailable');
    expect(status.message).toMatch(
      /^etcd: no member answers \(tried http:\/\/127\.0\.0\.1:\d+\); get \/registry\/\S+ failed/,
    );
  });

  it('reports /readyz not ready: [-]etcd failed', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe('[-]etcd failed: reason withheld\nreadyz check failed\n');
  });
});

describe('API server with its checks passing', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-readyz-'));
    store = openSqliteStore(join(dir, 'state.db'));
    app = server(new ObjectStore(store), [{ name: 'etcd', check: async () => {} }]);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /readyz ok, and lists the checks with ?verbose', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz' })).body).toBe('ok');
    const verbose = await app.inject({ method: 'GET', url: '/readyz?verbose' });
    expect(verbose.statusCode).toBe(200);
    expect(verbose.body).toBe('[+]etcd ok\nreadyz check passed\n');
  });
});
