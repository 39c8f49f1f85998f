// NodeGateway end to end in one process: real listeners, real HTTP/1.1, h2c, h2 over TLS, WebSocket and
// TCP clients, real backend servers. The API objects come from in-memory list-watch sources (the data the
// agent's informers would deliver).
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { selfSignedServing } from '../../auth/pki.ts';
import { ROUTES_ANNOTATION, strataIngressClass } from '../../api/index.ts';
import type { InformerWatchEvent, ListWatch } from '../../lib/informer.ts';
import { NodeGateway, type LoadBalancerIngress } from './gateway.ts';
import { freePort } from '../../lib/free-port.ts';

/** An in-memory collection with list + watch, as the API would serve it. */
class Source<T extends { metadata: any }> implements ListWatch<T> {
  private items = new Map<string, T>();
  private rv = 1;
  private watchers = new Set<(ev: InformerWatchEvent<T>) => void>();
  private k(o: T) {
    return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }
  put(o: T): void {
    const type = this.items.has(this.k(o)) ? 'MODIFIED' : 'ADDED';
    o.metadata.resourceVersion = String(++this.rv);
    this.items.set(this.k(o), structuredClone(o));
    for (const w of this.watchers) w({ type, object: structuredClone(o) });
  }
  remove(o: T): void {
    this.items.delete(this.k(o));
    o.metadata.resourceVersion = String(++this.rv);
    for (const w of this.watchers) w({ type: 'DELETED', object: o });
  }
  get(ns: string, name: string): T | undefined {
    return this.items.get(`${ns}/${name}`);
  }
  async list() {
    return {
      items: [...this.items.values()].map((o) => structuredClone(o)),
      resourceVersion: String(this.rv),
    };
  }
  async watch(_rv: string, onEvent: (ev: InformerWatchEvent<T>) => void) {
    this.watchers.add(onEvent);
    return { cancel: () => this.watchers.delete(onEvent) };
  }
}

const sources = {
  services: new Source<any>(),
  endpointSlices: new Source<any>(),
  ingresses: new Source<any>(),
  ingressClasses: new Source<any>(),
  secrets: new Source<any>(),
};
const backends: http.Server[] = [];
const statuses = new Map<string, LoadBalancerIngress[]>();
const events: string[] = [];
let gw: NodeGateway;

async function backend(name: string, ws = false): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.setHeader('x-seen-host', String(req.headers.host));
    res.setHeader('x-seen-forwarded-for', String(req.headers['x-forwarded-for']));
    res.end(name);
  });
  if (ws) {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (sock) => sock.on('message', (m) => sock.send(`${name}:${m}`)));
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backends.push(server);
  return (server.address() as AddressInfo).port;
}

function service(name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations },
    spec: { type: 'ClusterIP', ...spec },
  };
}

