// Delivery against real HTTP servers on loopback: retries with Knative's backoff, final statuses, and
// the dead-letter sink.
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudEvent } from './cloudevents.ts';
import { parseIsoDuration } from '../../api/index.ts';
import { backoffMs, deliver } from './delivery.ts';
import { type RecordingSink, recordingSink } from './testing.ts';

const sinks: RecordingSink[] = [];
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

async function sink(statuses: number[]) {
  const s = await recordingSink(statuses);
  sinks.push(s);
  return s;
}

const event: CloudEvent = {
  specversion: '1.0',
  id: 'a',
  source: '/test',
  type: 'dev.strata.test',
  datacontenttype: 'text/plain',
  data: Buffer.from('hello'),
  extensions: {},
};

describe('delivery', () => {
  it('parses ISO 8601 durations and computes Knative backoff', () => {
    expect(parseIsoDuration('PT0.2S')).toBe(200);
    expect(parseIsoDuration('PT1M30S')).toBe(90_000);
    expect(parseIsoDuration('P1DT1H')).toBe(90_000_000);
    expect(parseIsoDuration('1s')).toBeUndefined();
    expect([1, 2, 3].map((n) => backoffMs({ backoffDelay: 'PT1S' }, n))).toEqual([2000, 4000, 8000]);
    expect([1, 2, 3].map((n) => backoffMs({ backoffDelay: 'PT1S', backoffPolicy: 'linear' }, n))).toEqual([
      1000, 2000, 3000,
    ]);
  });

  it('retries a failing sink with exponential backoff until it answers 2xx', async () => {
    const s = await sink([503, 500, 202]);
    const waits: number[] = [];
    const r = await deliver(
      event,
      s.url,
      { retry: 5, backoffDelay: 'PT0.01S' },
      { sleep: async (ms) => void waits.push(ms) },
    );
    expect(r).toMatchObject({ ok: true, deliveredTo: 'sink' });
    expect(r.attempts.map((a) => a.status)).toEqual([503, 500, 202]);
    expect(waits).toEqual([20, 40]);
    expect(s.got[2].headers).toMatchObject({
      'ce-id': 'a',
      'ce-type': 'dev.strata.test',
      'content-type': 'text/plain',
    });
    expect(s.got[2].body).toBe('hello');
  });

  it('does not retry a final answer (400), and dead-letters after the last retry', async () => {
    const bad = await sink([400]);
    expect((await deliver(event, bad.url, { retry: 3 }, { sleep: async () => {} })).attempts).toHaveLength(1);
    const down = await sink([503]);
    const dls = await sink([200]);
    const r = await deliver(
      event,
      down.url,
      { retry: 2 },
      { deadLetterSink: dls.url, sleep: async () => {} },
    );
    expect(r).toMatchObject({ ok: false, deliveredTo: 'deadLetterSink' });
    expect(down.got).toHaveLength(3);
    expect(dls.got[0].headers).toMatchObject({
      'ce-knativeerrorcode': '503',
      'ce-knativeerrordest': down.url,
    });
  });

  it('retries when nothing answers', async () => {
    const s = await sink([200]);
    const port = Number(new URL(s.url).port);
    await sinks.pop()!.close();
    const r = await deliver(event, `http://127.0.0.1:${port}/`, { retry: 1 }, { sleep: async () => {} });
    expect(r.ok).toBe(false);
    expect(r.attempts).toHaveLength(2);
    expect(r.attempts[0].error).toBeTruthy();
  });
});
