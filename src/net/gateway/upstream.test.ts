// The Upstream against real HTTP servers on loopback: spreading, retries when a backend dies, ejection
// of a backend answering 500s and its return, breakers, the retry budget, draining a backend that left.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpBackend } from './backend.ts';
import { upstreamConfig } from './config.ts';
import { Counters } from './counters.ts';
import { Upstream, type UpstreamEvent } from './upstream.ts';

interface TestServer {
  name: string;
  port: number;
  hits: number;
  mode: 'ok' | '500' | 'slow';
  server: http.Server;
}

const servers: TestServer[] = [];

async function serve(name: string): Promise<TestServer> {
  const t: TestServer = { name, port: 0, hits: 0, mode: 'ok', server: http.createServer() };
  t.server.on('request', (req, res) => {
    t.hits++;
    req.resume();
    if (t.mode === '500') res.writeHead(500).end('boom');
    else if (t.mode === 'slow') setTimeout(() => res.end(name), 300);
    else res.end(name);
  });
  await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
  t.port = (t.server.address() as AddressInfo).port;
  servers.push(t);
  return t;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
  }
});

function upstreamFor(list: TestServer[], annotations: Record<string, string> = {}) {
  const events: UpstreamEvent[] = [];
  const counters = new Counters();
  const u = new Upstream('default/web:http', upstreamConfig(annotations), {
    counters,
    onEvent: (e) => events.push(e),
  });
  u.setBackends(
    list.map((s) => ({ id: `127.0.0.1:${s.port}`, create: () => new HttpBackend('127.0.0.1', s.port) })),
  );
  return { u, events, counters };
}

const ROUTE = { retries: 2, timeoutMs: 5000, perTryTimeoutMs: 2000 };

async function get(u: Upstream, method = 'GET'): Promise<{ status: number; body: string }> {
  const r = await u.dispatch({ method, path: '/', headers: { host: 'web' } }, ROUTE);
  if (!r.ok) return { status: r.status, body: r.reason };
  const chunks: Buffer[] = [];
  for await (const c of r.response.body) chunks.push(c as Buffer);
  return { status: r.response.status, body: Buffer.concat(chunks).toString() };
}

