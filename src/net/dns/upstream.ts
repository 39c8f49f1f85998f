// Forwarding what is not the cluster's to the node's own resolvers, byte for byte (CoreDNS's `forward .
// /etc/resolv.conf`). Each forward uses a fresh socket — a random source port per query, so a spoofed
// reply must guess it as well as the id — and takes only a reply from the upstream it asked, with the
// query's id. Upstreams are tried in order, each for `timeoutMs`; when none answers the caller gets
// `timeout` (the server says SERVFAIL). At most `maxInFlight` forwards run at once; past that the caller
// gets `busy` (CoreDNS's max_concurrent answers REFUSED), so a flood cannot pile up sockets and memory.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, isIPv6 } from 'node:net';
import { parseResolvConf } from '../etc-files.ts';

export interface Upstream {
  address: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** How long one upstream gets before the next is asked. Default 2 s. */
  timeoutMs?: number;
  /** Forwards running at once. Default 1000. */
  maxInFlight?: number;
}

export type ForwardResult = Buffer | 'timeout' | 'busy' | 'no-upstream';

/**
 * The nameservers of a resolv.conf (default /etc/resolv.conf), port 53, without `exclude` — the server's
 * own addresses: a node whose resolv.conf names the cluster DNS would otherwise forward to itself forever.
 * Loopback resolvers stay (systemd-resolved's 127.0.0.53): the server runs in the node's namespace.
 */
export function upstreamsFromResolvConf(text?: string, exclude: readonly string[] = []): Upstream[] {
  const conf = text ?? readFileSync('/etc/resolv.conf', 'utf8');
  return parseResolvConf(conf)
    .nameservers.map((ns) => ns.replace(/%.*$/, '')) // a link-local zone index, which dgram cannot take
    .filter((ns) => !exclude.includes(ns))
    .map((address) => ({ address, port: 53 }));
}

export class Forwarder {
  readonly upstreams: readonly Upstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private running = 0;

  constructor(o: ForwarderOptions) {
    this.upstreams = o.upstreams;
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.maxInFlight = o.maxInFlight ?? 1000;
  }

  get inFlight(): number {
    return this.running;
  }

  /** The upstream's reply to `query` (raw bytes, the client's id), over the transport the client used. */
  async forward(query: Buffer, transport: 'udp' | 'tcp'): Promise<ForwardResult> {
    if (this.upstreams.length === 0) return 'no-upstream';
    if (this.running >= this.maxInFlight) return 'busy';
    this.running++;
    try {
      for (const upstream of this.upstreams) {
        const reply =
          transport === 'udp'
            ? await udpExchange(upstream, query, this.timeoutMs)
            : await tcpExchange(upstream, query, this.timeoutMs);
        if (reply) return reply;
      }
      return 'timeout';
    } finally {
      this.running--;
    }
  }
}

/** A reply to `query`: a response (QR set) with the same id. */
function answers(query: Buffer, reply: Buffer): boolean {
  return reply.length >= 12 && reply.readUInt16BE(0) === query.readUInt16BE(0) && (reply[2] & 0x80) !== 0;
}

/** One UDP exchange; undefined on timeout or a socket error (the next upstream is tried). */
function udpExchange(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(upstream.address) ? 'udp6' : 'udp4');
    const done = (reply?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(), timeoutMs);
    socket.on('error', () => done());
    socket.on('message', (msg, from) => {
      // Only the upstream asked may answer; anything else is ignored, not taken as the end.
      if (from.address === upstream.address && from.port === upstream.port && answers(query, msg)) done(msg);
    });
    socket.send(query, upstream.port, upstream.address, (err) => {
      if (err) done();
    });
  });
}

/** One TCP exchange (RFC 1035 §4.2.2: a 2-byte length before each message). */
function tcpExchange(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: upstream.address, port: upstream.port });
    let received = Buffer.alloc(0);
    const done = (reply?: Buffer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done(), timeoutMs);
    socket.on('error', () => done());
    socket.on('close', () => done());
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const size = received.readUInt16BE(0);
      if (received.length < 2 + size) return;
      const reply = received.subarray(2, 2 + size);
      done(answers(query, reply) ? reply : undefined);
    });
  });
}
