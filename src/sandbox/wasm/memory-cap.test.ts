import { describe, expect, it } from 'vitest';
import { SandboxError } from '../driver.ts';
import { encodeU32, readU32, WasmFormatError } from './leb128.ts';
import { applyMemoryCap, checkPreamble, formatBytes, PAGE_BYTES } from './memory-cap.ts';
import { Wasm, type WasmMemory } from './webassembly.ts';

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

function section(id: number, payload: number[]): number[] {
  return [id, ...encodeU32(payload.length), ...payload];
}
function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...encodeU32(b.length), ...b];
}
/** (memory (export "memory") min max?) — defined in the memory section. */
function definedMemory(min: number, max?: number, extra: number[] = []): Uint8Array {
  const limits = max === undefined ? [0x00, ...encodeU32(min)] : [0x01, ...encodeU32(min), ...encodeU32(max)];
  return Uint8Array.from([
    ...HEADER,
    ...extra,
    ...section(5, [0x01, ...limits]),
    ...section(7, [0x01, ...name('memory'), 0x02, 0x00]),
  ]);
}
/** A module importing a function, a global and a memory, re-exporting the memory. */
function importedMemory(min: number, max?: number): Uint8Array {
  const limits = max === undefined ? [0x00, ...encodeU32(min)] : [0x01, ...encodeU32(min), ...encodeU32(max)];
  return Uint8Array.from([
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x00, 0x00]), // type 0: () -> ()
    ...section(2, [
      0x03,
      ...name('env'),
      ...name('f'),
      0x00,
      0x00, // func, type 0
      ...name('env'),
      ...name('g'),
      0x03,
      0x7f,
      0x00, // global i32 const
      ...name('env'),
      ...name('memory'),
      0x02,
      ...limits,
    ]),
    ...section(7, [0x01, ...name('memory'), 0x02, 0x00]),
  ]);
}

function grow(bytes: Uint8Array, pages: number): boolean {
  const inst = new Wasm.Instance(new Wasm.Module(bytes), {});
  try {
    (inst.exports.memory as WasmMemory).grow(pages);
    return true;
  } catch {
    return false;
  }
}

describe('LEB128', () => {
  it('round-trips u32 values, including multi-byte ones', () => {
    for (const v of [0, 1, 127, 128, 255, 16384, 65536, 2 ** 31, 0xffffffff]) {
      expect(readU32(encodeU32(v), 0)).toEqual({ value: v, next: encodeU32(v).length });
    }
  });
  it('accepts padded encodings and rejects overflowing or truncated ones', () => {
    expect(readU32(Uint8Array.of(0x80, 0x80, 0x00), 0)).toEqual({ value: 0, next: 3 });
    expect(() => readU32(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f), 0)).toThrow(WasmFormatError);
    expect(() => readU32(Uint8Array.of(0x80, 0x80), 0)).toThrow(/truncated/);
  });
});

