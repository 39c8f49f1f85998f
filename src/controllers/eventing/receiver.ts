// A CloudEvents HTTP receiver: accepts events in binary or structured mode, answers 400 naming the
// attribute at fault (a Kubernetes-style Status, so clients of the API read it the same way), 202 once
// an event is accepted, then delivers it to every destination its path's route gives for it, with
// Knative's retries and dead-letter sink (delivery.ts). The Broker ingress (broker.ts) is one.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Status, statusFailure } from '../../api/index.ts';
import { type CloudEvent, CloudEventError, parseHttp } from './cloudevents.ts';
import { type DeliveryResult, type DeliverySpec, deliver } from './delivery.ts';

/** Bodies larger than this are refused (413): events are small; Knative's default limit is similar. */
export const MAX_EVENT_BYTES = 4 << 20;

export interface Destination {
  /** Who the destination is, for onDelivered (e.g. a Trigger's `namespace/name`). */
  id?: string;
  /** The sink's URL. */
  uri: string;
  delivery?: DeliverySpec;
  deadLetterSink?: string;
  /** Extra headers on every delivery (e.g. a Host header for the gateway's routing). */
  headers?: Record<string, string>;
}

export type Answer = { status: number; body: Status | Record<string, unknown>; event?: CloudEvent };

function statusBody(code: number, reason: string, message: string, field?: string): Status {
  return statusFailure(
    code,
    reason,
    message,
    field ? { causes: [{ reason: 'FieldValueRequired', field, message }] } : undefined,
  );
}

/** Judge one request: the event, or the error answer. Pure apart from reading its arguments. */
export function acceptRequest(
  method: string,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): Answer {
  if (method !== 'POST')
    return {
      status: 405,
      body: statusBody(405, 'MethodNotAllowed', `${method} is not allowed: POST a CloudEvent`),
    };
  try {
    const event = parseHttp(headers, body);
    return { status: 202, body: { id: event.id, accepted: true }, event };
  } catch (err) {
    if (err instanceof CloudEventError)
      return {
        status: 400,
        body: statusBody(400, 'BadRequest', err.message, err.attribute),
        event: undefined,
      };
    throw err;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_EVENT_BYTES) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Where one accepted event goes: every destination it matches (none is fine: accepted, delivered nowhere). */
export type EventRoute = (event: CloudEvent) => Destination[] | Promise<Destination[]>;

export interface ReceiverOptions {
  /** The route of events POSTed to `path`; undefined → 404. */
  route(path: string): EventRoute | undefined;
  host?: string;
  port?: number;
  /** Told about every delivery outcome (events, logs, tests). */
  onDelivered?(event: CloudEvent, to: Destination, result: DeliveryResult): void;
}

/** An HTTP server receiving CloudEvents and delivering each to the destinations its path routes it to. */
export class CloudEventsReceiver {
  private server?: Server;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly o: ReceiverOptions;
  constructor(o: ReceiverOptions) {
    this.o = o;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
    });
  }

  private send(res: ServerResponse, a: Answer): void {
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a.body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    const to = this.o.route(path);
    if (!to)
      return this.send(res, {
        status: 404,
        body: statusBody(404, 'NotFound', `no event destination at ${path}`),
      });
    const body = await readBody(req).catch(() => undefined);
    if (!body)
      return this.send(res, {
        status: 413,
        body: statusBody(413, 'RequestEntityTooLarge', `events are limited to ${MAX_EVENT_BYTES} bytes`),
      });
    const a = acceptRequest(req.method ?? 'GET', req.headers, body);
    this.send(res, a);
    if (!a.event) return;
    const event = a.event;
    const p = Promise.resolve(to(event)).then((destinations) =>
      Promise.all(
        destinations.map((d) =>
          deliver(event, d.uri, d.delivery, {
            deadLetterSink: d.deadLetterSink,
            headers: d.headers,
            signal: this.abort.signal,
          }).then((r) => this.o.onDelivered?.(event, d, r)),
        ),
      ),
    );
    this.inflight.add(p);
    // A route that fails to resolve (its store unreachable) loses the event, as a broker that crashes
    // after 202 would: the sender was already answered.
    void p.catch(() => {}).finally(() => this.inflight.delete(p));
  }

  /** Deliveries still running (tests, graceful stop). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.drain();
  }
}
