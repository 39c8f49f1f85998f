// The cluster DNS server on real sockets: 127.0.0.1 on a free port, queried with dns-packet over dgram
// and TCP (and with dig when it is installed). Forwarding goes only to fake upstreams this test runs on
// other 127.0.0.x addresses — never to a real resolver.
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../api/index.ts';
import type { InformerWatchEvent, ListWatch } from '../../lib/informer.ts';
import { ClusterDnsServer } from './server.ts';
import { upstreamsFromResolvConf } from './upstream.ts';

function svc(name: string, spec: Record<string, unknown>, ns = 'shop'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec },
  } as Service;
}

function slice(name: string, endpoints: { ip: string; hostname?: string }[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-x`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      conditions: { ready: true },
    })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  } as EndpointSlice;
}

const http = [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }];
const many = Array.from({ length: 60 }, (_, i) => ({ ip: `10.88.1.${i + 1}` }));
const SERVICES = [
  svc('web', { clusterIP: '10.96.0.10', ports: http }),
  svc('db', { clusterIP: 'None', ports: http }),
  svc('big', { clusterIP: 'None', ports: http }),
  svc('ext', { type: 'ExternalName', externalName: 'db.example.org' }),
];
const SLICES = [
  slice('web', [{ ip: '10.88.0.2' }]),
  slice('db', [
    { ip: '10.88.0.5', hostname: 'db-0' },
    { ip: '10.88.0.6', hostname: 'db-1' },
  ]),
  slice('big', many),
];

/** A fake upstream resolver: answers A for *.example.org with 192.0.2.x, NXDOMAIN otherwise, or nothing. */
class FakeUpstream {
  readonly seen: string[] = [];
  socket!: UdpSocket;
  readonly address: string;
  private readonly silent: boolean;
  constructor(address: string, silent = false) {
    this.address = address;
    this.silent = silent;
  }
  async start(): Promise<{ address: string; port: number }> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, from) => {
      const q = dnsPacket.decode(msg);
      const question = q.questions![0];
      this.seen.push(`${question.name}/${question.type}`);
      if (this.silent) return;
      const ours = question.name.endsWith('example.org');
      const reply = dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE | (ours ? 0 : 3),
        questions: q.questions,
        answers: ours ? [{ name: question.name, type: 'A', ttl: 300, data: '192.0.2.7' }] : [],
      });
      this.socket.send(reply, from.port, from.address);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, this.address, resolve));
    return { address: this.address, port: this.socket.address().port };
  }
  stop(): void {
    this.socket.close();
  }
}

let nextId = 4000;

/** Send raw bytes over UDP; the reply, or undefined after `waitMs`. */
function udpRaw(port: number, msg: Buffer, waitMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, waitMs);
    s.on('message', (reply) => {
      clearTimeout(timer);
      s.close();
      resolve(reply);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function queryBytes(name: string, type: RecordType, id: number, edns = false): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    ...(edns
      ? {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: 4096,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }
      : {}),
  });
}

interface Reply extends DecodedPacket {
  rcode: string;
  size: number;
}

async function udpQuery(port: number, name: string, type: RecordType, edns = false): Promise<Reply> {
  const id = nextId++;
  const raw = await udpRaw(port, queryBytes(name, type, id, edns));
  if (!raw) throw new Error(`no answer to ${name}/${type}`);
  const reply = dnsPacket.decode(raw) as Reply;
  expect(reply.id).toBe(id);
  reply.size = raw.length;
  return reply;
}

function tcpQuery(port: number, name: string, type: RecordType): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    socket.on('connect', () =>
      socket.write(dnsPacket.streamEncode(dnsPacket.decode(queryBytes(name, type, 7)))),
    );
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        socket.destroy();
        const reply = dnsPacket.decode(buf.subarray(2)) as Reply;
        reply.size = buf.length - 2;
        resolve(reply);
      }
    });
    socket.on('error', reject);
  });
}

describe('ClusterDnsServer', () => {
  const upstream = new FakeUpstream('127.0.0.2');
  let server: ClusterDnsServer;
  let port: number;

  beforeAll(async () => {
    server = new ClusterDnsServer({
      address: '127.0.0.1',
      port: 0,
      upstreams: [await upstream.start()],
    });
    server.setRecords(SERVICES, SLICES);
    await server.start();
    port = server.port;
  });
  afterAll(async () => {
    await server.stop();
    upstream.stop();
  });

  it("answers a Service's A record: authoritative, id and question echoed, TTL 5", async () => {
    const r = await udpQuery(port, 'Web.Shop.svc.cluster.local', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(r.flag_qr && r.flag_aa && r.flag_rd && r.flag_ra).toBe(true);
    expect(r.flag_tc).toBe(false);
    expect(r.questions).toEqual([{ name: 'Web.Shop.svc.cluster.local', type: 'A', class: 'IN' }]);
    expect(r.answers).toMatchObject([
      { name: 'Web.Shop.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.10' },
    ]);
    expect(upstream.seen).toEqual([]);
  });

  it('answers a headless Service with each pod, and each pod by its hostname', async () => {
    const all = await udpQuery(port, 'db.shop.svc.cluster.local', 'A');
    expect(all.answers!.map((a) => (a as { data: unknown }).data)).toEqual(['10.88.0.5', '10.88.0.6']);
    const one = await udpQuery(port, 'db-1.db.shop.svc.cluster.local', 'A');
    expect(one.answers).toMatchObject([{ type: 'A', data: '10.88.0.6' }]);
  });

  it('answers SRV for a named port, per endpoint of a headless Service', async () => {
    const r = await udpQuery(port, '_http._tcp.web.shop.svc.cluster.local', 'SRV');
    expect(r.answers).toMatchObject([
      {
        type: 'SRV',
        ttl: 5,
        data: { port: 80, target: 'web.shop.svc.cluster.local', priority: 0, weight: 100 },
      },
    ]);
    const headless = await udpQuery(port, '_http._tcp.db.shop.svc.cluster.local', 'SRV');
    expect(headless.answers!.map((a) => (a as { data: unknown }).data)).toMatchObject([
      { port: 8080, target: 'db-0.db.shop.svc.cluster.local' },
      { port: 8080, target: 'db-1.db.shop.svc.cluster.local' },
    ]);
  });

  it('says NXDOMAIN for an unknown Service and NODATA for a missing type, with the zone SOA', async () => {
    const nx = await udpQuery(port, 'nope.shop.svc.cluster.local', 'A');
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.flag_aa).toBe(true);
    expect(nx.answers).toEqual([]);
    expect(nx.authorities).toMatchObject([{ type: 'SOA', name: 'cluster.local', data: { minimum: 5 } }]);
    const nodata = await udpQuery(port, 'web.shop.svc.cluster.local', 'AAAA');
    expect(nodata.rcode).toBe('NOERROR');
    expect(nodata.answers).toEqual([]);
    expect(nodata.authorities).toMatchObject([{ type: 'SOA' }]);
    const mx = await udpQuery(port, 'web.shop.svc.cluster.local', 'MX');
    expect([mx.rcode, mx.answers]).toEqual(['NOERROR', []]);
  });

  it('answers PTR for a cluster IP', async () => {
    const r = await udpQuery(port, '10.0.96.10.in-addr.arpa', 'PTR');
    expect(r.answers).toMatchObject([{ type: 'PTR', data: 'web.shop.svc.cluster.local' }]);
  });

  it('refuses a malformed packet with FORMERR and its id, drops what has no header, and keeps serving', async () => {
    const good = queryBytes('web.shop.svc.cluster.local', 'A', 0x1234);
    const cut = good.subarray(0, good.length - 3); // the question runs off the end
    const formerr = await udpRaw(port, cut);
    expect(formerr).toBeDefined();
    const r = dnsPacket.decode(formerr!) as Reply;
    expect([r.id, r.rcode, r.flag_qr, r.questions]).toEqual([0x1234, 'FORMERR', true, []]);
    // A compression pointer to itself: the codec must not loop.
    const loop = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect((dnsPacket.decode((await udpRaw(port, loop))!) as Reply).rcode).toBe('FORMERR');
    // Two questions: FORMERR, as CoreDNS.
    const two = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [
        { name: 'a.cluster.local', type: 'A' },
        { name: 'b.cluster.local', type: 'A' },
      ],
    });
    expect((dnsPacket.decode((await udpRaw(port, two))!) as Reply).rcode).toBe('FORMERR');
    expect(await udpRaw(port, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
    // A response is never answered (two servers could loop).
    const resp = dnsPacket.encode({
      type: 'response',
      id: 5,
      questions: [{ name: 'x.cluster.local', type: 'A' }],
    });
    expect(await udpRaw(port, resp, 300)).toBeUndefined();
    expect((await udpQuery(port, 'web.shop.svc.cluster.local', 'A')).answers).toHaveLength(1);
  });

  it('truncates a UDP answer over 512 bytes (TC, the records that fit) and answers it whole over TCP', async () => {
    const udp = await udpQuery(port, 'big.shop.svc.cluster.local', 'A');
    expect(udp.flag_tc).toBe(true);
    expect(udp.size).toBeLessThanOrEqual(512);
    // Owner names are pointers to the question: 44 bytes of header and question, then 16 per A record.
    expect(udp.answers).toHaveLength(29);
    expect(udp.answers!.every((a) => a.name === 'big.shop.svc.cluster.local')).toBe(true);
    // EDNS raises the limit to 1232 bytes (not the 4096 offered): all 60 fit.
    const edns = await udpQuery(port, 'big.shop.svc.cluster.local', 'A', true);
    expect(edns.flag_tc).toBe(false);
    expect(edns.answers).toHaveLength(60);
    expect(edns.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
    const tcp = await tcpQuery(port, 'big.shop.svc.cluster.local', 'A');
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(60);
    expect(tcp.size).toBe(44 + 60 * 16);
  });

  it('forwards names outside the zone to the upstream, over UDP and TCP', async () => {
    const r = await udpQuery(port, 'www.example.org', 'A');
    expect(r.answers).toMatchObject([{ name: 'www.example.org', data: '192.0.2.7', ttl: 300 }]);
    expect(r.flag_aa).toBe(false);
    expect(upstream.seen).toContain('www.example.org/A');
    const nx = await udpQuery(port, 'nothing.invalid', 'A');
    expect(nx.rcode).toBe('NXDOMAIN');
    // The fake upstream serves UDP only: the TCP forward fails and the client is told SERVFAIL.
    expect((await tcpQuery(port, 'www.example.org', 'A')).rcode).toBe('SERVFAIL');
  });

  it("follows an ExternalName Service's CNAME upstream, as stub resolvers need", async () => {
    const r = await udpQuery(port, 'ext.shop.svc.cluster.local', 'A');
    expect(r.answers).toMatchObject([
      { name: 'ext.shop.svc.cluster.local', type: 'CNAME', data: 'db.example.org' },
      { name: 'db.example.org', type: 'A', data: '192.0.2.7' },
    ]);
  });

  it('answers with dig, when dig is installed', async (ctx) => {
    const dig = await promisify(execFile)('dig', ['-v']).catch(() => undefined);
    if (!dig) {
      console.log('dig is not installed (Debian dnsutils): skipping the dig check');
      ctx.skip();
      return;
    }
    const out = await promisify(execFile)('dig', [
      '@127.0.0.1',
      '-p',
      String(port),
      '+short',
      'web.shop.svc.cluster.local',
    ]);
    expect(out.stdout.trim()).toBe('10.96.0.10');
  });
});

describe('ClusterDnsServer forwarding limits', () => {
  it('answers SERVFAIL when the upstream is silent, REFUSED past the in-flight bound', async () => {
    const silent = new FakeUpstream('127.0.0.3', true);
    const server = new ClusterDnsServer({
      address: '127.0.0.1',
      port: 0,
      upstreams: [await silent.start()],
      forwardTimeoutMs: 300,
      maxInFlight: 1,
    });
    await server.start();
    try {
      const first = udpQuery(server.port, 'a.example.org', 'A');
      await new Promise((r) => setTimeout(r, 50));
      const second = await udpQuery(server.port, 'b.example.org', 'A');
      expect(second.rcode).toBe('REFUSED');
      expect((await first).rcode).toBe('SERVFAIL');
      expect(silent.seen).toEqual(['a.example.org/A']);
      expect(server.forwarder.inFlight).toBe(0);
    } finally {
      await server.stop();
      silent.stop();
    }
  });

  it('never takes its own address from resolv.conf as an upstream', () => {
    const conf = 'nameserver 10.96.0.10\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n';
    expect(upstreamsFromResolvConf(conf, ['10.96.0.10'])).toEqual([
      { address: '127.0.0.53', port: 53 },
      { address: 'fe80::1', port: 53 },
    ]);
  });
});

describe('ClusterDnsServer with informers', () => {
  it('answers SERVFAIL in the zone until synced, then follows Service changes', async () => {
    let push: ((ev: InformerWatchEvent<Service>) => void) | undefined;
    let releaseList!: () => void;
    const listed = new Promise<void>((r) => (releaseList = r));
    const services: ListWatch<Service> = {
      async list() {
        await listed;
        return { items: [svc('web', { clusterIP: '10.96.0.10', ports: http })], resourceVersion: '1' };
      },
      async watch(_rv, onEvent) {
        push = onEvent;
        return { cancel() {} };
      },
    };
    const endpointSlices: ListWatch<EndpointSlice> = {
      list: async () => ({ items: [], resourceVersion: '1' }),
      watch: async () => ({ cancel() {} }),
    };
    const server = new ClusterDnsServer({ address: '127.0.0.1', port: 0, upstreams: [] });
    const started = server.start({ services, endpointSlices });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect((await udpQuery(server.port, 'web.shop.svc.cluster.local', 'A')).rcode).toBe('SERVFAIL');
      releaseList();
      await started;
      expect((await udpQuery(server.port, 'web.shop.svc.cluster.local', 'A')).answers).toMatchObject([
        { data: '10.96.0.10' },
      ]);
      const api = svc('api', { clusterIP: '10.96.0.20', ports: http });
      push!({ type: 'ADDED', object: { ...api, metadata: { ...api.metadata, resourceVersion: '2' } } });
      expect((await udpQuery(server.port, 'api.shop.svc.cluster.local', 'A')).answers).toMatchObject([
        { data: '10.96.0.20' },
      ]);
    } finally {
      releaseList();
      await started;
      await server.stop();
    }
  });
});
