// Relaying one client request (HTTP/1.1 or HTTP/2, through node's compat API) to an Upstream, and
// WebSocket/upgrade requests as a byte tunnel. Hop-by-hop headers are dropped both ways (RFC 9110 §7.6.1;
// HTTP/2 forbids them outright), X-Forwarded-For/-Proto/-Host are set, and gateway failures are answered
// with their status (502 unreachable, 503 no backend or every breaker full, 504 timeout) and a reason.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { BackendRequest } from './backend.ts';
import type { RouteConfig } from './config.ts';
import type { Upstream } from './upstream.ts';

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** Where a request goes: an upstream and the route's settings, or an answer (404, 503) with a reason. */
export type Resolution = { upstream: Upstream; route: RouteConfig } | { status: number; reason: string };

/** Bodies up to this size are buffered, so the request can be retried; larger ones stream, sent once. */
export const MAX_BUFFERED_BODY = 1 << 20;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Headers without hop-by-hop ones (and those the Connection header names) and HTTP/2 pseudo-headers. */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  // Usually there is no Connection header (HTTP/1.1 keep-alive is the default): no set to build.
  const connection = headers.connection;
  const named = connection
    ? new Set(
        String(connection)
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean),
      )
    : undefined;
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || k.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(k) || named?.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function clientAddress(req: ClientRequest): string {
  return req.socket?.remoteAddress?.replace(/^::ffff:/, '') ?? '';
}

/** The request's headers as the backend gets them. */
export function forwardedHeaders(req: ClientRequest, secure: boolean): OutgoingHttpHeaders {
  const h = endToEnd(req.headers);
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
  if (host) h.host = host;
  const prior = req.headers['x-forwarded-for'];
  const client = clientAddress(req);
  h['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  h['x-forwarded-proto'] = secure ? 'https' : 'http';
  if (host && !h['x-forwarded-host']) h['x-forwarded-host'] = host;
  return h;
}

function hasNoBody(req: ClientRequest): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) === 0;
  if (req.headers['transfer-encoding']) return false;
  // HTTP/1.1 without length or chunking has no body; HTTP/2 says so by ending the stream.
  return (
    req.httpVersionMajor < 2 ||
    req.readableEnded ||
    ['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(req.method ?? '')
  );
}

/** A body to buffer (up to MAX_BUFFERED_BODY, so it can be replayed) or to stream. */
async function requestBody(req: ClientRequest): Promise<Buffer | ClientRequest> {
  const len = Number(req.headers['content-length'] ?? NaN);
  if (!(len <= MAX_BUFFERED_BODY)) return req;
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function answer(res: ClientResponse, status: number, reason: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${reason}\n`;
  (res as ServerResponse).writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-strata-gateway-error': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200),
  });
  res.end(body);
}

/** Serve one request: resolve its route, dispatch it, relay the answer. Never throws. */
export async function proxyRequest(
  req: ClientRequest,
  res: ClientResponse,
  resolve: (req: ClientRequest) => Resolution,
  secure: boolean,
): Promise<void> {
  try {
    const where = resolve(req);
    if ('status' in where) {
      req.resume();
      answer(res, where.status, where.reason);
      return;
    }
    const client = new AbortController();
    const relayed: { body?: Readable } = {};
    // One listener for the client's connection: a client that leaves aborts the attempt, or the relay.
    res.once('close', () => {
      if (!res.writableFinished) client.abort();
      if (relayed.body && !relayed.body.readableEnded) relayed.body.destroy();
    });
    let body: Buffer | ClientRequest | undefined;
    if (hasNoBody(req)) req.resume();
    else body = await requestBody(req);
    const outgoing: BackendRequest = {
      method: req.method ?? 'GET',
      path: req.url || '/',
      headers: forwardedHeaders(req, secure),
      body: body as BackendRequest['body'],
      signal: undefined, // set per attempt by the upstream
    };
    const result = await where.upstream.dispatch(outgoing, where.route, client.signal);
    if (!result.ok) {
      if (result.status !== 499) answer(res, result.status, result.reason);
      return;
    }
    const upstream = result.response;
    (res as ServerResponse).writeHead(upstream.status, endToEnd(upstream.headers));
    if (res.destroyed) {
      upstream.body.destroy();
      return;
    }
    relayed.body = upstream.body;
    if (upstream.whole) {
      // Headers and body in one write; the stream is only drained, so that its end releases the attempt.
      res.end(upstream.whole);
      upstream.body.resume();
      return;
    }
    relay(upstream.body, res);
  } catch (err) {
    answer(res, 502, `gateway error: ${(err as Error).message}`);
  }
}

/**
 * The response body to the client, with backpressure: what `pipe` does, without its half-dozen
 * listeners added and removed on every request.
 */
function relay(body: Readable, res: ClientResponse): void {
  const out = res as ServerResponse;
  const resume = () => body.resume();
  body.on('data', (chunk: Buffer) => {
    if (!out.write(chunk)) {
      body.pause();
      out.once('drain', resume);
    }
  });
  body.once('end', () => out.end());
  body.once('error', () => res.destroy());
}

/** Serve an HTTP/1.1 upgrade (WebSocket): relay the request head, then the bytes both ways. */
export async function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  resolve: (req: ClientRequest) => Resolution,
  secure: boolean,
): Promise<void> {
  const refuse = (status: number, reason: string) => {
    socket.end(
      `HTTP/1.1 ${status} ${reason.replace(/[\r\n]/g, ' ')}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
  };
  socket.on('error', () => socket.destroy());
  const where = resolve(req);
  if ('status' in where) return refuse(where.status, where.reason);
  const conn = await where.upstream.connect(where.route);
  if (!conn.ok) return refuse(conn.status, conn.reason);
  const headers = forwardedHeaders(req, secure);
  // An upgrade keeps its own hop-by-hop pair.
  headers.connection = 'Upgrade';
  if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  const upstream = conn.stream;
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length) upstream.write(head);
  const done = () => {
    conn.release();
    socket.destroy();
    upstream.destroy();
  };
  upstream.on('error', done);
  upstream.on('close', done);
  socket.on('close', done);
  upstream.pipe(socket);
  socket.pipe(upstream);
}
