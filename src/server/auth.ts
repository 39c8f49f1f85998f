// Authentication: who is calling. Two credentials, as kube-apiserver accepts them:
//   - a TLS client certificate signed by the cluster CA (CN = user, O = groups), verified by node:tls;
//   - a bearer token (the admin token generated at first start into a 0600 file in the data directory, and
//     "token,username[,group1;group2]" lines in `tokens` beside it).
// A certificate that does not verify (another CA, expired) is a 401 even if a token is also sent, and a
// token over plain HTTP is accepted only from loopback (`--insecure-http` is for local development).
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AUTHENTICATED_GROUP, type UserInfo } from '../auth/identities.ts';

/** The authenticated caller (defined in auth/ so authorizers there can use it). */
export type User = UserInfo;

export type AuthResult = { ok: true; user: User } | { ok: false; message: string };

/**
 * A source of bearer-token identities beyond the static list (bootstrap tokens, service-account tokens):
 * the user the token names, or undefined when it is not one of its tokens or not valid. Synchronous where
 * it can be (a verifier reading caches); a Promise where it cannot (service-account JWTs: WebCrypto
 * signature checks are asynchronous), which makes that request's authentication asynchronous.
 */
export interface TokenVerifier {
  verify(token: string): User | undefined | Promise<User | undefined>;
}

/** A value now or later: authentication stays synchronous unless a verifier needs to wait. */
export type MaybePromise<T> = T | Promise<T>;

export const ADMIN_TOKEN_FILE = 'admin.token';

/** Returns the admin token, creating it (0600) on first start. */
export function loadOrCreateAdminToken(dataDir: string): { token: string; path: string } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  if (!existsSync(path)) {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16) throw new Error(`${path}: token is too short (at least 16 characters)`);
  return { token, path };
}

// Tokens are compared through their sha256 so comparison time leaks nothing about the token.
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** The user a verified client certificate names: CN is the user, each O a group. */
export function userFromCertificate(
  socket: TLSSocket,
  cert: ReturnType<TLSSocket['getPeerCertificate']> = socket.getPeerCertificate(),
): User | undefined {
  if (!cert || !cert.subject) return undefined;
  const cn = cert.subject.CN;
  const o = cert.subject.O;
  const username = Array.isArray(cn) ? cn[0] : cn;
  if (!username) return undefined;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { username, groups: [...groups, AUTHENTICATED_GROUP], via: 'x509' };
}

/**
 * What a connection's client certificate says, parsed once per connection rather than once per request
 * (getPeerCertificate builds a new object from the certificate on every call: ~3 % of the server's CPU
 * with thousands of pods reporting over keep-alive connections). Only TLS 1.3 connections are cached:
 * they cannot renegotiate, so their peer certificate cannot change; older ones are asked every time.
 */
const certificateResults = new WeakMap<TLSSocket, AuthResult | null>();

function certificateResult(socket: TLSSocket): AuthResult | undefined {
  const cached = certificateResults.get(socket);
  if (cached !== undefined) return cached ?? undefined;
  const result = readCertificate(socket);
  if (socket.getProtocol?.() === 'TLSv1.3') certificateResults.set(socket, result ?? null);
  return result;
}

/** The result for a presented certificate; undefined when none was presented (other credentials decide). */
function readCertificate(socket: TLSSocket): AuthResult | undefined {
  const presented = socket.getPeerCertificate?.();
  if (!presented || Object.keys(presented).length === 0) return undefined;
  if (!socket.authorized) {
    return {
      ok: false,
      message: `the client certificate is not valid for this cluster: ${String(socket.authorizationError)}`,
    };
  }
  const user = userFromCertificate(socket, presented);
  if (user) return { ok: true, user };
  return { ok: false, message: 'the client certificate has no common name' };
}

/**
 * Authenticates a request that carries neither a client certificate nor an Authorization header (the
 * dashboard's session cookie, src/server/ui-session.ts): a result, or undefined when it is not its kind.
 */
export type CredentialSource = (req: IncomingMessage) => MaybePromise<AuthResult> | undefined;

export class Authenticator {
  private readonly entries: Array<{ digest: Buffer; user: User }> = [];
  private readonly verifiers: TokenVerifier[] = [];
  private readonly sources: CredentialSource[] = [];

  /** Asks `s` about requests with no certificate and no Authorization header, after the sources added before it. */
  addCredentialSource(s: CredentialSource): void {
    this.sources.push(s);
  }

  /** Asks `v` about tokens the static list does not know, after the verifiers added before it. */
  addVerifier(v: TokenVerifier): void {
    this.verifiers.push(v);
  }

  add(token: string, username: string, groups: string[] = []): void {
    this.entries.push({
      digest: digest(token),
      user: { username, groups: [...groups, AUTHENTICATED_GROUP], via: 'token' },
    });
  }

  /** Loads extra "token,username[,group;group]" lines from a file if it exists. */
  loadFile(path: string): void {
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [token, username, groups] = line.trim().split(',');
      if (token && username) this.add(token, username, groups ? groups.split(';').filter(Boolean) : []);
    }
  }

  /** A bearer token from an Authorization header. */
  authenticate(header: string | undefined): MaybePromise<User | undefined> {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return undefined;
    return this.authenticateToken(m[1]);
  }

  authenticateToken(token: string): MaybePromise<User | undefined> {
    const d = digest(token);
    let found: User | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.user;
    if (found) return found;
    return this.askVerifiers(token, 0);
  }

  /** Verifiers from index `i` on, in order; synchronous until one answers with a Promise. */
  private askVerifiers(token: string, i: number): MaybePromise<User | undefined> {
    for (; i < this.verifiers.length; i++) {
      const user = this.verifiers[i].verify(token);
      if (user instanceof Promise) {
        const next = i + 1;
        return user.then((u) => u ?? this.askVerifiers(token, next));
      }
      if (user) return user;
    }
    return undefined;
  }

  /**
   * Authenticates a raw request (also upgrades, which Fastify's hooks do not see). Synchronous for
   * certificates, static tokens and synchronous verifiers; a Promise when a verifier needs one.
   */
  authenticateRequest(req: IncomingMessage): MaybePromise<AuthResult> {
    const socket = req.socket as TLSSocket;
    if (socket.encrypted) {
      const byCertificate = certificateResult(socket);
      if (byCertificate) return byCertificate;
    }
    const header = req.headers.authorization;
    if (!header) {
      for (const source of this.sources) {
        const result = source(req);
        if (result) return result;
      }
      return { ok: false, message: 'Unauthorized' };
    }
    if (!socket.encrypted && !isLoopback(socket.remoteAddress)) {
      return {
        ok: false,
        message: 'bearer tokens are accepted over plain HTTP only from loopback; use HTTPS',
      };
    }
    const toResult = (user: User | undefined): AuthResult =>
      user ? { ok: true, user } : { ok: false, message: 'Unauthorized' };
    const user = this.authenticate(header);
    return user instanceof Promise ? user.then(toResult) : toResult(user);
  }
}
