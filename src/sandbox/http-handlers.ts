// The node's listeners for sandboxes that serve HTTP without a network stack of their own (wasm handlers):
// each such pod gets an address of the node's own on the pod bridge (PodAddresses, the node's pod
// network), and on each of its ports an HTTP server that hands every request to the tier's handler.
// Because the address is an ordinary pod IP, Service rules, cluster DNS, NodePorts and the node gateway
// reach these pods exactly as they reach containers — nothing downstream knows the difference.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { HostPortMapping, HttpHandler, HttpHandlerHost } from './driver.ts';

/** The part of the node's pod network the listeners use (src/net/pod-network.ts implements it). */
export interface PodAddresses {
  /** The pod's address on the node itself (a /32 on the bridge), made on first call. */
  claimHostAddress(podUid: string): Promise<string>;
  /** Releases everything of the pod's network. Idempotent. */
  teardown(podUid: string): Promise<void>;
  publish(podUid: string, port: HostPortMapping): Promise<void>;
  /** Releases host addresses of pods not in the list; returns the addresses released. */
  reconcileHostAddresses(livePodUids: Iterable<string>): Promise<string[]>;
}

export interface HandlerListenersOptions {
  /** Largest request body read into memory (default 16 MiB): larger ones are answered 413. */
  maxBodyBytes?: number;
  /** Where the served handlers are registered for in-process callers (default: the process's). */
  local?: LocalHandlers;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

interface Listener {
  port: number;
  server: http.Server;
  /** Removes it from the in-process registry (at close, before the socket's last connections end). */
  unregister(): void;
}

/** A handler served in this process, as the node gateway may call it without a socket. */
export interface LocalHandler {
  handle: HttpHandler;
  /** Largest request body it takes (larger ones are answered 413, as its listener does). */
  maxBodyBytes: number;
}

/**
 * Every handler this process serves, by `ip:port`. The node gateway runs in the same process (src/node/),
 * so a request it sends to one of these endpoints can go to the handler as a function call rather than
 * through a loopback HTTP exchange (src/net/gateway/local-backend.ts): the same handler, without a second
 * request parse and response serialisation and the event-loop turns between them. The listener stays,
 * for everything else that reaches the pod IP (Service rules, DNS names, NodePorts, other nodes).
 */
export class LocalHandlers {
  private readonly byAddress = new Map<string, LocalHandler>();

  get(ip: string, port: number): LocalHandler | undefined {
    return this.byAddress.get(`${ip}:${port}`);
  }

  /** Registers the handler of `ip:port`; the returned function removes it (only if still the same). */
  add(ip: string, port: number, handler: LocalHandler): () => void {
    const k = `${ip}:${port}`;
    this.byAddress.set(k, handler);
    return () => {
      if (this.byAddress.get(k) === handler) this.byAddress.delete(k);
    };
  }
}

/** The process's handlers (one pod network per process: addresses do not collide). */
export const localHandlers = new LocalHandlers();

export class HandlerListeners implements HttpHandlerHost {
  private readonly addresses: PodAddresses;
  private readonly maxBodyBytes: number;
  private readonly byPod = new Map<string, Set<Listener>>();
  private readonly local: LocalHandlers;

  constructor(addresses: PodAddresses, opts: HandlerListenersOptions = {}) {
    this.addresses = addresses;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.local = opts.local ?? localHandlers;
  }

  async serve(
    podUid: string,
    ports: number[],
    handle: HttpHandler,
  ): Promise<{ ip: string; close(): Promise<void> }> {
    const ip = await this.addresses.claimHostAddress(podUid);
    const mine: Listener[] = [];
    try {
      for (const port of ports) mine.push(await this.listen(ip, port, handle));
    } catch (err) {
      await Promise.all(mine.map((l) => closeListener(l)));
      throw err;
    }
    const set = this.byPod.get(podUid) ?? new Set<Listener>();
    for (const l of mine) set.add(l);
    this.byPod.set(podUid, set);
    return {
      ip,
      close: async () => {
        for (const l of mine) set.delete(l);
        await Promise.all(mine.map((l) => closeListener(l)));
      },
    };
  }

  publish(podUid: string, port: HostPortMapping): Promise<void> {
    return this.addresses.publish(podUid, port);
  }

  async release(podUid: string): Promise<void> {
    const set = this.byPod.get(podUid);
    this.byPod.delete(podUid);
    await Promise.all([...(set ?? [])].map((l) => closeListener(l)));
    await this.addresses.teardown(podUid);
  }

  async reconcile(livePodUids: string[]): Promise<void> {
    await this.addresses.reconcileHostAddresses(livePodUids);
  }

  private listen(ip: string, port: number, handle: HttpHandler): Promise<Listener> {
    const server = http.createServer((req, res) => void this.answer(req, res, ip, port, handle));
    // A handler runs a fresh instance per request; keep-alive saves clients the handshake only.
    server.keepAliveTimeout = 5_000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: ip, port }, () => {
        server.off('error', reject);
        // Registered once the socket listens: in-process callers find the handlers a client could reach.
        const unregister = this.local.add(ip, port, { handle, maxBodyBytes: this.maxBodyBytes });
        resolve({ port, server, unregister });
      });
    });
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    ip: string,
    port: number,
    handle: HttpHandler,
  ): Promise<void> {
    try {
      const body = await readBody(req, this.maxBodyBytes);
      if (body === undefined) {
        return plain(res, 413, `request body larger than ${this.maxBodyBytes} bytes\n`);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      const out = await handle({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers,
        body,
        remoteAddress: req.socket.remoteAddress ?? '',
        localAddress: ip,
        localPort: port,
      });
      res.statusCode = out.status;
      for (const [k, v] of out.headers) res.appendHeader(k, v);
      res.end(out.body);
    } catch (err) {
      plain(res, 502, `the handler could not run: ${(err as Error).message}\n`);
    }
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** The body, or undefined when it is larger than `max` (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        return resolve(undefined);
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function closeListener(l: Listener): Promise<void> {
  l.unregister();
  const server = l.server;
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
