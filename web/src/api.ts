// The dashboard's only way to the cluster: the public Kubernetes-dialect API, same origin, authenticated by
// the HttpOnly session cookie (the browser sends it; scripts never see it). Writes carry the session's
// CSRF token, which the server checks (src/server/ui-session.ts).
import { useEffect, useRef, useState } from 'react';

/** A metav1.Status cause: the field a 422 names. */
export interface Cause {
  field?: string;
  message?: string;
  reason?: string;
}

export interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: Cause[] };
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any Kubernetes object, typed loosely: the dashboard reads a few known fields. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [k: string]: any;
}

export class ApiError extends Error {
  readonly code: number;
  readonly status?: Status;
  constructor(code: number, status: Status | undefined, fallback: string) {
    super(status?.message ?? fallback);
    this.code = code;
    this.status = status;
  }
}

let csrfToken = '';
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the server says the session is gone (401), so the app can show the login page. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Default application/json; a string body is sent as is. */
  contentType?: string;
  signal?: AbortSignal;
}

async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  if (!res.ok) {
    let status: Status | undefined;
    try {
      status = (await res.json()) as Status;
    } catch {
      status = undefined;
    }
    if (res.status === 401 && !path.startsWith('/ui/')) onUnauthorized();
    throw new ApiError(res.status, status, `${method} ${path}: HTTP ${res.status}`);
  }
  return res;
}

export async function api<T = any>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Lines of a streaming response (a watch, a followed log) as they arrive, until `signal` aborts. */
export async function streamLines(
  path: string,
  signal: AbortSignal,
  onLine: (line: string) => void,
): Promise<void> {
  const res = await send(path, { signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered) onLine(buffered);
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export interface ListState<T> {
  items: T[];
  loaded: boolean;
  error?: string;
}

/**
 * A live list: LIST once, then WATCH from its resourceVersion (the informer pattern, no polling). Events
 * arriving together are applied in one render. On a broken watch (or 410 Gone) it lists again.
 */
export function useLiveList<T extends KubeObject = KubeObject>(path: string | undefined): ListState<T> {
  const [state, setState] = useState<ListState<T>>({ items: [], loaded: false });
  const objects = useRef(new Map<string, T>());
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    const byKey = objects.current;
    byKey.clear();
    let scheduled = false;
    const publish = () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (!abort.signal.aborted) setState({ items: [...byKey.values()], loaded: true });
      });
    };
    const sep = path.includes('?') ? '&' : '?';
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          const list = await api<{ items: T[]; metadata: { resourceVersion: string } }>(path, {
            signal: abort.signal,
          });
          byKey.clear();
          for (const o of list.items) byKey.set(keyOf(o), o);
          setState({ items: [...byKey.values()], loaded: true });
          await streamLines(
            `${path}${sep}watch=1&resourceVersion=${encodeURIComponent(list.metadata.resourceVersion)}`,
            abort.signal,
            (line) => {
              if (!line.trim()) return;
              const ev = JSON.parse(line) as { type: string; object: T };
              if (ev.type === 'ERROR') throw new Error((ev.object as Status).message ?? 'watch error');
              if (ev.type === 'BOOKMARK') return;
              if (ev.type === 'DELETED') byKey.delete(keyOf(ev.object));
              else byKey.set(keyOf(ev.object), ev.object);
              publish();
            },
          );
        } catch (err) {
          if (abort.signal.aborted) return;
          const message = (err as Error).message;
          setState((s) => ({ ...s, error: message }));
          if (err instanceof ApiError && (err.code === 401 || err.code === 403)) return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void run();
    return () => abort.abort();
  }, [path]);
  return state;
}

/** A one-shot GET (alerts, reports, history), refreshed every `everyMs` when given. */
export function useFetch<T>(
  path: string | undefined,
  everyMs?: number,
): { data?: T; error?: ApiError | Error; loading: boolean } {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error; loading: boolean }>({
    loading: true,
  });
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    const load = () =>
      api<T>(path, { signal: abort.signal }).then(
        (data) => !abort.signal.aborted && setState({ data, loading: false }),
        (error: Error) => !abort.signal.aborted && setState({ error, loading: false }),
      );
    void load();
    const timer = everyMs ? setInterval(load, everyMs) : undefined;
    return () => {
      abort.abort();
      if (timer) clearInterval(timer);
    };
  }, [path, everyMs]);
  return state;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}
const discovery = new Map<string, Promise<ApiResource[]>>();

/** The REST path of an object (or of its collection, with no name), from API discovery. */
export async function resourcePath(apiVersion: string, kind: string, namespace?: string, name?: string) {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let resources = discovery.get(base);
  if (!resources) {
    resources = api<{ resources: ApiResource[] }>(base).then((l) =>
      l.resources.filter((r) => !r.name.includes('/')),
    );
    discovery.set(base, resources);
    resources.catch(() => discovery.delete(base));
  }
  const r = (await resources).find((x) => x.kind === kind);
  if (!r) throw new Error(`the server does not serve kind ${kind} in ${apiVersion}`);
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(namespace || 'default')}` : '';
  return `${base}${ns}/${r.name}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
