// The dashboard's sessions: a token pasted at /ui/login becomes an HttpOnly, Secure, SameSite=Strict cookie
// naming a server-side session that holds the token. Every request the cookie authenticates re-verifies
// that token through the same Authenticator as the bearer path (a deleted service account or an expired
// token ends the session too), so the cookie maps to exactly the user the token names and RBAC applies.
//
// The cookie is accepted only where the bearer path would accept a token (TLS, or plain HTTP from
// loopback), only from the dashboard's own pages (Sec-Fetch-Site: same-origin; an upgrade's Origin must
// be this server), and a state-changing request must also carry the session's CSRF token in
// X-CSRF-Token (bound to the session, not only double-submitted). Sessions live in this process: a
// restart logs the dashboard out.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthResult, Authenticator, User } from './auth.ts';
import { UNAUTHENTICATED_GROUP } from '../auth/rbac/bootstrap-policy.ts';

/** `__Host-`: the browser keeps it only if Secure, Path=/ and no Domain — no subdomain can plant one. */
export const SESSION_COOKIE = '__Host-strata-session';
export const CSRF_HEADER = 'x-csrf-token';
/** A session's absolute lifetime (a day's work); the cookie's Max-Age matches. */
export const SESSION_TTL_SECONDS = 8 * 3600;
/** Bound on live sessions: logins need a valid token, but a token holder must not grow memory forever. */
const MAX_SESSIONS = 10_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const ANONYMOUS: User = {
  username: 'system:anonymous',
  groups: [UNAUTHENTICATED_GROUP],
  via: 'token',
};

interface Session {
  token: string;
  csrf: string;
  expiresAt: number;
}

/** Paths anyone may reach without credentials: the pages (to show the login form) and login/logout. */
export function isPublicUiRequest(method: string | undefined, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') return path === '/ui' || path.startsWith('/ui/');
  return method === 'POST' && (path === '/ui/login' || path === '/ui/logout');
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Why a cookie-bearing request does not come from the dashboard's own pages, or undefined when it does. */
export function crossSiteReason(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const upgrade = req.headers.upgrade !== undefined;
  if (site !== undefined && site !== 'same-origin') {
    return `the session cookie is accepted only from the dashboard's own pages (Sec-Fetch-Site: ${site})`;
  }
  // Browsers always send Origin on a WebSocket handshake and on cross-origin writes; it must be us.
  if (origin !== undefined) {
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    if (origin !== `${scheme}://${req.headers.host}`) {
      return `the session cookie is accepted only from the dashboard's own pages (Origin: ${origin})`;
    }
  } else if (upgrade) {
    return 'a WebSocket authenticated by the session cookie must send Origin';
  }
  if (site === undefined && origin === undefined) {
    return 'the session cookie is accepted only from a browser on the dashboard (no Sec-Fetch-Site)';
  }
  return undefined;
}

export class UiSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly auth: Authenticator;
  private readonly now: () => number;

  constructor(auth: Authenticator, opts: { now?: () => number } = {}) {
    this.auth = auth;
    this.now = opts.now ?? Date.now;
    auth.addCredentialSource((req) => this.authenticate(req));
  }

  /** Verifies `token` as the bearer path would and opens a session for it. */
  async login(token: string): Promise<{ id: string; csrf: string; user: User } | undefined> {
    const user = await this.auth.authenticateToken(token);
    if (!user) return undefined;
    this.sweep();
    if (this.sessions.size >= MAX_SESSIONS) {
      // The oldest session makes room (Map iteration is insertion order).
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.sessions.set(id, { token, csrf, expiresAt: this.now() + SESSION_TTL_SECONDS * 1000 });
    return { id, csrf, user };
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  /** The live session a request's cookie names. */
  sessionOf(req: IncomingMessage): (Session & { id: string }) | undefined {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return { ...s, id };
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }

  /** The credential source: only requests without a certificate or Authorization header get here. */
  private authenticate(req: IncomingMessage): Promise<AuthResult> | AuthResult | undefined {
    const path = (req.url ?? '/').split('?')[0];
    const publicUi = isPublicUiRequest(req.method, path);
    const hasCookie = parseCookies(req.headers.cookie).has(SESSION_COOKIE);
    // Logging in does not depend on who calls (the route checks the request comes from the dashboard).
    if (!hasCookie || (req.method === 'POST' && path === '/ui/login'))
      return publicUi ? { ok: true, user: ANONYMOUS } : undefined;
    const refuse = (message: string): AuthResult | undefined =>
      publicUi ? { ok: true, user: ANONYMOUS } : { ok: false, message };
    // Never weaker than the bearer path: the token a cookie stands for travels only where a token may.
    if (!(req.socket as TLSSocket).encrypted && !isLoopback(req.socket.remoteAddress)) {
      return refuse('the session cookie is accepted over plain HTTP only from loopback; use HTTPS');
    }
    const session = this.sessionOf(req);
    if (!session) return refuse('the dashboard session has expired or was logged out; log in again');
    const crossSite = crossSiteReason(req);
    if (crossSite) return refuse(crossSite);
    if (!SAFE_METHODS.has(req.method ?? 'GET')) {
      const presented = req.headers[CSRF_HEADER];
      if (typeof presented !== 'string' || !sameString(presented, session.csrf)) {
        return {
          ok: false,
          message: `a request authenticated by the session cookie must send ${CSRF_HEADER}`,
        };
      }
    }
    const toResult = (user: User | undefined): AuthResult =>
      user
        ? { ok: true, user }
        : { ok: false, message: 'the token of this dashboard session is no longer valid; log in again' };
    const user = this.auth.authenticateToken(session.token);
    return user instanceof Promise ? user.then(toResult) : toResult(user);
  }
}
