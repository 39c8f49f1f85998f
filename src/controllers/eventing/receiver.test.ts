// The receiver over real HTTP: binary and structured events accepted (202) and delivered to the sink,
// bad ones refused with 400 naming the attribute, a failing sink retried until it succeeds.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudEventsReceiver, type Destination } from './receiver.ts';
import { recordingSink } from './testing.ts';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function sink(statuses: number[]) {
  const s = await recordingSink(statuses);
  closers.push(() => s.close());
  return s;
}

function post(port: number, path: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(b) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function receiver(to: Destination) {
  const r = new CloudEventsReceiver({ route: (p) => (p === '/default/orders' ? () => [to] : undefined) });
  await r.start();
  closers.unshift(() => r.stop());
  return r;
}

describe('CloudEventsReceiver', () => {
  it('accepts binary and structured events and delivers both to the sink in binary mode', async () => {
    const s = await sink([200]);
    const r = await receiver({ uri: s.url });
    const bin = await post(
      r.port,
      '/default/orders',
      {
        'ce-specversion': '1.0',
        'ce-id': 'b1',
        'ce-source': '/shop',
        'ce-type': 'order.created',
        'content-type': 'text/plain',
      },
      'binary body',
    );
    expect(bin.status).toBe(202);
    const st = await post(
      r.port,
      '/default/orders',
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify({
        specversion: '1.0',
        id: 's1',
        source: '/shop',
        type: 'order.paid',
        data: { total: 3 },
      }),
    );
    expect(st.status).toBe(202);
    await r.drain();
    expect(s.got.map((g) => g.headers['ce-id']).sort()).toEqual(['b1', 's1']);
    const paid = s.got.find((g) => g.headers['ce-id'] === 's1')!;
    expect(JSON.parse(paid.body)).toEqual({ total: 3 });
    expect(paid.headers['content-type']).toBe('application/json');
  });

  it('answers 400 naming the missing attribute, and delivers nothing', async () => {
    const s = await sink([200]);
    const r = await receiver({ uri: s.url });
    const res = await post(
      r.port,
      '/default/orders',
      { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't' },
      '',
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ kind: 'Status', code: 400, details: { causes: [{ field: 'source' }] } });
    expect(res.body.message).toContain('"source"');
    expect((await post(r.port, '/nowhere', {}, '')).status).toBe(404);
    await r.drain();
    expect(s.got).toHaveLength(0);
  });

  it('retries a failing sink with backoff until it succeeds', async () => {
    const s = await sink([500, 503, 200]);
    const outcomes: unknown[] = [];
    const r = new CloudEventsReceiver({
      route: () => () => [
        { uri: s.url, delivery: { retry: 4, backoffPolicy: 'linear', backoffDelay: 'PT0.05S' } },
      ],
      onDelivered: (_e, _to, result) => outcomes.push(result),
    });
    await r.start();
    closers.unshift(() => r.stop());
    const res = await post(
      r.port,
      '/any',
      { 'ce-specversion': '1.0', 'ce-id': 'r1', 'ce-source': '/s', 'ce-type': 't' },
      '',
    );
    expect(res.status).toBe(202);
    await r.drain();
    expect(s.got).toHaveLength(3);
    expect(outcomes[0]).toMatchObject({
      ok: true,
      attempts: [{ status: 500 }, { status: 503 }, { status: 200 }],
    });
  });
});
