// ClusterDnsServer: the node's cluster DNS (what CoreDNS is in Kubernetes). It listens on UDP and TCP at
// one address, answers names in the cluster zone from ClusterDnsRecords — kept current from the Services
// and EndpointSlices informers — and forwards every other name to the node's resolvers (upstream.ts).
// Until the informers have synced, names in the zone get SERVFAIL rather than a NXDOMAIN that resolvers
// would cache for a Service that exists.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { EndpointSlice, Service } from '../../api/index.ts';
import { Informer, type ListWatch } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import {
  type ParsedQuery,
  answerQuery,
  encodeResponse,
  TCP_LIMIT,
  errorResponse,
  parseQuery,
  udpLimit,
} from './message.ts';
import { ClusterDnsRecords, DEFAULT_CLUSTER_DOMAIN } from './records.ts';
import { Forwarder, type ForwardResult, type Upstream, upstreamsFromResolvConf } from './upstream.ts';
import type { Answer as WireRecord, Packet } from 'dns-packet';

export interface ClusterDnsSources {
  services: ListWatch<Service>;
  endpointSlices: ListWatch<EndpointSlice>;
}

export interface ClusterDnsServerOptions {
  /** The address to serve on: the cluster DNS Service's IP, or the pod bridge's. */
  address: string;
  /** Default 53; 0 picks a free port (tests), see `port` after start(). */
  port?: number;
  /** Default `cluster.local`. */
  zone?: string;
  /** Where other names go. Default: the nameservers of `resolvConf` (or /etc/resolv.conf) but our own. */
  upstreams?: Upstream[];
  /** resolv.conf text to take upstreams from (default: read /etc/resolv.conf). */
  resolvConf?: string;
  /** More addresses that are this server (e.g. the cluster DNS Service IP DNATed to it): never upstreams. */
  ownAddresses?: string[];
  /** Per upstream, before the next is asked. Default 2 s. */
  forwardTimeoutMs?: number;
  /** Concurrent forwards; more are REFUSED. Default 1000. */
  maxInFlight?: number;
  /** Also serve TCP (for clients retrying a truncated answer). Default true. */
  tcp?: boolean;
  /** An idle TCP connection is closed after this long (RFC 7766 suggests seconds). Default 10 s. */
  tcpIdleMs?: number;
  log?: Log;
}

export class ClusterDnsServer {
  readonly zone: string;
  readonly forwarder: Forwarder;
  private readonly opts: ClusterDnsServerOptions;
  private readonly log: Log;
  private udp?: UdpSocket;
  private tcp?: TcpServer;
  private readonly connections = new Set<TcpSocket>();
  private services?: Informer<Service>;
  private slices?: Informer<EndpointSlice>;
  private records: ClusterDnsRecords;
  /** The SOA serial: when the records last changed (seconds). */
  private serial = 0;
  private dirty = false;
  private ready = false;
  private boundPort = 0;

  constructor(opts: ClusterDnsServerOptions) {
    this.opts = opts;
    this.log = opts.log ?? defaultLog;
    this.zone = opts.zone ?? DEFAULT_CLUSTER_DOMAIN;
    this.records = new ClusterDnsRecords([], [], this.zone);
    this.forwarder = new Forwarder({
      upstreams:
        opts.upstreams ??
        upstreamsFromResolvConf(opts.resolvConf, [opts.address, ...(opts.ownAddresses ?? [])]),
      timeoutMs: opts.forwardTimeoutMs,
      maxInFlight: opts.maxInFlight,
    });
    if (this.forwarder.upstreams.length === 0)
      this.log.warn({}, 'cluster dns: no upstream resolver; names outside the cluster get SERVFAIL');
  }

  /** The port it listens on (the one picked, when asked for 0). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Listen, then follow the informers when given; resolves once they have synced (from then on the zone
   * is answered). Without sources the records come from setRecords().
   */
  async start(sources?: ClusterDnsSources): Promise<void> {
    await this.listen();
    if (!sources) return;
    const onError = (err: unknown, context: string) =>
      this.log.warn({ err: errorMessage(err) }, `cluster dns: ${context}`);
    this.services = new Informer(sources.services, { onError });
    this.slices = new Informer(sources.endpointSlices, { onError });
    // Rebuilt on the next query, not on every event: a burst of endpoint changes costs one rebuild.
    const changed = {
      onAdd: () => this.changed(),
      onUpdate: () => this.changed(),
      onDelete: () => this.changed(),
    };
    this.services.addHandler(changed);
    this.slices.addHandler(changed);
    this.services.start();
    this.slices.start();
    if ((await this.services.waitForSync()) && (await this.slices.waitForSync())) {
      this.changed();
      this.ready = true;
    }
  }

