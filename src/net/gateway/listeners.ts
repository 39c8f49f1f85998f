// The gateway's sockets. A cleartext HTTP port speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c):
// the first bytes of a connection tell which (the HTTP/2 preface starts `PRI *`), and the connection goes
// to node's http or http2 server. The HTTPS port negotiates h2 or http/1.1 by ALPN and picks its
// certificate by SNI. LoadBalancer ports proxied at L4 are plain TCP servers. Every listener closes its
// open connections on close() (a port released on Service delete is released at once).
// With `reusePort` (a gateway with worker threads, workers.ts) every thread binds the same port with
// SO_REUSEPORT and the kernel spreads new connections over them.
import http, { type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { ClientRequest, ClientResponse } from './proxy.ts';

export interface HttpHandlers {
  request(req: ClientRequest, res: ClientResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface ListenOptions {
  /** SO_REUSEPORT: several threads (or processes) bind the port; the kernel spreads connections. */
  reusePort?: boolean;
}

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

const H2_PREFACE_START = Buffer.from('PRI * HTTP/2');

/** Keeps the open sockets of a server, to end them on close. */
function tracked(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return sockets;
}

function listen(server: net.Server, host: string, port: number, o: ListenOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, ...(o.reusePort ? { reusePort: true } : {}) }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

function closer(
  server: net.Server,
  sockets: Set<net.Socket>,
  extra: () => void = () => {},
): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      extra();
      for (const s of sockets) s.destroy();
    });
}

/** A Duplex over `socket` that yields what it has buffered (unshifted) first, then the rest. */
function replay(socket: net.Socket): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, cb) {
      socket.write(chunk, encoding, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  // What the request handlers read (X-Forwarded-For).
  Object.defineProperty(d, 'remoteAddress', { get: () => socket.remoteAddress });
  Object.defineProperty(d, 'remotePort', { get: () => socket.remotePort });
  return d;
}

/** The cleartext HTTP port: HTTP/1.1 (+ upgrades) and h2c, told apart by the connection's first bytes. */
export async function listenHttp(
  host: string,
  port: number,
  h: HttpHandlers,
  o: ListenOptions = {},
): Promise<Listener> {
  const h1 = http.createServer({ keepAliveTimeout: 5_000, requestTimeout: 0 });
  h1.on('request', (req, res) => h.request(req, res));
  h1.on('upgrade', (req, socket, head) => h.upgrade(req, socket, head));
  const h2 = http2.createServer();
  h2.on('request', (req, res) => h.request(req, res));
  h2.on('sessionError', () => {});
  const server = net.createServer({ noDelay: true });
  const sockets = tracked(server);
  server.on('connection', (socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const n = Math.min(first.length, H2_PREFACE_START.length);
      const isH2 = n >= 3 && first.subarray(0, n).equals(H2_PREFACE_START.subarray(0, n));
      if (isH2) {
        // http2 reads the socket's handle directly and would miss the bytes read here: hand it a JS
        // stream that starts with them.
        h2.emit('connection', replay(socket));
      } else {
        h1.emit('connection', socket);
      }
      socket.resume();
    });
  });
  const bound = await listen(server, host, port, o);
  return {
    port: bound,
    close: closer(server, sockets, () => h1.closeAllConnections()),
  };
}

/**
 * The HTTPS port: ALPN h2 or http/1.1; `certificateFor(serverName)` picks the certificate (an Ingress's
 * TLS Secret), else the default one.
 */
export async function listenHttps(
  host: string,
  port: number,
  h: HttpHandlers,
  defaultCertificate: { cert: string; key: string },
  certificateFor: (serverName: string) => tls.SecureContext | undefined,
  o: ListenOptions = {},
): Promise<Listener> {
  const server = http2.createSecureServer({
    allowHTTP1: true,
    cert: defaultCertificate.cert,
    key: defaultCertificate.key,
    SNICallback: (name, cb) => {
      try {
        cb(null, certificateFor(name));
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  });
  server.on('request', (req, res) => h.request(req, res));
  // With allowHTTP1, HTTP/1.1 upgrade requests arrive here.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => h.upgrade(req, socket, head));
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});
  const sockets = new Set<net.Socket>();
  server.on('secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const bound = await listen(server, host, port, o);
  return { port: bound, close: closer(server, sockets) };
}

/** A plain TCP port (a LoadBalancer port proxied at L4). */
export async function listenTcp(
  host: string,
  port: number,
  onConnection: (s: net.Socket) => void,
  o: ListenOptions = {},
): Promise<Listener> {
  const server = net.createServer({ noDelay: true }, onConnection);
  const sockets = tracked(server);
  const bound = await listen(server, host, port, o);
  return { port: bound, close: closer(server, sockets) };
}
