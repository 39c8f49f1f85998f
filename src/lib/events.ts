// Events (`v1` Event): what a controller, the scheduler or an agent did and why, attached to the object
// it concerns ("Scaled up revision 3 to 4", "Created pod: hello-x7k2p", "Marking for deletion Pod ...").
//
// The recorder is client-go's EventRecorder + EventCorrelator, cut down:
// - `event(obj, type, reason, message)` returns at once and never throws: writing happens in the
//   background, so a slow or failing store never slows down or breaks the caller.
// - Repeats aggregate: the same involved object + type + reason + message (+ source) bumps `count` and
//   `lastTimestamp` of the Event already written instead of creating another one. Repeats that arrive
//   while a write is pending coalesce into one write.
// - Rate limited per involved object and source (a token bucket; Kubernetes' defaults: a burst of 25,
//   then one event per 5 minutes), and the backlog of unwritten events is bounded; what is over either
//   limit is dropped (and logged at debug level), as in Kubernetes — events are best effort.
// - Transport-agnostic: it writes through an `EventSink` (create + merge patch). The control plane uses
//   `objectStoreEventSink(objects)`; the node agent adapts its HTTP client to the same two calls.
//
// Events are named `<object name>.<hex timestamp>` and live in the object's namespace (`default` for
// cluster-scoped objects such as Nodes). `EventGarbageCollector` deletes those not updated for a TTL
// (default 1 h, like kube-apiserver's --event-ttl).
import { type Log, defaultLog, errorCode, errorMessage } from './log.ts';

export type EventType = 'Normal' | 'Warning';

/** Where events are written. Both calls may reject; the recorder handles that. */
export interface EventSink {
  /** Create an Event object (metadata.namespace and metadata.name are set). */
  create(event: any): Promise<unknown>;
  /** JSON merge patch of an existing Event; must reject with an error carrying `code: 404` when it is gone. */
  patch(namespace: string, name: string, patch: any): Promise<unknown>;
}

export interface EventSource {
  component: string;
  host?: string;
}

export interface EventRecorderOptions {
  sink: EventSink;
  /** source.component / reportingComponent, e.g. `deployment-controller`, `default-scheduler`, `strata-agent`. */
  component: string;
  /** source.host (the agents put their node name here). */
  host?: string;
  /** Events one involved object may get in a burst from one source. Default 25. */
  burst?: number;
  /** After the burst, one more event per this many ms. Default 300 000 (5 min). */
  refillIntervalMs?: number;
  /** Distinct events waiting to be written at most; more are dropped. Default 1000. */
  maxPending?: number;
  /** Writes in flight at once. Default 4. */
  concurrency?: number;
  /** Written events remembered for aggregation (LRU). Default 4096. */
  cacheSize?: number;
  /** Clock (ms since the epoch), for tests. */
  now?: () => number;
  log?: Log;
}

/** The object an event is about: any Kubernetes-shaped object (apiVersion, kind, metadata). */
export interface InvolvedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
}

const MAX_MESSAGE = 1024;
const MAX_NAME = 253;

interface Pending {
  key: string;
  source: EventSource;
  ref: { apiVersion?: string; kind: string; namespace?: string; name: string; uid?: string };
  type: EventType;
  reason: string;
  message: string;
  /** Occurrences not yet written. */
  count: number;
  first: number;
  last: number;
}

interface Written {
  namespace: string;
  name: string;
  count: number;
}

/** The state shared by a recorder and every `withComponent` view of it. */
class RecorderCore {
  readonly sink: EventSink;
  readonly log: Log;
  readonly now: () => number;
  private readonly burst: number;
  private readonly refillIntervalMs: number;
  private readonly maxPending: number;
  private readonly concurrency: number;
  private readonly cacheSize: number;
  private readonly pending = new Map<string, Pending>();
  private readonly inFlight = new Set<string>();
  private readonly written = new Map<string, Written>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private idleWaiters: (() => void)[] = [];
  private seq = 0;
  dropped = 0;

  constructor(opts: EventRecorderOptions) {
    this.sink = opts.sink;
    this.log = opts.log ?? defaultLog;
    this.now = opts.now ?? Date.now;
    this.burst = opts.burst ?? 25;
    this.refillIntervalMs = opts.refillIntervalMs ?? 300_000;
    this.maxPending = opts.maxPending ?? 1000;
    this.concurrency = opts.concurrency ?? 4;
    this.cacheSize = opts.cacheSize ?? 4096;
  }

