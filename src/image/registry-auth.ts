// Registry authentication, as docker and containerd do it: send the request; on 401 read
// WWW-Authenticate; for Basic, retry with the credentials; for Bearer, fetch a token from the realm
// (GET realm?service=…&scope=…, with the credentials as Basic auth when we have them, anonymously
// otherwise) and retry with it. Tokens are cached per host and scope until they expire.
import { ImageError } from './errors.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 7235): one or more `scheme k=v, k="v"` challenges separated by
 * commas, where a bare token after a comma starts the next challenge.
 */
export function parseWWWAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = (): void => {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipWs();
      const save = i;
      const key = token();
      while (i < s.length && s[i] === ' ') i++;
      if (!key || s[i] !== '=') {
        i = save; // a new challenge's scheme, or the end
        break;
      }
      i++;
      while (i < s.length && s[i] === ' ') i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        // RFC 7235 wants a token here; be lenient (some servers send unquoted URLs) and stop at , or space.
        const start = i;
        while (i < s.length && !/[\s,]/.test(s[i])) i++;
        value = s.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
    }
  }
  return out;
}

interface CachedToken {
  header: string;
  expires: number;
}

export type CredentialLookup = (registry: string) => Credentials | undefined;

export class RegistryAuth {
  private readonly lookup: CredentialLookup;
  private readonly fetchImpl: typeof fetch;
  private readonly tokens = new Map<string, CachedToken>();
  /** Token fetches in flight: concurrent 401s for one scope share one request to the token service. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Hosts that asked for Basic: send credentials up front from then on. */
  private readonly basicHosts = new Set<string>();

  constructor(lookup: CredentialLookup, fetchImpl: typeof fetch) {
    this.lookup = lookup;
    this.fetchImpl = fetchImpl;
  }

  private basic(registry: string): string | undefined {
    const c = this.lookup(registry);
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  /** The Authorization header to send for this registry and scope, if one is known. */
  header(registry: string, scope: string): string | undefined {
    const t = this.tokens.get(`${registry}|${scope}`);
    if (t && t.expires > Date.now()) return t.header;
    if (this.basicHosts.has(registry)) return this.basic(registry);
    return undefined;
  }

  /**
   * Handles a 401 to a request sent with Authorization `sent`: learns how to authenticate and returns
   * true when a retry can succeed. Throws
   * Unauthorized when there is no way (no credentials for Basic, token endpoint refuses).
   */
  async challenge(registry: string, scope: string, res: Response, sent?: string): Promise<boolean> {
    const challenges = parseWWWAuthenticate(res.headers.get('www-authenticate') ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm) {
      const key = `${registry}|${scope}`;
      // Another request fetched a token while this one was in flight without it: just retry with it.
      const cached = this.tokens.get(key);
      if (cached && cached.expires > Date.now() && cached.header !== sent) return true;
      let p = this.pending.get(key);
      if (!p) {
        p = this.fetchToken(registry, scope, bearer.params).finally(() => this.pending.delete(key));
        this.pending.set(key, p);
      }
      await p;
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!this.basic(registry))
        throw new ImageError(
          'Unauthorized',
          `registry ${registry} requires a username and password (--creds)`,
        );
      // Judge by what this request carried: concurrent first requests all meet the challenge.
      if (sent?.startsWith('Basic '))
        throw new ImageError('Unauthorized', `registry ${registry} rejected the username and password`);
      this.basicHosts.add(registry);
      return true;
    }
    throw new ImageError(
      'Unauthorized',
      `registry ${registry} answered 401 without a usable WWW-Authenticate challenge`,
    );
  }

  private async fetchToken(registry: string, scope: string, params: Record<string, string>): Promise<void> {
    let url: URL;
    try {
      url = new URL(params.realm);
    } catch {
      throw new ImageError(
        'Unauthorized',
        `registry ${registry} named an invalid token realm ${JSON.stringify(params.realm)}`,
      );
    }
    if (params.service) url.searchParams.set('service', params.service);
    for (const s of new Set([scope, ...(params.scope ? params.scope.split(' ') : [])]))
      url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    const basic = this.basic(registry);
    if (basic) headers.authorization = basic;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { headers });
    } catch (err) {
      throw new ImageError('Registry', `cannot reach the token service ${url.origin}: ${causeOf(err)}`, {
        cause: err,
      });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ImageError(
        'Unauthorized',
        `token service ${url.origin} refused ${basic ? 'the credentials' : 'anonymous access'} (HTTP ${res.status})`,
      );
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new ImageError('Unauthorized', `token service ${url.origin} returned no token`);
    // Renew a little early; the spec's default lifetime is 60 s.
    const lifetime = Math.max(10, (body.expires_in ?? 60) - 5) * 1000;
    this.tokens.set(`${registry}|${scope}`, { header: `Bearer ${token}`, expires: Date.now() + lifetime });
  }
}

/** The innermost cause of a fetch failure (ECONNREFUSED, ENOTFOUND, …) for a readable message. */
export function causeOf(err: unknown): string {
  let e = err as { cause?: unknown; code?: string; message?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.code ?? e?.message ?? String(err);
}