describe('Upstream', () => {
  it('spreads requests over every ready backend (each policy)', async () => {
    const list = [await serve('a'), await serve('b'), await serve('c')];
    for (const policy of ['round-robin', 'least-request', 'peak-ewma']) {
      for (const s of list) s.hits = 0;
      const { u } = upstreamFor(list, { 'strata.dev/load-balancer': policy });
      await Promise.all(Array.from({ length: 90 }, () => get(u)));
      for (const s of list) expect(s.hits, `${policy} ${s.name}`).toBeGreaterThan(5);
      u.close();
    }
  });

  it('times every answered request into a Prometheus histogram per upstream', async () => {
    const list = [await serve('a'), await serve('b')];
    const { u, counters } = upstreamFor(list);
    await Promise.all(Array.from({ length: 12 }, () => get(u)));
    const text = counters.text();
    expect(text).toContain('# TYPE strata_gateway_upstream_response_seconds histogram');
    const count = /strata_gateway_upstream_response_seconds_count\{upstream="[^"]+"\} (\d+)/.exec(text);
    expect(Number(count?.[1])).toBe(12);
    const inf = /strata_gateway_upstream_response_seconds_bucket\{upstream="[^"]+",le="\+Inf"\} (\d+)/.exec(
      text,
    );
    expect(Number(inf?.[1])).toBe(12);
    // Buckets are cumulative: never decreasing from the smallest bound to +Inf.
    const buckets = [...text.matchAll(/_bucket\{[^}]*\} (\d+)/g)].map((m) => Number(m[1]));
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(text).toMatch(/strata_gateway_upstream_response_seconds_sum\{upstream="[^"]+"\} [0-9.e-]+/);
  });

  it("counts each backend's answers, and drops the series when the backend leaves", async () => {
    const list = [await serve('a'), await serve('b')];
    const { u, counters } = upstreamFor(list);
    await Promise.all(Array.from({ length: 20 }, () => get(u)));
    const perBackend = (s: TestServer) =>
      counters.get('strata_gateway_backend_requests_total', {
        upstream: 'default/web:http',
        backend: `127.0.0.1:${s.port}`,
      });
    // What each server saw is what was counted for it.
    expect(perBackend(list[0])).toBe(list[0].hits);
    expect(perBackend(list[1])).toBe(list[1].hits);
    expect(list[0].hits + list[1].hits).toBe(20);
    // `a` leaves rotation; once it is drained (nothing in flight) its series goes.
    u.setBackends([
      { id: `127.0.0.1:${list[1].port}`, create: () => new HttpBackend('127.0.0.1', list[1].port) },
    ]);
    expect(counters.text()).not.toContain(`backend="127.0.0.1:${list[0].port}"`);
    expect(counters.text()).toContain(`backend="127.0.0.1:${list[1].port}"`);
    u.close();
  });

  it('a backend that dies costs no failed request: connection refused is retried elsewhere', async () => {
    const list = [await serve('a'), await serve('b'), await serve('c')];
    const { u, counters } = upstreamFor(list);
    list[1].server.closeAllConnections();
    await new Promise((r) => list[1].server.close(r));
    const results = await Promise.all(Array.from({ length: 60 }, () => get(u, 'POST')));
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(counters.get('strata_gateway_retries_total')).toBeGreaterThan(0);
  });

  it('ejects a backend answering 500s, then lets it back after a successful half-open probe', async () => {
    const list = [await serve('a'), await serve('b'), await serve('c')];
    list[2].mode = '500';
    const { u, events, counters } = upstreamFor(list, {
      'strata.dev/outlier-consecutive-5xx': '3',
      'strata.dev/outlier-base-ejection-time': '300ms',
      'strata.dev/load-balancer': 'round-robin',
    });
    // Idempotent requests are retried on 5xx: the client sees no error.
    const first = await Promise.all(Array.from({ length: 30 }, () => get(u)));
    expect(first.every((r) => r.status === 200)).toBe(true);
    expect(events.find((e) => e.reason === 'OutlierEjected')?.backend).toBe(`127.0.0.1:${list[2].port}`);
    expect(counters.get('strata_gateway_outlier_ejections_total', { reason: 'consecutive-5xx' })).toBe(1);
    const hitsWhileEjected = list[2].hits;
    for (let i = 0; i < 20; i++) await get(u);
    expect(list[2].hits).toBe(hitsWhileEjected);
    list[2].mode = 'ok';
    await new Promise((r) => setTimeout(r, 350));
    for (let i = 0; i < 20; i++) await get(u);
    expect(events.some((e) => e.reason === 'OutlierReturned')).toBe(true);
    expect(list[2].hits).toBeGreaterThan(hitsWhileEjected + 3);
  });

  it('never ejects more than the max ejection percent', async () => {
    const list = [await serve('a'), await serve('b'), await serve('c')];
    for (const s of list) s.mode = '500';
    const { u, counters } = upstreamFor(list, { 'strata.dev/outlier-consecutive-5xx': '1' });
    for (let i = 0; i < 20; i++) expect((await get(u)).status).toBe(500);
    expect(counters.get('strata_gateway_outlier_ejections_total')).toBe(1);
  });

  it('trips the breaker at max-requests: requests go elsewhere, then 503 when every backend is full', async () => {
    const list = [await serve('a'), await serve('b')];
    for (const s of list) s.mode = 'slow';
    const { u, events, counters } = upstreamFor(list, { 'strata.dev/max-requests': '1' });
    const results = await Promise.all(Array.from({ length: 4 }, () => get(u)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    expect(results.filter((r) => r.status === 503)).toHaveLength(2);
    expect(results.find((r) => r.status === 503)?.body).toContain('max-requests');
    expect(
      counters.get('strata_gateway_circuit_breaker_trips_total', { limit: 'max-requests' }),
    ).toBeGreaterThan(0);
    expect(events.some((e) => e.reason === 'CircuitBreakerTripped')).toBe(true);
    // Limits are per request in flight: once they finish, there is room again.
    expect((await get(u)).status).toBe(200);
  });

  it('spends no retry past the budget: failures then reach the client', async () => {
    const list = [await serve('a'), await serve('b')];
    for (const s of list) s.mode = '500';
    const { u, counters } = upstreamFor(list, {
      'strata.dev/retry-budget-percent': '0',
      'strata.dev/retry-budget-min-per-second': '0',
      'strata.dev/outlier-consecutive-5xx': '1000',
    });
    expect((await get(u)).status).toBe(500);
    expect(counters.get('strata_gateway_retries_total')).toBe(0);
    expect(counters.get('strata_gateway_retry_budget_exhausted_total')).toBe(1);
  });

  it('does not retry a non-idempotent request the backend received', async () => {
    const a = await serve('a');
    a.mode = '500';
    const { u } = upstreamFor([a, await serve('b')], { 'strata.dev/load-balancer': 'round-robin' });
    const r = await get(u, 'POST');
    expect(r.status).toBe(500);
    expect(a.hits).toBe(1);
  });

  it('a backend leaving Ready gets no new requests, and its request in flight finishes', async () => {
    const a = await serve('a');
    const b = await serve('b');
    a.mode = 'slow';
    const { u } = upstreamFor([a], {});
    const inFlight = get(u);
    await new Promise((r) => setTimeout(r, 50));
    u.setBackends([{ id: `127.0.0.1:${b.port}`, create: () => new HttpBackend('127.0.0.1', b.port) }]);
    expect((await get(u)).body).toBe('b');
    expect(await inFlight).toEqual({ status: 200, body: 'a' });
    expect(u.backends().map((s) => s.id)).toEqual([`127.0.0.1:${b.port}`]);
  });
});
