// Taking over an HTTP/1.1 Upgrade for the streaming transports (and plain ones such as strata-exec.v1):
//   - WebSocket (`Upgrade: websocket`, a subprotocol from Sec-WebSocket-Protocol), with the `ws` library;
//   - SPDY/3.1 (`Upgrade: SPDY/3.1`, the protocol from X-Stream-Protocol-Version), answered by hand.
// And running a SPDY session over either: port-forward since kubectl 1.31 tunnels SPDY inside WebSocket
// binary messages (subprotocol `SPDY/3.1+portforward.k8s.io`), and falls back to a plain SPDY upgrade.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { SpdyServerSession } from './spdy-session.ts';

/** The prefix kubectl puts before a SPDY protocol it wants tunnelled through a WebSocket. */
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() === 'websocket';
}

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() === 'spdy/3.1';
}

/** The comma-separated values of a request header that may also be repeated. */
export function headerList(req: IncomingMessage, name: string): string[] {
  const v = req.headers[name.toLowerCase()];
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return all
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

// One server for every upgrade: no port of its own, no compression (the streams are mostly small or
// already compressed, and kubectl does not offer it), messages up to 16 MiB.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
const chosen = new WeakMap<IncomingMessage, string>();
// `ws` parses Sec-WebSocket-Protocol as RFC 7230 tokens, and "SPDY/3.1+portforward.k8s.io" is not one
// (the "/"), so it would refuse kubectl's handshake. The header is taken out before `ws` sees it and the
// chosen protocol is written into the 101 answer here.
wss.on('headers', (headers, req) => {
  const protocol = chosen.get(req);
  if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
});

/**
 * Completes a WebSocket handshake with `protocol` (one the client offered, or '' for none). The caller
 * has checked the request (isWebSocketUpgrade, method GET) and chosen the protocol.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocol: string,
): Promise<WebSocket> {
  delete req.headers['sec-websocket-protocol'];
  if (protocol) chosen.set(req, protocol);
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error('the client went away during the WebSocket handshake'));
    socket.once('close', onClose);
    // handleUpgrade answers a malformed handshake (bad key, version) itself and never calls back.
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', onClose);
      resolve(ws);
    });
  });
}

/** Writes the 101 of a SPDY upgrade (what httpstream/spdy's ResponseUpgrader answers). */
export function acceptSpdyUpgrade(socket: Duplex, protocol: string): void {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      (protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '') +
      '\r\n',
  );
}

/** Writes the 101 of an upgrade to a protocol that needs no more handshake (strata-exec.v1). */
export function acceptPlainUpgrade(socket: Duplex, protocol: string): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`);
}

/** Answers an upgrade request with an ordinary JSON response (a Status) and closes the socket. */
export function refuseUpgrade(socket: Duplex, code: number, body: unknown): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** A SPDY session whose bytes travel in a WebSocket's binary messages (boundaries carry no meaning). */
export function spdyOverWebSocket(ws: WebSocket): SpdyServerSession {
  const session = new SpdyServerSession({
    write: (frame, done) => {
      if (ws.readyState !== ws.OPEN) return done(new Error('the WebSocket is closed'));
      ws.send(frame, { binary: true }, done);
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: () => {
      if (ws.readyState === ws.OPEN) ws.close(1000);
    },
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      ws.close(1003, 'SPDY tunnel messages are binary');
      return;
    }
    session.receive(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
  });
  ws.on('close', () => session.transportClosed());
  ws.on('error', (err) => session.transportClosed(err));
  return session;
}

/** A SPDY session straight on an upgraded socket; head is what the client sent after its request. */
export function spdyOverSocket(socket: Duplex, head: Buffer): SpdyServerSession {
  const session = new SpdyServerSession({
    write: (frame, done) => {
      if (socket.destroyed) return done(new Error('the connection is closed'));
      socket.write(frame, done);
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.end(),
  });
  if (head.length) session.receive(head);
  socket.on('data', (d: Buffer) => session.receive(d));
  socket.on('close', () => session.transportClosed());
  socket.on('error', (err) => session.transportClosed(err));
  return session;
}
