// A guest's arguments and environment (WASI preview1 `args_*` and `environ_*`), served from the run's
// own strings rather than by node:wasi.
//
// Why not node:wasi: every call that reaches node:wasi suspends the guest for a microtask (its code may
// only run on the thread's main stack, host-imports.ts), and a C or Rust program's start-up makes four
// of these calls before `main`. A WAGI request's instance makes them on every request: served here they
// are plain memory writes. It also means node:wasi's context no longer holds per-run strings, so one
// can be made before the run exists (a handler's spare instance, worker.ts).
//
// The layout is preview1's: `*_sizes_get(count_ptr, buf_size_ptr)` writes two u32s (the number of
// strings, their bytes with a NUL each); `*_get(ptrs_ptr, buf_ptr)` writes each string NUL-terminated into
// the buffer and its address into the pointer array. Environment entries are `NAME=value` in the order
// of the object's keys. A string is cut at an embedded NUL, as node:wasi's C strings cut it.

import { GuestFault, type GuestMemory } from './guest-memory.ts';
import { Errno } from './wasi-abi.ts';

/** A list of strings encoded once per run: what the guest's `*_sizes_get` and `*_get` read. */
export class StringTable {
  readonly count: number;
  /** Every string, NUL-terminated, back to back (the buffer `*_get` fills). */
  private readonly buf: Uint8Array;
  /** Each string's offset in `buf`. */
  private readonly offsets: Uint32Array;

  constructor(strings: readonly string[]) {
    const encoded = strings.map((s) => Buffer.from(cutAtNul(s), 'utf8'));
    this.count = encoded.length;
    this.offsets = new Uint32Array(encoded.length);
    let size = 0;
    for (let i = 0; i < encoded.length; i++) {
      this.offsets[i] = size;
      size += encoded[i].length + 1;
    }
    this.buf = new Uint8Array(size); // zero-filled: every string's NUL is already there
    for (let i = 0; i < encoded.length; i++) this.buf.set(encoded[i], this.offsets[i]);
  }

  static fromEnv(env: Record<string, string>): StringTable {
    return new StringTable(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  }

  /** `args_sizes_get` / `environ_sizes_get`. */
  sizesGet(mem: GuestMemory, countPtr: number, sizePtr: number): number {
    return guarded(() => {
      mem.check(countPtr, 4);
      mem.check(sizePtr, 4);
      const view = mem.view();
      view.setUint32(countPtr >>> 0, this.count, true);
      view.setUint32(sizePtr >>> 0, this.buf.length, true);
    });
  }

  /** `args_get` / `environ_get`. */
  get(mem: GuestMemory, ptrsPtr: number, bufPtr: number): number {
    return guarded(() => {
      mem.check(ptrsPtr, this.count * 4);
      mem.bytes(bufPtr, this.buf.length).set(this.buf);
      const view = mem.view();
      for (let i = 0; i < this.count; i++)
        view.setUint32((ptrsPtr >>> 0) + i * 4, ((bufPtr >>> 0) + this.offsets[i]) >>> 0, true);
    });
  }
}

function cutAtNul(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

function guarded(write: () => void): number {
  try {
    write();
    return Errno.SUCCESS;
  } catch (err) {
    if (err instanceof GuestFault) return Errno.FAULT;
    throw err;
  }
}
