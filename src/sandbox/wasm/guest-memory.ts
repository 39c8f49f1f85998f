// Bounds-checked access to a guest's linear memory from host functions. The memory's ArrayBuffer is
// replaced whenever the guest grows it, so every access takes a fresh view.

import type { WasmMemory } from './webassembly.ts';

/** Thrown by host wrappers when the guest passed a pointer outside its memory (mapped to ERRNO_FAULT). */
export class GuestFault extends Error {}

export class GuestMemory {
  private memory: WasmMemory | undefined;

  attach(memory: WasmMemory): void {
    this.memory = memory;
  }

  get byteLength(): number {
    return this.memory ? this.memory.buffer.byteLength : 0;
  }

  view(): DataView {
    if (!this.memory) throw new GuestFault('guest memory is not attached yet');
    return new DataView(this.memory.buffer);
  }

  /**
   * A live view of [ptr, ptr+len) — valid until the guest next grows its memory. i32 arguments arrive
   * signed, so pointers are reinterpreted as unsigned here.
   */
  bytes(ptr: number, len: number): Uint8Array {
    this.check(ptr >>> 0, len >>> 0);
    return new Uint8Array(this.memory!.buffer, ptr >>> 0, len >>> 0);
  }

  string(ptr: number, len: number): string {
    return Buffer.from(this.bytes(ptr, len)).toString('utf8');
  }

  /** Throws GuestFault unless [ptr, ptr+len) (unsigned) lies inside the memory. */
  check(ptr: number, len: number): void {
    ptr >>>= 0;
    len >>>= 0;
    if (!this.memory) throw new GuestFault('guest memory is not attached yet');
    if (ptr + len > this.memory.buffer.byteLength) {
      throw new GuestFault(`guest pointer ${ptr}+${len} is outside its memory`);
    }
  }
}
