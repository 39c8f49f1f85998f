// Delivering a CloudEvent to a sink with Knative's delivery spec (eventing.knative.dev DeliverySpec):
// `retry` more attempts after the first, waiting `backoffDelay` (an ISO 8601 duration) times 2^n
// (exponential, the default) or times n (linear) before retry n, then the dead-letter sink when every
// attempt failed. What counts as failed follows Knative's dispatcher: no answer, a timeout, or a status
// 404, 408, 409, 429 or 5xx other than 501 — anything else is final (a 400 will not get better).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type DeliverySpec as ApiDeliverySpec, parseIsoDuration } from '../../api/index.ts';
import { type CloudEvent, toBinary } from './cloudevents.ts';

/** The delivery spec's retry part (the dead-letter sink comes resolved, as a URL, beside it). */
export type DeliverySpec = Omit<ApiDeliverySpec, 'deadLetterSink'>;

export interface Attempt {
  status?: number;
  error?: string;
}

export interface DeliveryResult {
  ok: boolean;
  /** Where the event finally went: the sink, the dead-letter sink, or nowhere. */
  deliveredTo?: 'sink' | 'deadLetterSink';
  attempts: Attempt[];
}

/** The wait before retry `n` (1-based), as Knative computes it. */
export function backoffMs(spec: DeliverySpec, n: number): number {
  const base = parseIsoDuration(spec.backoffDelay ?? 'PT0.2S') ?? 200;
  return spec.backoffPolicy === 'linear' ? base * n : base * 2 ** n;
}

export function retriable(a: Attempt): boolean {
  if (a.status === undefined) return true;
  const s = a.status;
  return s === 404 || s === 408 || s === 409 || s === 429 || (s >= 500 && s !== 501);
}

/** One POST of the event in binary mode; resolves with the status or the network error. */
export function post(
  url: string,
  e: CloudEvent,
  timeoutMs: number,
  extraHeaders: Record<string, string> = {},
): Promise<Attempt> {
  const { headers, body } = toBinary(e);
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(
      u,
      {
        method: 'POST',
        headers: { ...headers, ...extraHeaders, 'content-length': String(body.length) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
        res.on('error', (err) => resolve({ status: res.statusCode, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ error: err.message }));
    req.end(body);
  });
}

/**
 * A failed delivery in one line, for a Warning Event: `after 3 attempt(s): HTTP 500`, and whether the
 * dead-letter sink took it.
 */
export function describeFailure(r: DeliveryResult): string {
  const dead = r.deliveredTo === 'deadLetterSink';
  const toSink = dead ? r.attempts.slice(0, -1) : r.attempts;
  const last = toSink.at(-1);
  const why = last?.status !== undefined ? `HTTP ${last.status}` : (last?.error ?? 'not sent');
  return `after ${toSink.length} attempt(s): ${why}${dead ? '; sent to the dead-letter sink' : ''}`;
}

const ok = (a: Attempt) => a.status !== undefined && a.status >= 200 && a.status < 300;

/**
 * Deliver with retries, then to the dead-letter sink (one attempt series of its own) if every attempt
 * failed. `sleep` is injectable so tests can observe the waits; it defaults to a timer.
 */
export async function deliver(
  e: CloudEvent,
  sink: string,
  spec: DeliverySpec = {},
  o: {
    deadLetterSink?: string;
    headers?: Record<string, string>;
    sleep?: (ms: number) => Promise<void>;
    signal?: AbortSignal;
  } = {},
): Promise<DeliveryResult> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const timeoutMs = parseIsoDuration(spec.timeout ?? 'PT30S') ?? 30_000;
  const attempts: Attempt[] = [];
  const retries = Math.max(0, spec.retry ?? 0);
  for (let n = 0; n <= retries; n++) {
    if (n > 0) await sleep(backoffMs(spec, n));
    if (o.signal?.aborted) break;
    const a = await post(sink, e, timeoutMs, o.headers);
    attempts.push(a);
    if (ok(a)) return { ok: true, deliveredTo: 'sink', attempts };
    if (!retriable(a)) break;
  }
  if (o.deadLetterSink && !o.signal?.aborted) {
    // Knative adds the failure's details as extensions on the dead-lettered event.
    const last = attempts.at(-1);
    const dead: CloudEvent = {
      ...e,
      extensions: {
        ...e.extensions,
        knativeerrordest: sink,
        ...(last?.status !== undefined ? { knativeerrorcode: String(last.status) } : {}),
      },
    };
    const a = await post(o.deadLetterSink, dead, timeoutMs, o.headers);
    attempts.push(a);
    if (ok(a)) return { ok: false, deliveredTo: 'deadLetterSink', attempts };
  }
  return { ok: false, attempts };
}
