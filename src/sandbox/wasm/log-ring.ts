// A single-producer/single-consumer byte ring in the control SharedArrayBuffer that carries the
// stdout/stderr of every guest of a worker to the agent thread (one producer: the worker's thread).
//
// Why not one postMessage per fd_write: a chatty guest makes hundreds of thousands of small writes,
// and output still buffered in a worker is lost when that worker is killed. With the ring every
// write is visible to the agent as soon as fd_write returns, the agent drains many writes into one
// LogSink.write, and a full ring suspends the writing guest (bounded memory) instead of queueing
// messages; the other guests of the worker run meanwhile.
//
// Record: u32 little-endian header = (length << 1) | stream, u32 guest id, then `length` bytes;
// records wrap around the end of the ring. Positions are free-running u32 byte counters (RING_BYTES divides 2^32).

import { RING_BYTES, RING_KICK, RING_OFFSET, RING_READ, RING_WRITE } from './control.ts';

export type StreamName = 'stdout' | 'stderr';

const MASK = RING_BYTES - 1;
/** Largest payload per record; bigger writes are split, so a record always fits an empty ring. */
export const MAX_RECORD = RING_BYTES / 4;
/** How long a writer waits for the agent between checks of its abort condition. */
const FULL_WAIT_MS = 50;
const HEADER_BYTES = 8;

interface WaitAsync {
  waitAsync(
    ta: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: boolean; value: Promise<string> | string };
}
const atomics = Atomics as unknown as WaitAsync;

function views(sab: SharedArrayBuffer): { ctl: Int32Array; data: Uint8Array } {
  return { ctl: new Int32Array(sab, 0, RING_OFFSET / 4), data: new Uint8Array(sab, RING_OFFSET, RING_BYTES) };
}

export class LogRingWriter {
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly requestDrain: () => void;

  /** @param requestDrain asks the agent to drain now (posts a message); called at most once per drain. */
  constructor(sab: SharedArrayBuffer, requestDrain: () => void) {
    const v = views(sab);
    this.ctl = v.ctl;
    this.data = v.data;
    this.requestDrain = requestDrain;
  }

  /**
   * Writes `bytes` for `guest`. Returns undefined when all of it is in the ring, or a promise when the
   * ring filled up: the rest is written as the agent drains, and the caller (a guest's host call)
   * suspends until then. `checkAbort` throws to abandon such a wait (e.g. the guest is being stopped).
   * `bytes` must stay valid until the promise settles (a suspended guest cannot change its memory).
   */
  write(
    guest: number,
    stream: StreamName,
    bytes: Uint8Array,
    checkAbort: () => void = () => {},
  ): Promise<void> | undefined {
    const tag = stream === 'stderr' ? 1 : 0;
    for (let off = 0; off < bytes.length;) {
      const n = Math.min(MAX_RECORD, bytes.length - off);
      const read = Atomics.load(this.ctl, RING_READ);
      const w = Atomics.load(this.ctl, RING_WRITE) >>> 0;
      if (RING_BYTES - ((w - read) >>> 0) < HEADER_BYTES + n) {
        this.kick();
        const rest = bytes.subarray(off);
        return this.waitForRoom(read).then(() => {
          checkAbort();
          return this.write(guest, stream, rest, checkAbort);
        });
      }
      this.put(w, new Uint8Array(new Uint32Array([(n << 1) | tag, guest]).buffer));
      this.put(w + HEADER_BYTES, bytes.subarray(off, off + n));
      // Publish only whole records: a reader never sees a half-written one, even if we die here.
      Atomics.store(this.ctl, RING_WRITE, (w + HEADER_BYTES + n) | 0);
      off += n;
    }
    if (this.used() >= RING_BYTES / 2) this.kick();
    return undefined;
  }

  /** True when the agent has not yet drained everything written. */
  pending(): boolean {
    return this.used() > 0;
  }

  /** Ask the agent to drain (before a guest blocks, so its last lines reach the log promptly). */
  kick(): void {
    if (Atomics.compareExchange(this.ctl, RING_KICK, 0, 1) === 0) this.requestDrain();
  }

  private used(): number {
    return (Atomics.load(this.ctl, RING_WRITE) - Atomics.load(this.ctl, RING_READ)) >>> 0;
  }

  /** Resolves when the read position moves from `read` (or after a while, to re-check the abort). */
  private async waitForRoom(read: number): Promise<void> {
    const r = atomics.waitAsync(this.ctl, RING_READ, read, FULL_WAIT_MS);
    if (r.async) await r.value;
  }

  private put(pos: number, bytes: Uint8Array): void {
    const at = pos & MASK;
    const first = Math.min(bytes.length, RING_BYTES - at);
    this.data.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }
}

export class LogRingReader {
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    const v = views(sab);
    this.ctl = v.ctl;
    this.data = v.data;
  }

  /**
   * Moves everything written so far to `deliver`, merging consecutive records of one guest and stream
   * into one chunk. Returns the number of payload bytes delivered.
   */
  drain(deliver: (guest: number, stream: StreamName, chunk: Uint8Array) => void): number {
    // Clear the kick flag first: a write that lands after this point asks for another drain.
    Atomics.store(this.ctl, RING_KICK, 0);
    const write = Atomics.load(this.ctl, RING_WRITE) >>> 0;
    let read = Atomics.load(this.ctl, RING_READ) >>> 0;
    if (read === write) return 0;
    const out: Array<{ guest: number; stream: StreamName; parts: Uint8Array[]; size: number }> = [];
    let total = 0;
    while (read !== write) {
      const [header, guest] = new Uint32Array(this.take(read, HEADER_BYTES).slice().buffer);
      const stream: StreamName = header & 1 ? 'stderr' : 'stdout';
      const len = header >>> 1;
      const payload = this.take(read + HEADER_BYTES, len);
      const last = out[out.length - 1];
      if (last && last.stream === stream && last.guest === guest) {
        last.parts.push(payload);
        last.size += len;
      } else {
        out.push({ guest, stream, parts: [payload], size: len });
      }
      total += len;
      read = (read + HEADER_BYTES + len) >>> 0;
    }
    // Free the space before delivering, so a blocked writer resumes while the sink works.
    Atomics.store(this.ctl, RING_READ, read | 0);
    Atomics.notify(this.ctl, RING_READ);
    for (const o of out)
      deliver(o.guest, o.stream, o.parts.length === 1 ? o.parts[0] : concat(o.parts, o.size));
    return total;
  }

  /** Copies `len` bytes at ring position `pos` out of shared memory. */
  private take(pos: number, len: number): Uint8Array {
    const at = pos & MASK;
    const first = Math.min(len, RING_BYTES - at);
    if (first === len) return this.data.slice(at, at + len);
    const out = new Uint8Array(len);
    out.set(this.data.subarray(at, at + first), 0);
    out.set(this.data.subarray(0, len - first), first);
    return out;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
