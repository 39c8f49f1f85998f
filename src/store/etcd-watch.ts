// One Store watch on etcd: its own bidirectional Watch stream (an HTTP/2 stream on the client's shared
// channel), so that a compaction cancel, a reconnect or a slow consumer concerns this watch alone.
//
// Guarantees, as the Store contract asks: events in strictly increasing revision order, no gap, no duplicate
// (etcd sends them so per watch; after a broken stream the watch is re-created from the revision after the
// last one delivered, on whichever member answers); history first, then live. Delivery is asynchronous. If
// onEvent throws, the watch ends with onClose(err). If etcd cancels the watch because the revision it
// resumes from has been compacted, it ends with onClose(RevisionCompactedError) — the "410 Gone" a client
// answers by relisting.
import type { Etcd3, IWatchResponse, IKeyValue, IWatchRequest } from 'etcd3';
import { RevisionCompactedError, type KeyValue, type WatchEvent } from './store.ts';

type DuplexStream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

export interface EtcdWatchParams {
  client: Etcd3;
  /** Full etcd key range (root prefix included). */
  key: Buffer;
  rangeEnd: Buffer;
  /** Root prefix to strip from keys. */
  rootLength: number;
  /** First revision to deliver; 0 = from now. */
  fromRevision: number;
  onEvent: (ev: WatchEvent) => void;
  onClose: ((err?: Error) => void) | undefined;
  /** Called when the watch ends, so the store forgets it. */
  onEnd: () => void;
  /**
   * A stream etcd has not confirmed (created) within this is dropped and opened again — its member may be
   * cut off silently, before keepalive notices (0: wait for ever).
   */
  createTimeoutMs?: number;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 3_000;

export class EtcdWatch {
  #p: EtcdWatchParams;
  #stream: DuplexStream | undefined;
  /** The next revision to deliver (0 until the first stream is created "from now"). */
  #next: number;
  #ended = false;
  #backoff = RECONNECT_MIN_MS;
  /** The first stream was created: later failures reconnect instead of ending the watch. */
  #started = false;

  constructor(p: EtcdWatchParams) {
    this.#p = p;
    this.#next = p.fromRevision;
  }

  /** Opens the stream; resolves once etcd has created the watch (later writes are then seen). */
  async start(): Promise<void> {
    await this.#open();
    this.#started = true;
  }

  cancel(): void {
    this.#end(undefined, false);
  }

  /** Ends the watch because the store closes: onClose() without an error. */
  closeByStore(): void {
    this.#end(undefined, true);
  }

