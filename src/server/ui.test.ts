import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import type { Store } from '../store/store.ts';
import { ADMIN_GROUP } from '../auth/identities.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';
import { startAuthorization } from './authorization.ts';
import { dashboard } from './ui.ts';
import { SESSION_COOKIE } from './ui-session.ts';

// A real server (sqlite, RBAC on) with the dashboard extension, as control-plane.ts wires it.
const ADMIN = 'admin-token-0123456789abcdef';
const NOBODY = 'nobody-token-0123456789abcdef';
let dir: string;
let store: Store;
let informers: SharedInformers;
let app: FastifyInstance;
let assets: string;

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' };

async function login(token: string, headers: Record<string, string> = SAME_ORIGIN) {
  return app.inject({ method: 'POST', url: '/ui/login', headers, payload: { token } });
}

function cookieOf(res: { headers: Record<string, unknown> }): string {
  const set = String(res.headers['set-cookie']);
  return set.split(';')[0];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-ui-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  const auth = new Authenticator();
  auth.add(ADMIN, 'admin', [ADMIN_GROUP]);
  auth.add(NOBODY, 'nobody');
  informers = new SharedInformers(objects);
  informers.start();
  const authz = await startAuthorization({ objects, informers });
  assets = join(dir, 'ui');
  app = buildServer({ objects, auth, extensions: [authz.extension, dashboard({ auth, assetsDir: assets })] });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  informers.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard assets', () => {
  it('says clearly when the build is missing', async () => {
    const res = await app.inject({ method: 'GET', url: '/ui/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npx vite build -c web/vite.config.ts');
  });

  it('serves index.html no-cache and hashed assets immutable, to anyone, never files outside the build', async () => {
    mkdirSync(join(assets, 'assets'), { recursive: true });
    writeFileSync(join(assets, 'index.html'), '<!doctype html><title>Strata</title>');
    writeFileSync(join(assets, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    const index = await app.inject({ method: 'GET', url: '/ui/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const js = await app.inject({ method: 'GET', url: '/ui/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-type']).toContain('text/javascript');
    const stale = await app.inject({ method: 'GET', url: '/ui/assets/index-old.js' });
    expect(stale.statusCode).toBe(404);
    const escape = await app.inject({ method: 'GET', url: '/ui/..%2fsecret.txt' });
    expect(escape.body).not.toContain('secret');
    expect((await app.inject({ method: 'GET', url: '/ui' })).headers.location).toBe('/ui/');
  });

  it('keeps the API closed to anonymous callers', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/namespaces' });
    expect(res.statusCode).toBe(401);
  });
});

describe('dashboard sessions', () => {
  it('refuses a missing token (naming the field), a wrong token, and a login from another site', async () => {
    const missing = await login('');
    expect(missing.statusCode).toBe(422);
    expect(missing.json().details.causes[0].field).toBe('token');
    expect((await login('not-a-token')).statusCode).toBe(401);
    const cross = await login(ADMIN, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
    expect(cross.statusCode).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
  });

  it('maps the cookie to the token user, for same-origin requests only, with CSRF on writes', async () => {
    const res = await login(ADMIN);
    expect(res.statusCode).toBe(200);
    const set = String(res.headers['set-cookie']);
    expect(set).toContain(`${SESSION_COOKIE}=`);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) expect(set).toContain(attr);
    const { csrfToken, username } = res.json();
    expect(username).toBe('admin');
    const cookie = cookieOf(res);

    const session = await app.inject({
      method: 'GET',
      url: '/ui/session',
      headers: { cookie, ...SAME_ORIGIN },
    });
    expect(session.json()).toMatchObject({ username: 'admin', csrfToken });

    const read = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces',
      headers: { cookie, ...SAME_ORIGIN },
    });
    expect(read.statusCode).toBe(200);
    // Not from the dashboard's pages: no Sec-Fetch-Site at all, or another site.
    const bare = await app.inject({ method: 'GET', url: '/api/v1/namespaces', headers: { cookie } });
    expect(bare.statusCode).toBe(401);
    const cross = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces',
      headers: { cookie, 'sec-fetch-site': 'cross-site' },
    });
    expect(cross.statusCode).toBe(401);
    expect(cross.json().message).toContain('Sec-Fetch-Site: cross-site');
    const wrongOrigin = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces',
      headers: { cookie, ...SAME_ORIGIN, origin: 'https://evil.example' },
    });
    expect(wrongOrigin.statusCode).toBe(401);

    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-ui' }, data: { a: '1' } };
    const noCsrf = await app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { cookie, ...SAME_ORIGIN },
      payload: cm,
    });
    expect(noCsrf.statusCode).toBe(401);
    expect(noCsrf.json().message).toContain('x-csrf-token');
    const badCsrf = await app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { cookie, ...SAME_ORIGIN, 'x-csrf-token': 'guess' },
      payload: cm,
    });
    expect(badCsrf.statusCode).toBe(401);
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { cookie, ...SAME_ORIGIN, 'x-csrf-token': csrfToken },
      payload: cm,
    });
    expect(ok.statusCode).toBe(201);

    // Logout needs the CSRF token too; afterwards the cookie is worth nothing.
    const forcedLogout = await app.inject({
      method: 'POST',
      url: '/ui/logout',
      headers: { cookie, ...SAME_ORIGIN },
    });
    expect(forcedLogout.statusCode).toBe(401);
    const out = await app.inject({
      method: 'POST',
      url: '/ui/logout',
      headers: { cookie, ...SAME_ORIGIN, 'x-csrf-token': csrfToken },
    });
    expect(out.statusCode).toBe(200);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    const after = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces',
      headers: { cookie, ...SAME_ORIGIN },
    });
    expect(after.statusCode).toBe(401);
    expect(after.json().message).toContain('log in again');
  });

  it('applies RBAC to the cookie exactly as to the token', async () => {
    const res = await login(NOBODY);
    expect(res.statusCode).toBe(200);
    const cookie = cookieOf(res);
    const viaCookie = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/pods',
      headers: { cookie, ...SAME_ORIGIN },
    });
    const viaToken = await app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/pods',
      headers: { authorization: `Bearer ${NOBODY}` },
    });
    expect(viaToken.statusCode).toBe(403);
    expect(viaCookie.statusCode).toBe(403);
    expect(viaCookie.json().message).toBe(viaToken.json().message);
  });

  it('accepts a WebSocket upgrade by cookie only with this server as Origin', async () => {
    const res = await login(ADMIN);
    const cookie = cookieOf(res);
    const upgrade = (origin?: string) =>
      app.inject({
        method: 'GET',
        url: '/api/v1/namespaces',
        headers: { cookie, upgrade: 'websocket', host: 'strata.test', ...(origin ? { origin } : {}) },
      });
    expect((await upgrade()).statusCode).toBe(401);
    expect((await upgrade('https://evil.example')).statusCode).toBe(401);
    expect((await upgrade('http://strata.test')).statusCode).toBe(200);
  });
});
