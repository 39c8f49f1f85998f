// Control-plane side of events: the ObjectStore sink and the TTL garbage collector. The recorder itself
// lives in src/lib/events.ts so the node agent can use it over HTTP without importing controllers.
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { type Log, defaultLog, errorCode, errorMessage } from '../lib/log.ts';
import type { EventSink } from '../lib/events.ts';

export * from '../lib/events.ts';

function eventKind() {
  const kind = kindFor('v1', 'Event');
  if (!kind) throw new Error('the v1 Event kind is not registered');
  return kind;
}

/** An EventSink writing straight into the ObjectStore (control-plane components in the server process). */
export function objectStoreEventSink(objects: ObjectStore): EventSink {
  return {
    create: (event) => objects.create(event, event.metadata.namespace),
    patch: (namespace, name, patch) => objects.patch(eventKind(), namespace, name, patch),
  };
}

// ---- garbage collection ----------------------------------------------------------------------------

export interface EventGarbageCollectorOptions {
  objects: ObjectStore;
  /** Events whose lastTimestamp is older than this are deleted. Default 3600 s. */
  ttlSeconds?: number;
  /** How often to look. Default min(ttl / 4, 60 s). */
  intervalMs?: number;
  now?: () => number;
  log?: Log;
}

/** Deletes Events not updated for `ttlSeconds` (kube-apiserver does this with a storage TTL). */
export class EventGarbageCollector {
  private readonly objects: ObjectStore;
  private readonly ttlMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly log: Log;
  private timer?: ReturnType<typeof setInterval>;
  private running?: Promise<number>;
  private stopped = false;

  constructor(opts: EventGarbageCollectorOptions) {
    this.objects = opts.objects;
    this.ttlMs = (opts.ttlSeconds ?? 3600) * 1000;
    this.intervalMs = opts.intervalMs ?? Math.max(1000, Math.min(this.ttlMs / 4, 60_000));
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? defaultLog;
  }

  async start(): Promise<void> {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => void this.collect(), this.intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; resolves with the number of Events deleted. Overlapping calls share a pass. */
  collect(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    this.running ??= this.collectOnce()
      .catch((err) => {
        this.log.warn({ err: errorMessage(err) }, 'event-gc: pass failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async collectOnce(): Promise<number> {
    const kind = eventKind();
    const cutoff = this.now() - this.ttlMs;
    const { items } = await this.objects.list(kind);
    let deleted = 0;
    for (const ev of items) {
      if (this.stopped) break;
      const at = Date.parse(
        ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? ev.metadata.creationTimestamp ?? '',
      );
      if (!Number.isFinite(at) || at > cutoff) continue;
      try {
        // Pinned to the version seen: an Event bumped meanwhile is fresh again and stays.
        await this.objects.delete(kind, ev.metadata.namespace, ev.metadata.name, {
          preconditions: { resourceVersion: ev.metadata.resourceVersion },
        });
        deleted++;
      } catch (err) {
        const code = errorCode(err);
        if (code !== 404 && code !== 409) throw err;
      }
    }
    if (deleted > 0) this.log.info({ deleted }, 'event-gc: deleted expired events');
    return deleted;
  }
}
