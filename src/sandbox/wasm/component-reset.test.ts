// exposeState / StateSnapshot on real modules compiled and run by V8: a module with a mutable global,
// a memory cell and a table, assembled here byte by byte (no wat toolchain on the node).
import { describe, expect, it } from 'vitest';
import { exposeState, STATE_EXPORT_PREFIX, StateSnapshot } from './component-reset.ts';
import { WasmFormatError } from './leb128.ts';
import { Wasm, type WasmInstance } from './webassembly.ts';

const section = (id: number, ...payload: number[]): number[] => [id, payload.length, ...payload];
const body = (...code: number[]): number[] => [code.length + 1, 0x00, ...code];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * bump(): global g += 1; mem[0] += 1; returns g.   grow(): memory.grow(1).
 * A funcref table of 1 holding bump. `exports` false: the module exports nothing at all.
 */
function counterModule(exports = true): Uint8Array {
  const bump = body(
    ...[0x23, 0x00, 0x41, 0x01, 0x6a, 0x24, 0x00], // g = g + 1
    ...[0x41, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x41, 0x01, 0x6a, 0x36, 0x02, 0x00], // mem[0] += 1
    ...[0x23, 0x00, 0x0b], // return g
  );
  const grow = body(0x41, 0x01, 0x40, 0x00, 0x0b); // memory.grow(1)
  const name = (s: string) => [s.length, ...new TextEncoder().encode(s)];
  return Uint8Array.from([
    ...HEADER,
    ...section(1, 1, 0x60, 0x00, 0x01, 0x7f), // type () -> i32
    ...section(3, 2, 0x00, 0x00), // two functions of that type
    ...section(4, 1, 0x70, 0x00, 0x01), // table funcref, min 1
    ...section(5, 1, 0x00, 0x01), // memory, min 1 page
    ...section(6, 1, 0x7f, 0x01, 0x41, 0x00, 0x0b), // global mut i32 = 0
    ...(exports ? section(7, 2, ...name('bump'), 0x00, 0x00, ...name('grow'), 0x00, 0x01) : []),
    ...section(9, 1, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00), // table[0] = bump
    ...section(10, 2, ...bump, ...grow),
  ]);
}

function instantiate(bytes: Uint8Array): WasmInstance {
  return new Wasm.Instance(new Wasm.Module(bytes), {});
}

describe('exposeState', () => {
  it("exports the module's memory, mutable globals and tables besides its own exports", () => {
    const exposed = exposeState(counterModule());
    const names = Wasm.Module.exports(new Wasm.Module(exposed)).map((e) => `${e.kind} ${e.name}`);
    expect(names).toEqual([
      'function bump',
      'function grow',
      `memory ${STATE_EXPORT_PREFIX}memory/0`,
      `global ${STATE_EXPORT_PREFIX}global/0`,
      `table ${STATE_EXPORT_PREFIX}table/0`,
    ]);
  });

  it('adds an export section, in its place, to a module that has none', () => {
    const names = Wasm.Module.exports(new Wasm.Module(exposeState(counterModule(false)))).map((e) => e.name);
    expect(names).toEqual([
      `${STATE_EXPORT_PREFIX}memory/0`,
      `${STATE_EXPORT_PREFIX}global/0`,
      `${STATE_EXPORT_PREFIX}table/0`,
    ]);
  });

  it('leaves a module without state as it is, and refuses what it cannot parse', () => {
    const stateless = Uint8Array.from(HEADER);
    expect(exposeState(stateless)).toBe(stateless);
    // A global of a typed reference type (0x64: GC proposal) is not understood: no reset for it.
    const typedRef = Uint8Array.from([...HEADER, ...section(6, 1, 0x64, 0x70, 0x00, 0xd0, 0x70, 0x0b)]);
    expect(() => exposeState(typedRef)).toThrow(WasmFormatError);
  });
});

describe('StateSnapshot', () => {
  it('puts globals and memory back as they were when taken', () => {
    const instance = instantiate(exposeState(counterModule()));
    const bump = instance.exports.bump as () => number;
    const cell = () =>
      new Int32Array((instance.exports[`${STATE_EXPORT_PREFIX}memory/0`] as WebAssemblyMemoryLike).buffer)[0];
    const snapshot = StateSnapshot.take([instance]);
    expect(snapshot.memoryBytes).toBe(65536);
    // Without a reset, state persists between calls (what reusing an instance would mean).
    expect([bump(), bump(), bump()]).toEqual([1, 2, 3]);
    expect(cell()).toBe(3);
    expect(snapshot.restore()).toBe(true);
    expect(cell()).toBe(0);
    expect(bump()).toBe(1);
    expect(snapshot.restore()).toBe(true);
    expect(bump()).toBe(1);
  });

  it('cannot put back a memory that grew (memories do not shrink): the caller drops the instance', () => {
    const instance = instantiate(exposeState(counterModule()));
    const snapshot = StateSnapshot.take([instance]);
    (instance.exports.bump as () => number)();
    (instance.exports.grow as () => number)();
    expect(snapshot.restore()).toBe(false);
  });

  it('puts back a table entry changed from outside', () => {
    const instance = instantiate(exposeState(counterModule()));
    const table = instance.exports[`${STATE_EXPORT_PREFIX}table/0`] as {
      get(i: number): unknown;
      set(i: number, v: unknown): void;
    };
    const original = table.get(0);
    const snapshot = StateSnapshot.take([instance]);
    table.set(0, instance.exports.grow);
    expect(table.get(0)).not.toBe(original);
    expect(snapshot.restore()).toBe(true);
    expect(table.get(0)).toBe(original);
  });
});

interface WebAssemblyMemoryLike {
  readonly buffer: ArrayBuffer;
}
