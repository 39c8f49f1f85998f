// A backend: one place a Service port's requests can be sent. The gateway only ever talks to this
// interface, so a backend need not be a socket: today an HTTP server at a pod address (HttpBackend); later
// a wasm HTTP handler run inside the node (a "local handler", issues 11/12) implements the same `send`,
// and the routing, load balancing, retries, breakers and ejection apply to it unchanged.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import net from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';

export interface BackendRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** Hop-by-hop headers already removed; `host` is the client's. */
  headers: OutgoingHttpHeaders;
  /** The body: buffered (replayable, so retriable) or a stream (sent once), or none. */
  body?: Buffer | Readable;
  /** Give up (the client left, or the per-try timeout fired): the attempt fails with `aborted`. */
  signal?: AbortSignal;
}

export interface BackendResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /**
   * The whole body, when the backend had it in memory before answering (a handler in this process):
   * the proxy then writes headers and body in one go, and only drains `body` (whose end still marks
   * the attempt done).
   */
  whole?: Buffer;
}

/**
 * Why an attempt failed. `reached` is false when the request provably never got to the backend (the
 * connection was refused or never established): such a request may be retried whatever its method.
 */
export class BackendError extends Error {
  readonly reached: boolean;
  readonly code: string;
  constructor(message: string, code: string, reached: boolean) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
    this.reached = reached;
  }
}

export interface Backend {
  /** Stable identity, e.g. `10.88.0.5:8080` (or `local:<handler>`). */
  readonly id: string;
  send(req: BackendRequest): Promise<BackendResponse>;
  /**
   * A raw byte stream to the backend, for protocol upgrades (WebSocket: the gateway writes the request
   * head itself) and LoadBalancer ports proxied at L4. Optional: without it, upgrades are answered 501.
   * Rejects with a BackendError whose `reached` is false when the connection was not established.
   */
  connect?(): Promise<Duplex>;
  /** Connections open now (idle or busy), for metrics. */
  connections(): number;
  /** Close idle connections and stop pooling (in-flight requests finish). */
  close(): void;
}

export interface HttpBackendOptions {
  /** Connections at most (the breaker's maxConnections); more requests wait in the pool. */
  maxConnections?: number;
  /** Connect timeout. Default 5 s. */
  connectTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this (or the server's shorter `Keep-Alive: timeout`). Default 30 s. */
  idleTimeoutMs?: number;
}

/** Errors that say the connection was never established: the request did not reach the backend. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Request headers undici refuses or that this hop answered already (Expect: the client got its 100 Continue). */
const NOT_FORWARDED = new Set(['expect']);

/**
 * An HTTP/1.1 server at ip:port, through undici's keep-alive `Pool` (`dispatch` with a handler: measured
 * ~25 % less CPU per proxied request than node:http's `request` + Agent, bench/gateway.ts).
 */
export class HttpBackend implements Backend {
  readonly id: string;
  private readonly pool: Pool;
  private readonly connectTimeoutMs: number;

  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, o: HttpBackendOptions = {}) {
    this.host = host;
    this.port = port;
    this.id = `${host}:${port}`;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 5_000;
    const idle = o.idleTimeoutMs ?? 30_000;
    this.pool = new Pool(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      connections: Number.isFinite(o.maxConnections) ? o.maxConnections : null,
      connectTimeout: this.connectTimeoutMs,
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: idle,
      pipelining: 1,
    });
  }

  connections(): number {
    return this.pool.stats.connected;
  }

  close(): void {
    // Requests in flight finish; then every connection is closed.
    this.pool.close().catch(() => {});
  }

  send(r: BackendRequest): Promise<BackendResponse> {
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(this.id, r.signal, resolve, reject);
      let headers = r.headers;
      for (const k of NOT_FORWARDED)
        if (headers[k] !== undefined) {
          headers = { ...headers };
          delete headers[k];
        }
      this.pool.dispatch(
        {
          method: r.method as Dispatcher.HttpMethod,
          path: r.path,
          headers: headers as Record<string, string | string[]>,
          body: r.body ?? null,
        },
        exchange,
      );
    });
  }

  connect(): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(
        () => socket.destroy(new BackendError(`connect to ${this.id} timed out`, 'ETIMEDOUT', false)),
        this.connectTimeoutMs,
      );
      socket.once('error', (err: Error & { code?: string }) => {
        clearTimeout(timer);
        reject(new BackendError(err.message, err.code ?? 'EUNKNOWN', false));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
  }
}

/** A response body fed by undici: backpressure through the controller, destroyed = request aborted. */
class ResponseBody extends Readable {
  private readonly controller: Dispatcher.DispatchController;
  constructor(controller: Dispatcher.DispatchController) {
    super();
    this.controller = controller;
  }
  override _read(): void {
    this.controller.resume();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Destroyed before its end (the client left): stop reading from the backend; the connection is dropped.
    if (!this.readableEnded)
      this.controller.abort(err ?? new BackendError('response abandoned', 'aborted', true));
    cb(err);
  }
}

/** One request's handler (undici's dispatch handler API): settles `send`'s promise, then feeds the body. */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly id: string;
  private readonly signal?: AbortSignal;
  private readonly resolve: (r: BackendResponse) => void;
  private readonly reject: (e: Error) => void;
  private controller?: Dispatcher.DispatchController;
  private body?: ResponseBody;
  /** The request was handed to a connected socket: it reached the backend. */
  private started = false;
  private settled = false;
  private readonly onAbort = () => this.abort();

  constructor(
    id: string,
    signal: AbortSignal | undefined,
    resolve: (r: BackendResponse) => void,
    reject: (e: Error) => void,
  ) {
    this.id = id;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private abort(): void {
    const err = new BackendError(`request to ${this.id} aborted`, 'aborted', this.started);
    this.controller?.abort(err);
    // Not on a connection yet: give up now; onRequestStart aborts it if it gets one later.
    this.fail(err);
  }

  private fail(err: BackendError): void {
    if (this.settled) return;
    this.settled = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.reject(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.started = true;
    if (this.signal?.aborted || this.settled) controller.abort(new BackendError('aborted', 'aborted', false));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (this.settled) return;
    this.settled = true;
    this.body = new ResponseBody(controller);
    this.resolve({ status, headers, body: this.body });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.body && !this.body.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.body?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    const code = err instanceof BackendError ? err.code : (err.code ?? 'EUNKNOWN');
    if (this.body) {
      this.signal?.removeEventListener('abort', this.onAbort);
      if (!this.body.destroyed) this.body.destroy(new BackendError(err.message, code, true));
      return;
    }
    const reached = this.started || !NOT_CONNECTED.has(code);
    this.fail(
      err instanceof BackendError
        ? err
        : new BackendError(
            code === 'UND_ERR_CONNECT_TIMEOUT' ? `connect to ${this.id} timed out` : err.message,
            code === 'UND_ERR_CONNECT_TIMEOUT' ? 'ETIMEDOUT' : code,
            reached,
          ),
    );
  }
}
