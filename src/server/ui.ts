// The web dashboard at /ui: the built assets (build/ui, `npx vite build -c web/vite.config.ts`, run by
// scripts/setup.sh), and the session endpoints that turn a pasted token into the session cookie
// (src/server/ui-session.ts). The dashboard's data comes only through the public API, with that cookie.
//
//   GET  /ui/*          the single-page app (hash routes); hashed assets are immutable, index.html no-cache
//   POST /ui/login      {"token": "..."} → Set-Cookie session, {username, groups, csrfToken}
//   GET  /ui/session    who the cookie names, and the CSRF token (same-origin reads only)
//   POST /ui/logout     ends the session (X-CSRF-Token required, as for every cookie write)
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { statusFailure, unauthorized } from '../api/index.ts';
import type { Authenticator } from './auth.ts';
import type { ServerExtension } from './app.ts';
import {
  ANONYMOUS,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  UiSessions,
  crossSiteReason,
  parseCookies,
} from './ui-session.ts';

/** Where `vite build` writes the dashboard (the repository's build/ui). */
export const DEFAULT_UI_ASSETS = fileURLToPath(new URL('../../build/ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

// The app loads only its own scripts and talks only to this server (fetch and the exec WebSocket); uPlot
// and xterm.js set inline styles. No framing: the dashboard cannot be clickjacked.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strata dashboard not built</title></head>
<body><main><h1>The Strata dashboard is not built</h1>
<p>This server found no <code>index.html</code> under its assets directory. Build it from the repository with</p>
<pre>npx vite build -c web/vite.config.ts</pre>
<p>(scripts/setup.sh does this), then reload. The API itself works without it.</p></main></body></html>
`;

export interface DashboardOptions {
  auth: Authenticator;
  /** The built assets (default: build/ui in the repository). */
  assetsDir?: string;
}

function sessionCookie(value: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAge}`;
}

/** The dashboard as a request-path extension; it also registers the session cookie with `auth`. */
export function dashboard(opts: DashboardOptions): ServerExtension & { sessions: UiSessions } {
  const sessions = new UiSessions(opts.auth);
  const root = resolve(opts.assetsDir ?? DEFAULT_UI_ASSETS);
  const extension = (app: FastifyInstance) => {
    app.get('/ui', async (_req, reply) => reply.redirect('/ui/', 302));
    app.post('/ui/login', async (req, reply) => {
      // Login CSRF: only the dashboard's own page may log a browser in.
      const crossSite = crossSiteReason(req.raw);
      if (crossSite) return reply.code(403).send(statusFailure(403, 'Forbidden', crossSite));
      const body = req.body as { token?: unknown } | undefined;
      const token = typeof body?.token === 'string' ? body.token.trim() : '';
      if (!token) {
        return reply.code(422).send({
          ...statusFailure(422, 'Invalid', 'token: Required value: paste a bearer token'),
          details: { causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'token' }] },
        });
      }
      const session = await sessions.login(token);
      if (!session) return reply.code(401).send(unauthorized('the token is not valid for this cluster'));
      reply.header('set-cookie', sessionCookie(session.id, SESSION_TTL_SECONDS));
      reply.header('cache-control', 'no-store');
      return { username: session.user.username, groups: session.user.groups, csrfToken: session.csrf };
    });
    app.get('/ui/session', async (req, reply) => {
      const session = sessions.sessionOf(req.raw);
      reply.header('cache-control', 'no-store');
      if (!session || !req.user || req.user === ANONYMOUS) {
        return reply.code(401).send(unauthorized('no dashboard session; log in with a token'));
      }
      return { username: req.user.username, groups: req.user.groups, csrfToken: session.csrf };
    });
    app.post('/ui/logout', async (req, reply) => {
      // Authentication already required the CSRF header of a live session, or let an anonymous call in.
      if (req.user !== ANONYMOUS) sessions.logout(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
      reply.header('set-cookie', sessionCookie('', 0));
      return { kind: 'Status', apiVersion: 'v1', status: 'Success' };
    });
    app.get('/ui/*', async (req, reply) => serveAsset(root, req, reply));
  };
  return Object.assign(extension, { sessions });
}

function serveAsset(root: string, req: FastifyRequest, reply: FastifyReply) {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  const index = resolve(root, 'index.html');
  if (!existsSync(index)) {
    return reply
      .code(503)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(MISSING_BUILD);
  }
  const rel = decodeURIComponent((req.params as { '*': string })['*'] ?? '');
  const file = resolve(root, rel);
  // Hash routes keep every page at /ui/; anything that is not a file under the root is the app itself.
  const inside = file.startsWith(root + sep);
  const isFile = inside && existsSync(file) && statSync(file).isFile();
  const path = isFile ? file : index;
  const hashed = isFile && rel.startsWith('assets/');
  reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
  reply.type(CONTENT_TYPES[extname(path)] ?? 'application/octet-stream');
  if (!isFile && rel.startsWith('assets/')) {
    // A stale page asking for an asset of an older build: a 404, not the app's HTML as JavaScript.
    return reply.code(404).type('text/plain; charset=utf-8').send(`no such asset: ${rel}`);
  }
  return reply.send(readFileSync(path));
}
