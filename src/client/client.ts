// The HTTP client of the Strata API. The CLI and the node agent reach the control plane only through it.
import { type KindInfo } from '../api/index.ts';
import { openUpgrade, UpgradeRefusedError } from './exec-stream.ts';
import type { Duplex } from 'node:stream';
import { Transport, type TlsConfig } from './transport.ts';

/** An error answer of the API, with its Status object. */
export class ClientError extends Error {
  readonly code: number;
  readonly status: any;
  constructor(code: number, status: any) {
    super(status?.message ?? `HTTP ${code}`);
    this.name = 'ClientError';
    this.code = code;
    this.status = status;
  }
}

export interface ClientOptions {
  server: string;
  /** A bearer token; optional when a client certificate (tls.cert/key) identifies the caller. */
  token?: string;
  tls?: TlsConfig;
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

export function resourcePath(
  kind: KindInfo,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  let p = base;
  if (kind.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${kind.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** The namespace a write goes to: explicit, else the object's, else "default" (for namespaced kinds). */
function namespaceOf(kind: KindInfo, obj: any, explicit?: string): string | undefined {
  if (!kind.namespaced) return undefined;
  return explicit ?? obj.metadata?.namespace ?? 'default';
}

export class Client {
  readonly server: string;
  private readonly token: string | undefined;
  readonly transport: Transport;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.transport = new Transport(new URL(this.server), opts.tls);
  }

  /** Headers that authenticate a request made outside request() (upgrades, WebSockets). */
  authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** Closes idle keep-alive connections (lets a short-lived process exit at once). */
  close(): void {
    this.transport.close();
  }

  async request(
    method: string,
    path: string,
    opts: {
      body?: unknown;
      contentType?: string;
      query?: Record<string, string | undefined>;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...this.authHeaders(), accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.transport.request(url, { method, headers, body, signal: opts.signal });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as any).code ?? (err as Error).message;
      throw new Error(`cannot reach the Strata server at ${this.server}: ${cause}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let status: any;
      try {
        status = JSON.parse(text);
      } catch {
        status = { kind: 'Status', status: 'Failure', code: res.status, message: text || res.statusText };
      }
      throw new ClientError(res.status, status);
    }
    return res;
  }

  /** Opens a `strata-exec.v1` upgraded connection (interactive exec); errors as ClientError. */
  async upgrade(path: string, query: URLSearchParams): Promise<{ socket: Duplex; head: Buffer }> {
    const url = new URL(`${this.server}${path}?${query}`);
    try {
      return await openUpgrade(url, this.authHeaders(), 'POST', this.transport.tlsOptions());
    } catch (err) {
      if (err instanceof UpgradeRefusedError) {
        let status: any;
        try {
          status = JSON.parse(err.body);
        } catch {
          status = { kind: 'Status', status: 'Failure', code: err.statusCode, message: err.message };
        }
        throw new ClientError(err.statusCode, status);
      }
      const code = (err as any).code;
      if (typeof code === 'string')
        throw new Error(`cannot reach the Strata server at ${this.server}: ${code}`);
      throw err;
    }
  }

  async json<T = any>(method: string, path: string, opts: Parameters<Client['request']>[2] = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    return (await res.json()) as T;
  }

  get(kind: KindInfo, namespace: string | undefined, name: string): Promise<any> {
    return this.json('GET', resourcePath(kind, namespace, name));
  }

  /** Like get, but undefined for 404. */
  async find(kind: KindInfo, namespace: string | undefined, name: string): Promise<any | undefined> {
    try {
      return await this.get(kind, namespace, name);
    } catch (err) {
      if (err instanceof ClientError && err.code === 404) return undefined;
      throw err;
    }
  }

  list(
    kind: KindInfo,
    namespace?: string,
    q: ListQuery = {},
  ): Promise<{ items: any[]; metadata: { resourceVersion: string } }> {
    return this.json('GET', resourcePath(kind, namespace), { query: { ...q } });
  }

  create(kind: KindInfo, obj: any, namespace?: string): Promise<any> {
    return this.json('POST', resourcePath(kind, namespaceOf(kind, obj, namespace)), { body: obj });
  }

  replace(kind: KindInfo, obj: any, namespace?: string): Promise<any> {
    return this.json('PUT', resourcePath(kind, namespaceOf(kind, obj, namespace), obj.metadata.name), {
      body: obj,
    });
  }

  replaceStatus(kind: KindInfo, obj: any): Promise<any> {
    return this.json('PUT', resourcePath(kind, obj.metadata?.namespace, obj.metadata.name, 'status'), {
      body: obj,
    });
  }

  /** JSON merge patch (RFC 7386). */
  patch(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: 'status',
  ): Promise<any> {
    return this.json('PATCH', resourcePath(kind, namespace, name, subresource), {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`, JSON being YAML): the object is created when
   * missing, and the fields `fieldManager` set before but no longer lists are removed. `force` takes
   * fields other managers own (as `kubectl apply --server-side --force-conflicts`).
   */
  serverSideApply(
    kind: KindInfo,
    obj: any,
    namespace: string | undefined,
    opts: { fieldManager: string; force?: boolean },
  ): Promise<any> {
    return this.json('PATCH', resourcePath(kind, namespaceOf(kind, obj, namespace), obj.metadata.name), {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: opts.fieldManager, force: opts.force ? 'true' : undefined },
    });
  }

  /**
   * Read-modify-write of the main resource with compare-and-swap on metadata.resourceVersion: `fn` gets
   * the current object and returns the new one (or undefined to leave it); a 409 conflict retries with
   * the fresh object. Resolves with the object as stored, or undefined when `fn` skipped or it is gone.
   */
  async mutate(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    fn: (obj: any) => any | undefined,
    attempts = 10,
  ): Promise<any | undefined> {
    for (let i = 0; ; i++) {
      const current = await this.find(kind, namespace, name);
      if (!current) return undefined;
      const next = fn(structuredClone(current));
      if (next === undefined) return undefined;
      next.metadata = { ...next.metadata, resourceVersion: current.metadata.resourceVersion };
      try {
        return await this.replace(kind, next, namespace);
      } catch (err) {
        if (err instanceof ClientError && err.code === 409 && i + 1 < attempts) continue;
        if (err instanceof ClientError && err.code === 404) return undefined;
        throw err;
      }
    }
  }

  delete(
    kind: KindInfo,
    namespace: string | undefined,
    name: string,
    opts: { gracePeriodSeconds?: number } = {},
  ): Promise<any> {
    return this.json('DELETE', resourcePath(kind, namespace, name), {
      query: { gracePeriodSeconds: opts.gracePeriodSeconds?.toString() },
    });
  }

  /**
   * Watch a collection. Events arrive in order; onClose fires once when the stream ends (with an error
   * if it failed). An ERROR event (e.g. 410 Expired) is delivered to onEvent before the close.
   */
  async watch(
    kind: KindInfo,
    namespace: string | undefined,
    q: ListQuery & { resourceVersion?: string; allowWatchBookmarks?: boolean; timeoutSeconds?: number },
    onEvent: (ev: WatchEvent) => void,
    onClose?: (err?: Error) => void,
  ): Promise<{ cancel(): void }> {
    const abort = new AbortController();
    const res = await this.request('GET', resourcePath(kind, namespace), {
      query: {
        watch: 'true',
        labelSelector: q.labelSelector,
        fieldSelector: q.fieldSelector,
        resourceVersion: q.resourceVersion,
        allowWatchBookmarks: q.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: q.timeoutSeconds?.toString(),
      },
      signal: abort.signal,
    });
    let cancelled = false;
    (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as any as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() && !cancelled) onEvent(JSON.parse(line) as WatchEvent);
          }
        }
        if (!cancelled) onClose?.();
      } catch (err) {
        if (!cancelled) onClose?.(err as Error);
      }
    })();
    return {
      cancel() {
        cancelled = true;
        abort.abort();
      },
    };
  }
}
