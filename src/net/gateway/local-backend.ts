// A backend that is a handler in this process: a wasm HTTP handler (WAGI or wasi:http) that the node
// serves on a pod IP of its own (src/sandbox/http-handlers.ts). When the gateway's endpoint is one of
// those addresses, a request needs no loopback HTTP exchange — no second request parse, response
// serialisation and the event-loop turns between them (about a millisecond of a wasm function's request,
// docs/benchmarks.md, _Functions_): the request is handed to the handler as a call, and its answer relayed
// as any backend's. Everything above the Backend interface (balancing, retries, breakers, ejection,
// the activator) is unchanged. The handler is looked up on every request, so a pod that stops (or an
// address reused by another pod) is seen at once; an endpoint with no local handler — or a WebSocket
// or L4 connection, which needs a byte stream — goes through the socket as before (`fallback`).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import {
  BackendError,
  HttpBackend,
  type Backend,
  type BackendRequest,
  type BackendResponse,
} from './backend.ts';
import { upstreamConfig } from './config.ts';
import type { BackendFactory } from './gateway.ts';

/** One request as a local handler takes it (the shape of src/sandbox/driver.ts's HttpHandlerRequest). */
export interface LocalHandlerRequest {
  method: string;
  url: string;
  /** Lower-case names; repeated headers joined with ", " (as Node's HTTP server joins them). */
  headers: Record<string, string>;
  body: Uint8Array;
  remoteAddress: string;
  localAddress: string;
  localPort: number;
}

export interface LocalHandlerResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

export interface LocalHandlerEntry {
  handle(req: LocalHandlerRequest): Promise<LocalHandlerResponse>;
  /** Larger request bodies are answered 413, as the handler's listener answers them. */
  maxBodyBytes: number;
}

/** The handler served at `ip:port` in this process, if any. */
export type LocalHandlerLookup = (ip: string, port: number) => LocalHandlerEntry | undefined;

/**
 * The gateway's backend factory for a node that serves handlers in this process: an endpoint that is a
 * local handler when its backend is made (it is ready, so it is listening) gets a LocalHandlerBackend;
 * any other gets the gateway's usual HttpBackend.
 */
export function localHandlerBackends(lookup: LocalHandlerLookup): BackendFactory {
  return (ep, svc) =>
    lookup(ep.ip, ep.port)
      ? new LocalHandlerBackend(
          ep.ip,
          ep.port,
          lookup,
          () =>
            new HttpBackend(ep.ip, ep.port, {
              maxConnections: upstreamConfig(svc.metadata.annotations ?? {}).breaker.maxConnections,
            }),
        )
      : undefined;
}

export class LocalHandlerBackend implements Backend {
  readonly id: string;
  private readonly ip: string;
  private readonly port: number;
  private readonly lookup: LocalHandlerLookup;
  private readonly makeFallback: () => Backend;
  private fallbackBackend?: Backend;

  constructor(ip: string, port: number, lookup: LocalHandlerLookup, fallback: () => Backend) {
    this.ip = ip;
    this.port = port;
    this.id = `${ip}:${port}`;
    this.lookup = lookup;
    this.makeFallback = fallback;
  }

  private get fallback(): Backend {
    return (this.fallbackBackend ??= this.makeFallback());
  }

  send(r: BackendRequest): Promise<BackendResponse> {
    const local = this.lookup(this.ip, this.port);
    if (!local) return this.fallback.send(r);
    return this.call(local, r);
  }

  connect(): Promise<Duplex> {
    const f = this.fallback;
    if (!f.connect)
      return Promise.reject(new BackendError('no byte stream to this backend', 'ENOTSUP', false));
    return f.connect();
  }

  connections(): number {
    return this.fallbackBackend?.connections() ?? 0;
  }

  close(): void {
    this.fallbackBackend?.close();
  }

  private async call(local: LocalHandlerEntry, r: BackendRequest): Promise<BackendResponse> {
    const { signal } = r;
    if (signal?.aborted) throw new BackendError(`request to ${this.id} aborted`, 'aborted', false);
    const body = await readBody(r.body, local.maxBodyBytes);
    if (body === undefined) return text(413, `request body larger than ${local.maxBodyBytes} bytes\n`);
    const req: LocalHandlerRequest = {
      method: r.method,
      url: r.path,
      headers: handlerHeaders(r.headers),
      body,
      // What the handler's listener would see: a connection from this node to a local address comes
      // from that address.
      remoteAddress: this.ip,
      localAddress: this.ip,
      localPort: this.port,
    };
    const answered = local.handle(req).then(response, (err: Error) =>
      // What the listener answers when the handler cannot run at all.
      text(502, `the handler could not run: ${err.message}\n`),
    );
    if (!signal) return answered;
    // The per-try timeout or the client leaving: the attempt ends now (the instance finishes on its own
    // deadline, as it would behind a socket the gateway closed).
    return new Promise<BackendResponse>((resolve, reject) => {
      const onAbort = () => reject(new BackendError(`request to ${this.id} aborted`, 'aborted', true));
      signal.addEventListener('abort', onAbort, { once: true });
      void answered.then((res) => {
        signal.removeEventListener('abort', onAbort);
        resolve(res);
      });
    });
  }
}

/** Outgoing headers as the handler's listener would have parsed them. */
function handlerHeaders(h: OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** The handler's answer as an HTTP response would have arrived (set-cookie kept apart, others joined). */
function response(out: LocalHandlerResponse): BackendResponse {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of out.headers) {
    const k = name.toLowerCase();
    const prev = headers[k];
    if (k === 'set-cookie') headers[k] = [...((prev as string[] | undefined) ?? []), value];
    else headers[k] = prev === undefined ? value : `${prev as string}, ${value}`;
  }
  headers['content-length'] = String(out.body.byteLength);
  return inMemory(out.status, headers, out.body);
}

function text(status: number, message: string): BackendResponse {
  const body = Buffer.from(message);
  return inMemory(
    status,
    { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) },
    body,
  );
}

/**
 * A response whose body is already in memory: `whole` for the proxy to write at once, and a stream
 * that has it all (one 'data' event and its end; Readable.from would walk an async iterator, a few
 * more turns) for anything that reads it as a stream.
 */
function inMemory(status: number, headers: IncomingHttpHeaders, bytes: Uint8Array): BackendResponse {
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body = new Readable({ read() {} });
  if (whole.length > 0) body.push(whole);
  body.push(null);
  return { status, headers, body, whole };
}

/** The whole body, or undefined when it is larger than `max` (the rest is read and dropped). */
async function readBody(body: BackendRequest['body'], max: number): Promise<Uint8Array | undefined> {
  if (body === undefined) return new Uint8Array(0);
  if (Buffer.isBuffer(body)) return body.length > max ? undefined : body;
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const c of body as Readable) {
    size += (c as Buffer).length;
    if (size > max) over = true;
    else chunks.push(c as Buffer);
  }
  return over ? undefined : Buffer.concat(chunks);
}