  /** Serve these records (instead of, or before, informers). */
  setRecords(services: readonly Service[], slices: readonly EndpointSlice[]): void {
    this.records = new ClusterDnsRecords(services, slices, this.zone);
    this.serial = Math.floor(Date.now() / 1000) >>> 0;
    this.dirty = false;
    this.ready = true;
  }

  async stop(): Promise<void> {
    this.services?.stop();
    this.slices?.stop();
    for (const c of this.connections) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  private changed(): void {
    this.dirty = true;
  }

  private current(): ClusterDnsRecords {
    if (this.dirty && this.services && this.slices) this.setRecords(this.services.list(), this.slices.list());
    return this.records;
  }

  private async listen(): Promise<void> {
    const udp = createSocket(isIPv6(this.opts.address) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port ?? 53, this.opts.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'cluster dns: udp socket'));
    udp.on('message', (msg, from) => {
      void this.answer(msg, 'udp').then(
        (reply) => reply && udp.send(reply, from.port, from.address),
        (err) => this.log.warn({ err: errorMessage(err) }, 'cluster dns: udp query'),
      );
    });
    this.udp = udp;
    this.boundPort = udp.address().port;
    if (this.opts.tcp === false) return;
    const tcp = createServer((socket) => this.serveTcp(socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.boundPort, this.opts.address, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch((err) => {
      udp.close();
      this.udp = undefined;
      throw err;
    });
    tcp.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'cluster dns: tcp server'));
    this.tcp = tcp;
  }

  /** Messages on one connection, each behind a 2-byte length; answers may go out of order (RFC 7766). */
  private serveTcp(socket: TcpSocket): void {
    this.connections.add(socket);
    socket.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        void this.answer(msg, 'tcp').then(
          (reply) => {
            if (!reply || socket.destroyed) return;
            const length = Buffer.alloc(2);
            length.writeUInt16BE(reply.length);
            socket.write(Buffer.concat([length, reply]));
          },
          (err) => this.log.warn({ err: errorMessage(err) }, 'cluster dns: tcp query'),
        );
      }
    });
  }

  /** The reply to one message (undefined: send nothing). */
  async answer(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const q = parseQuery(msg);
    if ('drop' in q) return q.drop ? undefined : q.response;
    const local = answerQuery(q, this.current(), this.serial);
    if (local === 'forward') return this.forwarded(q, await this.forwarder.forward(msg, transport));
    if (!this.ready) return errorResponse(q, 'SERVFAIL');
    const packet = await this.chaseCname(q, local);
    return encodeResponse(packet, transport === 'udp' ? udpLimit(q) : TCP_LIMIT);
  }

  private forwarded(q: ParsedQuery, result: ForwardResult): Buffer {
    if (Buffer.isBuffer(result)) return result;
    if (result === 'busy') return errorResponse(q, 'REFUSED');
    return errorResponse(q, 'SERVFAIL');
  }

  /**
   * An ExternalName Service answers with a CNAME to a name outside the cluster. Stub resolvers (glibc,
   * musl) do not chase CNAMEs themselves, so, as CoreDNS does, the target's A/AAAA records are looked up
   * upstream and appended; when that fails the CNAME alone goes back.
   */
  private async chaseCname(q: ParsedQuery, p: Packet): Promise<Packet> {
    const last = p.answers?.at(-1);
    if (q.question.type !== 'A' && q.question.type !== 'AAAA') return p;
    if (last?.type !== 'CNAME' || typeof last.data !== 'string') return p;
    const target = last.data;
    if (target === this.zone || target.endsWith(`.${this.zone}`)) return p;
    const query = dnsPacket.encode({
      type: 'query',
      id: Math.floor(Math.random() * 0x10000),
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: target, type: q.question.type, class: 'IN' }],
    });
    const result = await this.forwarder.forward(query, 'udp');
    if (!Buffer.isBuffer(result)) return p;
    try {
      const reply = dnsPacket.decode(result);
      const more = (reply.answers ?? []).filter(
        (r): r is WireRecord => r.type === q.question.type || r.type === 'CNAME',
      );
      return { ...p, answers: [...(p.answers ?? []), ...more] };
    } catch {
      return p;
    }
  }
}
