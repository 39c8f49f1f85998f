// A backend: one place a Service port's requests can be sent. The gateway only ever talks to this
// interface, so a backend need not be a socket: today an HTTP server at a pod address (HttpBackend); later
// a wasm HTTP handler run inside the node (a "local handler", issues 11/12) implements the same `send`,
// and the routing, load balancing, retries, breakers and ejection apply to it unchanged.
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';

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
  /** Idle keep-alive connections are closed after this. Default 30 s. */
  idleTimeoutMs?: number;
}

/** An HTTP/1.1 server at ip:port, through a keep-alive connection pool. */
export class HttpBackend implements Backend {
  readonly id: string;
  private readonly agent: http.Agent;
  private readonly connectTimeoutMs: number;

  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, o: HttpBackendOptions = {}) {
    this.host = host;
    this.port = port;
    this.id = `${host}:${port}`;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 5_000;
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: o.maxConnections ?? Infinity,
      maxFreeSockets: 256,
      timeout: o.idleTimeoutMs ?? 30_000,
      scheduling: 'lifo',
    });
  }

  connections(): number {
    let n = 0;
    for (const list of Object.values(this.agent.sockets)) n += list?.length ?? 0;
    for (const list of Object.values(this.agent.freeSockets)) n += list?.length ?? 0;
    return n;
  }

  close(): void {
    // Idle sockets go now; busy ones are not pooled again once their response ends.
    for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.destroy();
    (this.agent as any).keepAlive = false;
  }

  send(r: BackendRequest): Promise<BackendResponse> {
    return new Promise((resolve, reject) => {
      let reached = false;
      let settled = false;
      let connectTimer: ReturnType<typeof setTimeout> | undefined;
      const fail = (err: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        if (connectTimer) clearTimeout(connectTimer);
        const code = err.code ?? (r.signal?.aborted ? 'aborted' : 'EUNKNOWN');
        reject(err instanceof BackendError ? err : new BackendError(err.message, code, reached));
      };
      const req = http.request({
        host: this.host,
        port: this.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent: this.agent,
        signal: r.signal,
      });
      req.on('socket', (socket: net.Socket) => {
        if (!socket.connecting) {
          reached = true;
          return;
        }
        connectTimer = setTimeout(() => {
          req.destroy(new BackendError(`connect to ${this.id} timed out`, 'ETIMEDOUT', false));
        }, this.connectTimeoutMs);
        socket.once('connect', () => {
          reached = true;
          clearTimeout(connectTimer);
        });
      });
      req.on('response', (res) => {
        if (settled) {
          res.resume();
          return;
        }
        settled = true;
        if (connectTimer) clearTimeout(connectTimer);
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res });
      });
      req.on('error', fail);
      if (r.body === undefined) req.end();
      else if (Buffer.isBuffer(r.body)) req.end(r.body);
      else r.body.pipe(req);
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
