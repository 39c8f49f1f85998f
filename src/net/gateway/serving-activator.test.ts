// The activator against real HTTP servers on loopback: a request for a revision at zero is held, reported
// at once (the scale-up request) and forwarded when an instance is ready; containerConcurrency is honoured;
// a timeout answers 504, a full queue 503, a failed revision 503 with its reason; clients that leave are
// forgotten — and after every case no request is left held (the leak count).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  REVISION_SERVICE_ANNOTATIONS as RSA,
  ROUTES_ANNOTATION,
  type RevisionStats,
  type Service,
} from '../../api/index.ts';
import { HttpBackend } from './backend.ts';
import { routeConfig, upstreamConfig } from './config.ts';
import { Counters } from './counters.ts';
import { ServingActivator } from './serving-activator.ts';
import { hostName, pickTarget, ServingRouter } from './serving-routes.ts';
import { Upstream } from './upstream.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(handler: http.RequestListener): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as AddressInfo).port, server };
}

function routeService(table: object): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'fn',
      namespace: 'default',
      annotations: { [ROUTES_ANNOTATION]: JSON.stringify(table) },
    },
    spec: { ports: [{ name: 'http', port: 80 }] },
  } as unknown as Service;
}

function revisionService(name: string, annotations: Record<string, string>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', annotations },
    spec: {},
  } as Service;
}

interface Setup {
  activator: ServingActivator;
  reports: { revision: string; stats: RevisionStats }[];
  port: number;
  upstream: Upstream;
  setAnnotations(a: Record<string, string>): void;
  addBackend(port: number): void;
}

async function setup(annotations: Record<string, string> = {}): Promise<Setup> {
  const counters = new Counters();
  const reports: Setup['reports'] = [];
  const activator = new ServingActivator({
    counters,
    sink: { report: (_ns, revision, stats) => reports.push({ revision, stats }) },
    reportIntervalMs: 50,
  });
  closers.push(async () => activator.stop());
  const upstream = new Upstream('default/fn-00001:http', upstreamConfig({}), { counters });
  closers.push(async () => upstream.close());
  let svc = revisionService('fn-00001', annotations);
  activator.wanted([
    routeService({ hosts: { 'fn.default.strata.local': [{ revision: 'fn-00001', percent: 100 }] } }),
  ]);
  const update = () =>
    activator.update(() => ({
      svc,
      upstream,
      route: routeConfig(svc.metadata.annotations ?? {}),
      ready: upstream.backends().length,
    }));
  update();
  const front = await listen((req, res) => {
    if (!activator.handle(req, res, false)) res.writeHead(404).end();
  });
  return {
    activator,
    reports,
    port: front.port,
    upstream,
    setAnnotations(a) {
      svc = revisionService('fn-00001', a);
      update();
    },
    addBackend(port) {
      upstream.setBackends([{ id: `127.0.0.1:${port}`, create: () => new HttpBackend('127.0.0.1', port) }]);
      update();
    },
  };
}

function get(
  port: number,
  host = 'fn.default.strata.local',
): Promise<{ status: number; body: string; reason?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            body,
            reason: res.headers['x-strata-gateway-error'] as string | undefined,
          }),
        );
      })
      .on('error', reject);
  });
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(f()).toBe(true);
};

describe('the activator', () => {
  it('holds a request at zero, reports it at once, and forwards it when an instance is ready', async () => {
    const s = await setup();
    const backend = await listen((_req, res) => res.end('hello'));
    const pending = get(s.port);
    await until(() => s.activator.heldNow() === 1);
    expect(s.reports.find((r) => r.stats.held === 1)?.revision).toBe('fn-00001');
    s.addBackend(backend.port);
    const r = await pending;
    expect(r).toMatchObject({ status: 200, body: 'hello' });
    expect(s.activator.heldNow()).toBe(0);
    // Warm: straight through.
    expect((await get(s.port)).body).toBe('hello');
    await until(() => s.activator.activeNow() === 0);
    // Traffic shows in the reports.
    await until(() => s.reports.some((x) => x.stats.rps > 0));
  });

  it('answers 504 with the reason when no instance is ready within timeoutSeconds', async () => {
    const s = await setup({ [RSA.timeoutSeconds]: '0.2' });
    const r = await get(s.port);
    expect(r.status).toBe(504);
    expect(r.reason).toMatch(/no instance became ready/);
    expect(s.activator.heldNow()).toBe(0);
  });

  it('answers 503 when the queue is full, and 503 with the reason when instances cannot start', async () => {
    const s = await setup({ [RSA.queueDepth]: '1' });
    const first = get(s.port);
    await until(() => s.activator.heldNow() === 1);
    const second = await get(s.port);
    expect(second.status).toBe(503);
    expect(second.reason).toMatch(/queue .* is full/);
    s.setAnnotations({
      [RSA.queueDepth]: '1',
      [RSA.failure]: 'Revision "fn-00001": container user-container exited with code 3',
    });
    const held = await first;
    expect(held.status).toBe(503);
    expect(held.reason).toMatch(/exited with code 3/);
    expect((await get(s.port)).status).toBe(503);
    expect(s.activator.heldNow()).toBe(0);
  });

  it('honours containerConcurrency: never more requests in flight per instance', async () => {
    const s = await setup({ [RSA.containerConcurrency]: '1' });
    let inFlight = 0;
    let peak = 0;
    const backend = await listen((_req, res) => {
      peak = Math.max(peak, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.end('ok');
      }, 30);
    });
    s.addBackend(backend.port);
    const rs = await Promise.all(Array.from({ length: 6 }, () => get(s.port)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(peak).toBe(1);
    expect(s.activator.heldNow()).toBe(0);
  });

  it('forgets a held request whose client left', async () => {
    const s = await setup();
    const req = http.get({
      host: '127.0.0.1',
      port: s.port,
      path: '/',
      headers: { host: 'fn.default.strata.local' },
      agent: false,
    });
    req.on('error', () => {});
    await until(() => s.activator.heldNow() === 1);
    req.destroy();
    await until(() => s.activator.heldNow() === 0);
  });
});

describe('route hosts', () => {
  it('matches hosts without port or case, and splits by percent', () => {
    expect(hostName('Fn.Default.Strata.Local:8080')).toBe('fn.default.strata.local');
    const router = new ServingRouter([
      routeService({
        hosts: {
          'fn.default.strata.local': [
            { revision: 'a', percent: 80 },
            { revision: 'b', percent: 20 },
          ],
        },
      }),
    ]);
    const route = router.match('fn.default.strata.local:80')!;
    expect(route.targets).toHaveLength(2);
    expect(router.match('other')).toBeUndefined();
    expect(pickTarget(route.targets, () => 0.79)).toBe('a');
    expect(pickTarget(route.targets, () => 0.8)).toBe('b');
    let a = 0;
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 10_000; i++) if (pickTarget(route.targets, random) === 'a') a++;
    expect(Math.abs(a / 100 - 80)).toBeLessThan(2);
  });

  it('skips a table that is not JSON, and reports it', () => {
    const bad: string[] = [];
    const svc = routeService({});
    svc.metadata.annotations![ROUTES_ANNOTATION] = '{nope';
    expect(new ServingRouter([svc], (_s, why) => bad.push(why)).size).toBe(0);
    expect(bad).toHaveLength(1);
  });
});