  #open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let created = false;
      this.#p.client.watchClient.watch().then(
        (stream) => {
          if (this.#ended) {
            closeQuietly(stream);
            resolve();
            return;
          }
          this.#stream = stream;
          stream.on('data', (res: IWatchResponse) => {
            if (stream !== this.#stream) return;
            if (res.created && !created) {
              created = true;
              this.#backoff = RECONNECT_MIN_MS;
              // "From now": the watch sees revisions after the one current when it was created.
              if (this.#next === 0) this.#next = Number(res.header.revision) + 1;
              resolve();
            }
            if (res.canceled) {
              const compact = Number(res.compact_revision);
              const err =
                compact > 0
                  ? new RevisionCompactedError(this.#next, compact)
                  : new Error(`etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`);
              if (!created) {
                created = true;
                reject(err);
              }
              this.#end(err, true);
              return;
            }
            this.#handle(res);
          });
          stream.on('error', (err: Error) => this.#broken(stream, err, created ? undefined : reject));
          stream.on('end', () =>
            this.#broken(stream, new Error('watch stream ended'), created ? undefined : reject),
          );
          const req: IWatchRequest = {
            create_request: {
              key: this.#p.key,
              range_end: this.#p.rangeEnd,
              start_revision: this.#next > 0 ? String(this.#next) : undefined,
              prev_kv: true,
            },
          };
          stream.write(req);
          // Not confirmed in time: its member may be silent. Drop the stream and open it again (the pool
          // picks members in turn); this open settles as that one does.
          const ms = this.#p.createTimeoutMs ?? 0;
          if (ms > 0) {
            const timer = setTimeout(() => {
              if (created || stream !== this.#stream || this.#ended) return;
              created = true; // this stream's later answers no longer settle the open
              this.#stream = undefined;
              // A plain cancel: it counts against the member, which did not answer.
              try {
                stream.cancel();
              } catch {
                // already gone
              }
              this.#open().then(resolve, reject);
            }, ms);
            timer.unref?.();
            stream.on('data', () => created && clearTimeout(timer));
            stream.on('error', () => clearTimeout(timer));
            stream.on('end', () => clearTimeout(timer));
          }
        },
        (err: unknown) => {
          if (!created) reject(err);
        },
      );
    });
  }

  /** A broken stream (member down, network): reconnect from the next revision, unless the first open failed. */
  #broken(stream: DuplexStream, err: Error, rejectFirst: ((e: Error) => void) | undefined): void {
    if (stream !== this.#stream || this.#ended) return;
    this.#stream = undefined;
    try {
      stream.cancel();
    } catch {
      // already gone
    }
    if (rejectFirst) {
      rejectFirst(err);
      // Only the first open ends the watch (start() rejects); a re-open that fails (etcd still down)
      // is retried by its caller.
      if (!this.#started) this.#end(undefined, false);
      return;
    }
    const delay = this.#backoff;
    this.#backoff = Math.min(RECONNECT_MAX_MS, this.#backoff * 2);
    setTimeout(() => {
      if (this.#ended) return;
      // A failed re-open (no member reachable yet) surfaces as another #broken or a rejection: retry.
      this.#open().catch((e: unknown) => {
        if (this.#ended) return;
        if (e instanceof RevisionCompactedError) return; // already ended by #end
        this.#retryLater();
      });
    }, delay);
  }

  #retryLater(): void {
    const delay = this.#backoff;
    this.#backoff = Math.min(RECONNECT_MAX_MS, this.#backoff * 2);
    setTimeout(() => {
      if (this.#ended) return;
      this.#open().catch(() => {
        if (!this.#ended) this.#retryLater();
      });
    }, delay);
  }

  #handle(res: IWatchResponse): void {
    for (const e of res.events ?? []) {
      if (this.#ended) return;
      const rev = Number(e.kv.mod_revision);
      // After a reconnect etcd resends nothing older than start_revision; this guard is belt and braces.
      if (rev < this.#next) continue;
      const ev = this.#toEvent(e.type === 'Delete' ? 'DELETE' : 'PUT', e.kv, e.prev_kv);
      this.#next = rev + 1;
      try {
        this.#p.onEvent(ev);
      } catch (err) {
        this.#end(err instanceof Error ? err : new Error(String(err)), true);
        return;
      }
    }
  }

  #toEvent(type: 'PUT' | 'DELETE', kv: IKeyValue, prev: IKeyValue | undefined | null): WatchEvent {
    const key = kv.key.toString('utf8').slice(this.#p.rootLength);
    const modRevision = Number(kv.mod_revision);
    if (type === 'DELETE') {
      // etcd's DELETE carries no value: the deleted one comes from prev_kv (absent only if compacted).
      return {
        type,
        kv: {
          key,
          value: prev ? parseValue(prev.value) : null,
          createRevision: prev ? Number(prev.create_revision) : 0,
          modRevision,
        },
        created: false,
      };
    }
    const createRevision = Number(kv.create_revision);
    const out: WatchEvent = {
      type,
      kv: { key, value: parseValue(kv.value), createRevision, modRevision },
      created: createRevision === modRevision,
    };
    if (prev && !out.created) out.prevKv = toKeyValue(key, prev);
    return out;
  }

  #end(err: Error | undefined, notify: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) closeQuietly(stream);
    this.#p.onEnd();
    if (!notify) return;
    if (this.#p.onClose !== undefined) {
      this.#p.onClose(err);
    } else if (err !== undefined) {
      // Nobody asked to hear how this watch ended; an error in an event callback must not vanish.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

/**
 * Cancels a stream this process no longer wants without counting it against its member. The etcd3 client
 * takes every error of a watch stream that is still writable (a cancel included: status CANCELLED) for a
 * failure of its member: three in a row open that member's circuit breaker for 5 s, and each one closes the
 * member's channels. Informers and API watches end many streams at once (a server stepping down, agents
 * reconnecting through another server), which opened the breakers of healthy members: every call then
 * failed ("Execution prevented because the circuit breaker is open") with quorum and a leader. Ending the
 * writable side first makes the cancel quiet.
 */
function closeQuietly(stream: DuplexStream): void {
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already gone
  }
}

export function parseValue(buf: Buffer): unknown {
  return JSON.parse(buf.toString('utf8'));
}

function toKeyValue(key: string, kv: IKeyValue): KeyValue {
  return {
    key,
    value: parseValue(kv.value),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}