function slice(svc: string, portName: string, port: number, idx: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-${idx}`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function get(port: number, host: string, path = '/') {
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
    },
  );
}

let lbPort: number;
let tcpPort: number;
let cert: { cert: string; key: string };

beforeAll(async () => {
  const [a1, a2, b1, ws1] = [
    await backend('a1'),
    await backend('a2'),
    await backend('b1'),
    await backend('ws1', true),
  ];
  lbPort = await freePort();
  tcpPort = await freePort();
  sources.services.put(
    service('web', { type: 'LoadBalancer', ports: [{ name: 'http', port: lbPort, protocol: 'TCP' }] }),
  );
  sources.services.put(
    service('raw', { type: 'LoadBalancer', ports: [{ name: 'db', port: tcpPort, protocol: 'TCP' }] }),
  );
  sources.services.put(service('b', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
  sources.services.put(service('chat', { ports: [{ port: 8080, protocol: 'TCP' }] }));
  sources.endpointSlices.put(slice('web', 'http', a1, 1));
  sources.endpointSlices.put(slice('web', 'http', a2, 2));
  sources.endpointSlices.put(slice('raw', 'db', b1, 1));
  sources.endpointSlices.put(slice('b', 'http', b1, 1));
  sources.endpointSlices.put(slice('chat', '', ws1, 1));
  sources.ingressClasses.put(strataIngressClass());
  cert = await selfSignedServing('a.example.com', ['a.example.com']);
  sources.secrets.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'a-tls', namespace: 'default' },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(cert.cert).toString('base64'),
      'tls.key': Buffer.from(cert.key).toString('base64'),
    },
  });
  sources.ingresses.put({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'two-hosts', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      tls: [{ hosts: ['a.example.com'], secretName: 'a-tls' }],
      rules: [
        {
          host: 'a.example.com',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: 'web', port: { name: 'http' } } },
              },
            ],
          },
        },
        {
          host: 'b.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 'b', port: { number: 80 } } } },
            ],
          },
        },
        {
          host: 'chat.example.com',
          http: {
            paths: [
              {
                path: '/ws',
                pathType: 'Exact',
                backend: { service: { name: 'chat', port: { number: 8080 } } },
              },
            ],
          },
        },
      ],
    },
  });
  const defaultCert = await selfSignedServing('strata-gateway', ['localhost']);
  gw = new NodeGateway({
    nodeName: 'node-a',
    listenAddress: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    addresses: ['127.0.0.1'],
    defaultCertificate: defaultCert,
    coalesceMs: 5,
    status: {
      // As the API would: the status is stored, and the watch tells the gateway.
      service: async (svc, ingress) => {
        statuses.set(`svc/${svc.metadata.name}`, ingress);
        const now = sources.services.get('default', svc.metadata.name!);
        sources.services.put({ ...now, status: { loadBalancer: { ingress } } });
      },
      ingress: async (ing, ingress) => {
        statuses.set(`ing/${ing.metadata.name}`, ingress);
        const now = sources.ingresses.get('default', ing.metadata.name!);
        sources.ingresses.put({ ...now, status: { loadBalancer: { ingress } } });
      },
    },
    event: (obj, type, reason) => events.push(`${obj.kind}/${obj.metadata.name} ${type} ${reason}`),
  });
  await gw.start(sources);
});

afterAll(async () => {
  await gw?.stop();
  for (const s of backends) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('NodeGateway', () => {
  it('serves an Ingress port another process held as soon as it is freed', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const late = new NodeGateway({
      nodeName: 'node-b',
      listenAddress: '127.0.0.1',
      httpPort: port,
      addresses: ['127.0.0.1'],
      bindRetryMs: 20,
      defaultCertificate: await selfSignedServing('strata-gateway', ['localhost']),
    });
    try {
      await late.start(sources);
      expect(late.httpPort).toBe(0); // not served while the port is taken
      await new Promise((r) => blocker.close(r));
      for (let i = 0; late.httpPort !== port && i < 500; i++) await new Promise((r) => setTimeout(r, 20));
      expect(late.httpPort).toBe(port);
      expect((await get(port, 'a.example.com')).body).toMatch(/^a[12]$/);
    } finally {
      await late.stop();
    }
  });

  it('serves a LoadBalancer port at L7 over every ready backend, and writes its status', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await get(lbPort, 'anything')).body);
    expect([...seen].sort()).toEqual(['a1', 'a2']);
    expect(statuses.get('svc/web')).toEqual([
      { ip: '127.0.0.1', ipMode: 'Proxy', ports: [{ port: lbPort, protocol: 'TCP' }] },
    ]);
    const r = await get(lbPort, 'x');
    expect(r.headers['x-seen-forwarded-for']).toBe('127.0.0.1');
    expect(gw.loadBalancerPorts().find((p) => p.service === 'default/raw')?.l7).toBe(false);
  });

  it('serves a LoadBalancer port at L4 (TCP) when the port is not HTTP', async () => {
    const sock = net.connect(tcpPort, '127.0.0.1');
    sock.write('GET / HTTP/1.0\r\nhost: raw\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const c of sock) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nb1$/);
  });

  it('routes Ingress hosts to their Services, 404s others, and sets the Ingress status', async () => {
    expect((await get(gw.httpPort, 'a.example.com')).body).toMatch(/^a[12]$/);
    const b = await get(gw.httpPort, 'b.example.com:8080', '/any/path?q=1');
    expect(b.body).toBe('b1');
    expect(b.headers['x-seen-host']).toBe('b.example.com:8080');
    const none = await get(gw.httpPort, 'c.example.com');
    expect(none.status).toBe(404);
    expect(none.headers['x-strata-gateway-error']).toContain('no Ingress rule');
    expect((await get(gw.httpPort, 'chat.example.com', '/ws/more')).status).toBe(404); // Exact path
    await until('ingress status', () => statuses.get('ing/two-hosts'));
    expect(statuses.get('ing/two-hosts')).toEqual([{ ip: '127.0.0.1' }]);
  });

  it('speaks h2c on the HTTP port', async () => {
    const session = http2.connect(`http://127.0.0.1:${gw.httpPort}`);
    const req = session.request({ ':path': '/', ':authority': 'b.example.com' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    const status = await new Promise<number>((r) => req.on('response', (h) => r(h[':status'] as number)));
    await new Promise((r) => req.on('end', r));
    session.close();
    expect(status).toBe(200);
    expect(body).toBe('b1');
  });

  it('terminates TLS with the Ingress Secret by SNI (h2 by ALPN, and HTTP/1.1), default certificate otherwise', async () => {
    const session = http2.connect(`https://127.0.0.1:${gw.httpsPort}`, {
      servername: 'a.example.com',
      ca: cert.cert,
    });
    const req = session.request({ ':path': '/', ':authority': 'a.example.com' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    await new Promise((r) => req.on('end', r));
    expect(session.alpnProtocol).toBe('h2');
    session.close();
    expect(body).toMatch(/^a[12]$/);
    const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect(
        { port: gw.httpsPort, host: '127.0.0.1', servername: 'other.example.com', rejectUnauthorized: false },
        () => {
          resolve(s.getPeerCertificate());
          s.destroy();
        },
      );
      s.on('error', reject);
    });
    expect(peer.subject.CN).toBe('strata-gateway');
    const h1 = await new Promise<string>((resolve, reject) => {
      const r = (http as any).request(
        {
          host: '127.0.0.1',
          port: gw.httpsPort,
          servername: 'a.example.com',
          ca: cert.cert,
          headers: { host: 'a.example.com' },
          createConnection: (o: any) => tls.connect({ ...o, ALPNProtocols: ['http/1.1'] }),
        },
        (res: http.IncomingMessage) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        },
      );
      r.on('error', reject);
      r.end();
    });
    expect(h1).toMatch(/^a[12]$/);
  });

  it('relays WebSocket upgrades', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}/ws`, { headers: { host: 'chat.example.com' } });
    await new Promise((r, j) => {
      ws.on('open', r);
      ws.on('error', j);
    });
    ws.send('hello');
    const reply = await new Promise<string>((r) => ws.on('message', (m) => r(String(m))));
    ws.close();
    expect(reply).toBe('ws1:hello');
  });

  it('releases a LoadBalancer port when the Service stops being one, and clears its status', async () => {
    const svc = sources.services.get('default', 'web');
    sources.services.put({ ...svc, spec: { ...svc.spec, type: 'ClusterIP' } });
    await until('port released', async () => {
      try {
        await get(lbPort, 'x');
        return undefined;
      } catch {
        return true;
      }
    });
    await until('status cleared', () => statuses.get('svc/web')?.length === 0);
    // The Ingress still reaches the Service through the HTTP port.
    expect((await get(gw.httpPort, 'a.example.com')).body).toMatch(/^a[12]$/);
  });
});

describe('NodeGateway with the serving activator', () => {
  it('forwards a held request as soon as its revision gets a ready endpoint, inside the coalescing window', async () => {
    const own = {
      services: new Source<any>(),
      endpointSlices: new Source<any>(),
      ingresses: new Source<any>(),
      ingressClasses: new Source<any>(),
      secrets: new Source<any>(),
    };
    const held: number[] = [];
    const fn = new NodeGateway({
      nodeName: 'node-s',
      listenAddress: '127.0.0.1',
      httpPort: 0,
      addresses: ['127.0.0.1'],
      defaultCertificate: await selfSignedServing('strata-gateway', ['localhost']),
      // A window far longer than the test: only a change applied at once can answer the request.
      coalesceMs: 600_000,
      serving: { report: (_ns, _revision, stats) => held.push(stats.held) },
    });
    own.services.put(
      service(
        'fn',
        { ports: [{ name: 'http', port: 80 }] },
        {
          [ROUTES_ANNOTATION]: JSON.stringify({
            hosts: { 'fn.default.strata.local': [{ revision: 'fn-00001', percent: 100 }] },
          }),
        },
      ),
    );
    own.services.put(service('fn-00001', { ports: [{ name: 'http', port: 80 }] }));
    const port = await backend('fn-00001');
    try {
      await fn.start(own);
      // The pod has an address but is not ready: that change opens the window.
      const notReady = slice('fn-00001', 'http', port, 0);
      notReady.endpoints[0].conditions.ready = false;
      own.endpointSlices.put(notReady);
      const answer = get(fn.httpPort, 'fn.default.strata.local');
      await until('the request held', () => fn.serving!.heldNow() === 1);
      expect(held).toContain(1);
      // Ready now: the held request goes out without waiting for the window's end.
      own.endpointSlices.put(slice('fn-00001', 'http', port, 0));
      expect(await answer).toMatchObject({ status: 200, body: 'fn-00001' });
      expect(fn.serving!.heldNow()).toBe(0);
    } finally {
      await fn.stop();
    }
  });
});
