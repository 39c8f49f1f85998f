// A real API server (sqlite store in a temporary directory, admin token) for HTTP tests, built as
// `strata server` builds it. Test-only: nothing outside *.test.ts imports this.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { buildServer } from './app.ts';
import { Authenticator, loadOrCreateAdminToken } from './auth.ts';

export interface TestServer {
  app: FastifyInstance;
  objects: ObjectStore;
  /** An authenticated request; `body` is sent as JSON. */
  req(
    method: string,
    url: string,
    opts?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  /** The Authorization header value of the admin token (for raw app.inject calls). */
  authorization: string;
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-server-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  // What the controller manager creates at start (server code may not import controllers).
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const auth = new Authenticator();
  const { token } = loadOrCreateAdminToken(dir);
  auth.add(token, 'admin');
  const app = buildServer({ objects, auth });
  await app.ready();
  return {
    app,
    objects,
    authorization: `Bearer ${token}`,
    req: (method, url, opts = {}) =>
      app.inject({
        method: method as 'GET',
        url,
        headers: {
          authorization: `Bearer ${token}`,
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        payload: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      }),
    close: async () => {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
