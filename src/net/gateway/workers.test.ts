// The gateway on two threads (workers.ts), in one process: real SO_REUSEPORT listeners on a worker thread
// and the main thread, real HTTP clients and backends. The API objects come from in-memory list-watch
// sources, as in gateway.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedServing } from '../../auth/pki.ts';
import type { InformerWatchEvent, ListWatch } from '../../lib/informer.ts';
import { freePort } from '../../lib/free-port.ts';
import { upstreamConfig } from './config.ts';
import { Counters } from './counters.ts';
import { NodeGateway } from './gateway.ts';
import { gatewayWorkerCount, shareLimits } from './workers.ts';

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
    for (const w of this.watchers) w({ type: 'DELETED', object: o });
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
const servers: http.Server[] = [];
const events: { reason: string; message: string }[] = [];
let gw: NodeGateway;
let lbPort: number;

async function backend(answer: (res: http.ServerResponse) => void): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    answer(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

const lbService = (annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', uid: 'uid-web', annotations },
  spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: lbPort, protocol: 'TCP' }] },
});

const slice = (port: number) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
});

/** One request on a connection of its own (so the kernel picks a listener each time). */
function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const total = () => gw.counters.get('strata_gateway_requests_total');

beforeAll(async () => {
  lbPort = await freePort();
  const a = await backend((res) => res.end('a'));
  sources.services.put(lbService());
  sources.endpointSlices.put(slice(a));
  gw = new NodeGateway({
    nodeName: 'n1',
    listenAddress: '127.0.0.1',
    addresses: ['127.0.0.1'],
    defaultCertificate: await selfSignedServing('gw', ['localhost']),
    workers: 2,
    coalesceMs: 5,
    event: (_obj, _type, reason, message) => events.push({ reason, message }),
  });
  await gw.start(sources);
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  for (const s of servers) s.close();
});

describe('a gateway on two threads', () => {
  it('serves a LoadBalancer port from both threads, and counts every request once on the main thread', async () => {
    expect(gw.threads).toBe(2);
    const before = total();
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(lbPort)));
    expect(answers.every((r) => r.status === 200 && r.body === 'a')).toBe(true);
    // The worker's counters arrive within a push interval; then the sum is exact.
    await until('40 requests counted', () => total() - before === 40);
    // Some of them were answered by the worker thread: this thread's own series hold fewer than 40.
    const own = new Counters();
    own.absorb('self', gw.counters.snapshot());
    expect(own.get('strata_gateway_requests_total') - before).toBeLessThan(40);
    expect(gw.counters.text()).toMatch(
      /strata_gateway_requests_total\{code="200",upstream="default\/web:http"\} \d+/,
    );
  });

  it('follows an EndpointSlice change on every thread', async () => {
    const b = await backend((res) => res.end('b'));
    sources.endpointSlices.put(slice(b));
    await until('every connection answered by b', async () => {
      const answers = await Promise.all(Array.from({ length: 30 }, () => get(lbPort)));
      return answers.every((r) => r.body === 'b');
    });
  });

  it('forwards the workers’ Events, and counts their ejections with the main thread’s', async () => {
    const failing = await backend((res) => {
      res.statusCode = 500;
      res.end('no');
    });
    sources.services.put(lbService({ 'strata.dev/outlier-consecutive-5xx': '2', 'strata.dev/retries': '0' }));
    sources.endpointSlices.put(slice(failing));
    await until('both threads sent requests to the failing backend', async () => {
      await Promise.all(Array.from({ length: 20 }, () => get(lbPort)));
      // Each thread ejects on its own (max ejection percent lets the only backend go: it fails open).
      return events.filter((e) => e.reason === 'OutlierEjected').length >= 2;
    });
    await until(
      'ejections counted as Events are',
      () =>
        gw.counters.get('strata_gateway_outlier_ejections_total') ===
          events.filter((e) => e.reason === 'OutlierEjected').length || undefined,
    );
  });

  it('closes the port on every thread when the Service goes', async () => {
    sources.services.remove(lbService());
    await until('the port refuses every connection', async () => {
      const tries = await Promise.allSettled(Array.from({ length: 20 }, () => get(lbPort)));
      return tries.every((t) => t.status === 'rejected');
    });
  });
});

describe('shared limits', () => {
  it('divides the breaker limits (rounded up) and the retry budget floor between the threads', () => {
    const config = upstreamConfig(
      { 'strata.dev/max-requests': '5', 'strata.dev/max-connections': '1' },
      () => {},
    );
    const half = shareLimits(config, 2);
    expect(half.breaker).toEqual({ maxRequests: 3, maxConnections: 1, maxPendingRequests: 512 });
    expect(half.retryBudget.minPerSecond).toBe(config.retryBudget.minPerSecond / 2);
    expect(shareLimits(config, 1)).toBe(config);
  });

  it('reads the thread count from STRATA_GATEWAY_WORKERS, else 1', () => {
    expect(gatewayWorkerCount({ STRATA_GATEWAY_WORKERS: '3' })).toBe(3);
    expect(gatewayWorkerCount({ STRATA_GATEWAY_WORKERS: 'x' })).toBe(1);
    expect(gatewayWorkerCount({ STRATA_GATEWAY_WORKERS: '0' })).toBe(1);
    expect(gatewayWorkerCount({})).toBe(1);
  });
});