  record(source: EventSource, obj: InvolvedObject, type: EventType, reason: string, message: string): void {
    const meta = obj?.metadata;
    if (!meta?.name || !obj.kind) return;
    const ref = {
      ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}),
      kind: obj.kind,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      name: meta.name,
      ...(meta.uid ? { uid: meta.uid } : {}),
    };
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const objectId = [
      source.component,
      source.host ?? '',
      ref.kind,
      ref.namespace ?? '',
      ref.name,
      ref.uid ?? '',
    ];
    const now = this.now();
    if (!this.take(objectId.join('\u0000'), now)) {
      this.drop('rate limited', ref, reason);
      return;
    }
    const key = [...objectId, type, reason, text].join('\u0000');
    const queued = this.pending.get(key);
    if (queued) {
      queued.count++;
      queued.last = now;
      return;
    }
    if (this.pending.size >= this.maxPending) {
      this.drop('backlog full', ref, reason);
      return;
    }
    this.pending.set(key, { key, source, ref, type, reason, message: text, count: 1, first: now, last: now });
    this.pump();
  }

  /** Resolves when nothing is pending or being written. */
  flush(): Promise<void> {
    if (this.pending.size === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Token bucket per involved object and source. */
  private take(id: string, now: number): boolean {
    let b = this.buckets.get(id);
    if (!b) {
      if (this.buckets.size >= 10_000) this.sweepBuckets(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(id, b);
    } else if (this.refillIntervalMs > 0) {
      const refill = Math.floor((now - b.at) / this.refillIntervalMs);
      if (refill > 0) {
        b.tokens = Math.min(this.burst, b.tokens + refill);
        b.at = b.tokens === this.burst ? now : b.at + refill * this.refillIntervalMs;
      }
    } else {
      b.tokens = this.burst;
    }
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }

  /** Forget buckets that have refilled completely (they would start full anyway). */
  private sweepBuckets(now: number): void {
    for (const [id, b] of this.buckets) {
      const refilled =
        this.refillIntervalMs <= 0 || b.tokens + (now - b.at) / this.refillIntervalMs >= this.burst;
      if (refilled) this.buckets.delete(id);
    }
  }

  private drop(why: string, ref: { kind: string; name: string }, reason: string): void {
    this.dropped++;
    this.log.debug({ kind: ref.kind, name: ref.name, reason, why }, 'event-recorder: event dropped');
  }

  private pump(): void {
    for (const [key, p] of this.pending) {
      if (this.inFlight.size >= this.concurrency) break;
      // One write per aggregation key at a time; later repeats wait for it and become a count bump.
      if (this.inFlight.has(key)) continue;
      this.pending.delete(key);
      this.inFlight.add(key);
      void this.write(p).finally(() => {
        this.inFlight.delete(key);
        this.pump();
      });
    }
    if (this.pending.size === 0 && this.inFlight.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async write(p: Pending): Promise<void> {
    const prev = this.written.get(p.key);
    const last = iso(p.last);
    try {
      if (prev) {
        const count = prev.count + p.count;
        try {
          await this.sink.patch(prev.namespace, prev.name, { count, lastTimestamp: last });
          prev.count = count;
          this.remember(p.key, prev);
          return;
        } catch (err) {
          // Collected (TTL) or deleted: start a new Event.
          if (errorCode(err) !== 404) throw err;
          this.written.delete(p.key);
        }
      }
      const namespace = p.ref.namespace ?? 'default';
      const name = this.eventName(p.ref.name, p.first);
      await this.sink.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: p.ref,
        reason: p.reason,
        message: p.message,
        type: p.type,
        source: { component: p.source.component, ...(p.source.host ? { host: p.source.host } : {}) },
        firstTimestamp: iso(p.first),
        lastTimestamp: last,
        count: p.count,
        reportingComponent: p.source.component,
        ...(p.source.host ? { reportingInstance: p.source.host } : {}),
      });
      this.remember(p.key, { namespace, name, count: p.count });
    } catch (err) {
      this.dropped++;
      this.log.warn(
        { kind: p.ref.kind, name: p.ref.name, reason: p.reason, err: errorMessage(err) },
        'event-recorder: could not write event',
      );
    }
  }

  private remember(key: string, w: Written): void {
    this.written.delete(key);
    this.written.set(key, w);
    if (this.written.size > this.cacheSize) {
      const oldest = this.written.keys().next().value;
      if (oldest !== undefined) this.written.delete(oldest);
    }
  }

  /** `<object>.<hex>`: the hex of the time in ns (like client-go) plus a sequence number for uniqueness. */
  private eventName(objectName: string, at: number): string {
    const suffix = (BigInt(at) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16);
    const room = MAX_NAME - suffix.length - 1;
    return `${objectName.length > room ? objectName.slice(0, room) : objectName}.${suffix}`;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Records Events about objects. Cheap to call from anywhere; never throws, never waits. `withComponent`
 * gives views with another source that share the backlog, aggregation cache and rate limits.
 */
export class EventRecorder {
  readonly source: EventSource;
  private readonly core: RecorderCore;

  constructor(opts: EventRecorderOptions);
  constructor(opts: EventRecorderOptions, shared?: { core: RecorderCore; source: EventSource }) {
    if (shared) {
      this.core = shared.core;
      this.source = shared.source;
    } else {
      this.core = new RecorderCore(opts);
      this.source = { component: opts.component, ...(opts.host ? { host: opts.host } : {}) };
    }
  }

  /** The same recorder (backlog, cache, limits) reporting as another component (and host). */
  withComponent(component: string, host: string | undefined = this.source.host): EventRecorder {
    const source = { component, ...(host ? { host } : {}) };
    return new (EventRecorder as any)(undefined, { core: this.core, source }) as EventRecorder;
  }

  /** Record that `reason` happened to `obj` (Kubernetes' recorder.Event). */
  event(obj: InvolvedObject, type: EventType, reason: string, message: string): void {
    try {
      this.core.record(this.source, obj, type, reason, message);
    } catch (err) {
      this.core.log.warn({ reason, err: errorMessage(err) }, 'event-recorder: could not record event');
    }
  }

  normal(obj: InvolvedObject, reason: string, message: string): void {
    this.event(obj, 'Normal', reason, message);
  }

  warning(obj: InvolvedObject, reason: string, message: string): void {
    this.event(obj, 'Warning', reason, message);
  }

  /** Resolves when every event recorded so far has been written (or dropped). */
  flush(): Promise<void> {
    return this.core.flush();
  }

  /** Events dropped so far (rate limit, full backlog, write failures). */
  get dropped(): number {
    return this.core.dropped;
  }
}

/** A recorder that writes nothing (tests, tools). */
export function discardingRecorder(component = 'discard'): EventRecorder {
  return new EventRecorder({
    component,
    sink: { create: async () => undefined, patch: async () => undefined },
  });
}