describe('applyMemoryCap', () => {
  it('adds a maximum to a memory that declared none', () => {
    const capped = applyMemoryCap(definedMemory(1), 4 * PAGE_BYTES);
    expect(capped.memories).toEqual([
      { imported: false, initialPages: 1, declaredMaxPages: undefined, maxPages: 4 },
    ]);
    expect(grow(capped.bytes, 3)).toBe(true);
    expect(grow(capped.bytes, 4)).toBe(false);
    expect(grow(definedMemory(1), 100)).toBe(true);
  });

  it('lowers a larger declared maximum and keeps a smaller one', () => {
    expect(applyMemoryCap(definedMemory(1, 1000), 8 * PAGE_BYTES).memories[0].maxPages).toBe(8);
    const small = applyMemoryCap(definedMemory(1, 2), 8 * PAGE_BYTES);
    expect(small.memories[0]).toMatchObject({ declaredMaxPages: 2, maxPages: 2 });
    expect(grow(small.bytes, 2)).toBe(false);
  });

  it('rounds the limit down to whole pages', () => {
    expect(applyMemoryCap(definedMemory(1), 5 * PAGE_BYTES - 1).capPages).toBe(4);
  });

  it('handles limits whose LEB128 encoding is longer than one byte', () => {
    // min 200 pages needs two LEB bytes; the added maximum of 300 two more.
    const capped = applyMemoryCap(definedMemory(200), 300 * PAGE_BYTES);
    expect(capped.bytes.length).toBe(definedMemory(200).length + 2);
    expect(grow(capped.bytes, 100)).toBe(true);
    expect(grow(capped.bytes, 101)).toBe(false);
  });

  it('re-encodes a section size that grows past one LEB128 byte (multi-memory)', () => {
    // 40 memories of 3 bytes each: a 121-byte section; capped, 5 bytes each: 201 bytes.
    const mems = Array.from({ length: 40 }, () => [0x00, ...encodeU32(200)]).flat();
    const bytes = Uint8Array.from([
      ...HEADER,
      ...section(5, [40, ...mems]),
      ...section(7, [0x01, ...name('memory'), 0x02, 0x00]),
    ]);
    const capped = applyMemoryCap(bytes, 300 * PAGE_BYTES);
    expect(capped.memories).toHaveLength(40);
    expect(capped.memories.every((m) => m.maxPages === 300)).toBe(true);
    expect(capped.bytes.length).toBe(bytes.length + 80 + 1);
    expect(grow(capped.bytes, 101)).toBe(false);
  });

  it('keeps custom sections and everything else byte for byte', () => {
    const custom = section(0, [...name('note'), 1, 2, 3]);
    const capped = applyMemoryCap(definedMemory(1, undefined, custom), 2 * PAGE_BYTES);
    expect([...capped.bytes.subarray(8, 8 + custom.length)]).toEqual(custom);
  });

  it('caps an imported memory, skipping function and global imports', () => {
    const capped = applyMemoryCap(importedMemory(1, 50), 3 * PAGE_BYTES);
    expect(capped.memories).toEqual([{ imported: true, initialPages: 1, declaredMaxPages: 50, maxPages: 3 }]);
    const imports = Wasm.Module.imports(new Wasm.Module(capped.bytes));
    expect(imports.map((i) => `${i.module}.${i.name}:${i.kind}`)).toEqual([
      'env.f:function',
      'env.g:global',
      'env.memory:memory',
    ]);
    // The host must now supply a memory whose maximum fits the rewritten import.
    const f = () => {};
    const ok = { env: { f, g: 0, memory: new Wasm.Memory({ initial: 1, maximum: 3 }) } };
    expect(() => new Wasm.Instance(new Wasm.Module(capped.bytes), ok)).not.toThrow();
    const tooBig = { env: { f, g: 0, memory: new Wasm.Memory({ initial: 1, maximum: 50 }) } };
    expect(() => new Wasm.Instance(new Wasm.Module(capped.bytes), tooBig)).toThrow();
  });

  it('returns the input untouched when no limit is given', () => {
    const bytes = definedMemory(1);
    const r = applyMemoryCap(bytes);
    expect(r.bytes).toBe(bytes);
    expect(r.memories[0].maxPages).toBeUndefined();
  });

  it('refuses a module whose initial memory is already over the limit', () => {
    expect(() => applyMemoryCap(definedMemory(32), 16 * PAGE_BYTES)).toThrow(SandboxError);
    expect(() => applyMemoryCap(definedMemory(32), 16 * PAGE_BYTES)).toThrow(
      /needs 2 MiB of linear memory at start, more than its memory limit of 1 MiB/,
    );
  });

  it('rejects what is not a core module, saying what it is', () => {
    expect(() => checkPreamble(new TextEncoder().encode('#!/bin/sh\n'))).toThrow(/not a WebAssembly module/);
    expect(() => checkPreamble(new Uint8Array())).toThrow(/empty file/);
    expect(() => checkPreamble(Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0))).toThrow(/component/);
    expect(() => applyMemoryCap(Uint8Array.from([...HEADER, 5, 10, 1]), PAGE_BYTES)).toThrow(/past the end/);
    expect(() =>
      applyMemoryCap(Uint8Array.from([...HEADER, ...section(5, [1, 0x04, 1])]), PAGE_BYTES),
    ).toThrow(/memory64/);
  });

  it('formats sizes for messages', () => {
    expect(formatBytes(16 * 1024 * 1024)).toBe('16 MiB');
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MiB');
    expect(formatBytes(640 * 1024)).toBe('640 KiB');
  });
});
