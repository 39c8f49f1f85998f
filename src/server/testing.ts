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
import { loadOrCreateSigningKey } from '../auth/serviceaccount/signing-key.ts';
import { ServiceAccountTokens } from '../auth/serviceaccount/tokens.ts';
import { serviceAccountTokenRoutes } from './routes/serviceaccount-token.ts';
import { ADMIN_GROUP } from '../auth/identities.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { type Authorization, startAuthorization } from './authorization.ts';

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
  /** The authenticator, to add users (`auth.add(token, name, groups)`). */
  auth: Authenticator;
  /** RBAC and the authorizer chain, as `strata server` runs them (undefined with authorization: false). */
  authz?: Authorization;
  close(): Promise<void>;
}

export async function startTestServer(opts: { authorization?: boolean } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-server-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  // What the controller manager creates at start (server code may not import controllers).
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const auth = new Authenticator();
  const { token } = loadOrCreateAdminToken(dir);
  auth.add(token, 'admin', [ADMIN_GROUP]);
  const informers = new SharedInformers(objects);
  informers.start();
  const authz = opts.authorization === false ? undefined : await startAuthorization({ objects, informers });
  // Service-account tokens: TokenRequest and the verifier, as the control plane has them.
  const saTokens = new ServiceAccountTokens({ key: await loadOrCreateSigningKey(dir), objects });
  auth.addVerifier(saTokens);
  const app = buildServer({
    objects,
    auth,
    extensions: [...(authz ? [authz.extension] : []), serviceAccountTokenRoutes(objects, saTokens)],
  });
  await app.ready();
  return {
    app,
    objects,
    authorization: `Bearer ${token}`,
    auth,
    authz,
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
      informers.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
