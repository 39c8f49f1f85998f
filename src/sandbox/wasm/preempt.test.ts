// The preemption rewriter against real modules (the C fixtures) and small hand-assembled ones.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addPreemptionPoints,
  FUEL_PER_CHECK,
  PREEMPT_FUEL,
  PREEMPT_TABLE,
  PreemptRefused,
} from './preempt.ts';
import { buildDir, buildFixtures } from './test-support.ts';
import { Wasm, type WasmGlobal, type WasmModule, type WasmTable } from './webassembly.ts';

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const name = (s: string): number[] => [s.length, ...Buffer.from(s)];

/** `(func (export "loop") (param i32) (result i32)` counting its argument down to 0, returning 7. */
const loopModule = Uint8Array.of(
  ...MAGIC,
  ...[0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], // type (i32) -> i32
  ...[0x03, 0x02, 0x01, 0x00],
  ...[0x07, 0x08, 0x01, ...name('loop'), 0x00, 0x00],
  // loop: local.get 0, i32.const 1, i32.sub, local.tee 0, br_if 0; end; i32.const 7
  ...[0x0a, 0x12, 0x01, 0x10, 0x00, 0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b],
  ...[0x41, 0x07, 0x0b],
);

/** An instance of `module` whose preemption handler is `handler` (through a wasm trampoline). */
function instantiate(module: WasmModule, handler: () => void): Record<string, unknown> {
  const trampoline = new Wasm.Module(
    Uint8Array.of(
      ...MAGIC,
      ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
      ...[0x02, 0x07, 0x01, ...name('h'), ...name('p'), 0x00, 0x00],
      ...[0x07, 0x05, 0x01, ...name('p'), 0x00, 0x00],
    ),
  );
  const t = new Wasm.Instance(trampoline, { h: { p: handler } });
  const exports = new Wasm.Instance(module, {}).exports;
  (exports[PREEMPT_TABLE] as WasmTable).set(0, t.exports.p);
  return exports;
}

describe('preemption points', () => {
  beforeAll(() => buildFixtures());

  it('every example and fixture module still compiles with them, and exports the table and the fuel', () => {
    const dirs = [buildDir, join(buildDir, 'fixtures')];
    const files = dirs.flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.wasm'))
        .map((f) => join(d, f)),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const m = new Wasm.Module(addPreemptionPoints(readFileSync(f)));
      const exports = Wasm.Module.exports(m);
      expect(exports).toContainEqual({ name: PREEMPT_TABLE, kind: 'table' });
      expect(exports).toContainEqual({ name: PREEMPT_FUEL, kind: 'global' });
      // The guest's own imports and exports are unchanged.
      expect(Wasm.Module.imports(m)).toEqual(Wasm.Module.imports(new Wasm.Module(readFileSync(f))));
    }
  });

  it('a loop calls the host once per FUEL_PER_CHECK iterations and computes the same result', () => {
    let calls = 0;
    const exports = instantiate(new Wasm.Module(addPreemptionPoints(loopModule)), () => {
      calls++;
      (exports[PREEMPT_FUEL] as WasmGlobal).value = FUEL_PER_CHECK;
    });
    const run = exports.loop as (n: number) => number;
    expect(run(10)).toBe(7);
    expect(calls).toBe(0);
    // 1 function entry + 100,000 loop heads = 100,001 checks; the fuel runs out every 20,000.
    expect(run(100_000)).toBe(7);
    expect(calls).toBe(Math.floor((100_001 + 10 + 1) / FUEL_PER_CHECK));
    // Untouched, the module runs the same loop without ever calling the host.
    expect(
      (new Wasm.Instance(new Wasm.Module(loopModule), {}).exports.loop as (n: number) => number)(5),
    ).toBe(7);
  });

  it('the handler can end a spinning guest: an exception thrown there unwinds it', () => {
    const exports = instantiate(new Wasm.Module(addPreemptionPoints(loopModule)), () => {
      throw new Error('killed');
    });
    // A loop of 2^31 iterations would otherwise run for seconds.
    expect(() => (exports.loop as (n: number) => number)(0x7fffffff)).toThrow('killed');
  });

  it('refuses modules it does not fully understand: GC types, exception handling, unknown opcodes', () => {
    const withCode = (body: number[], types = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00]) =>
      Uint8Array.of(
        ...MAGIC,
        ...types,
        ...[0x03, 0x02, 0x01, 0x00],
        ...[0x0a, body.length + 2, 0x01, body.length, ...body],
      );
    expect(() =>
      addPreemptionPoints(withCode([0x00, 0x0b], [0x01, 0x06, 0x02, 0x5f, 0x00, 0x60, 0x00, 0x00])),
    ).toThrow(/GC-proposal types/);
    expect(() => addPreemptionPoints(withCode([0x00, 0x06, 0x40, 0x0b, 0x0b]))).toThrow(PreemptRefused);
    expect(() => addPreemptionPoints(withCode([0x00, 0xfb, 0x01, 0x0b]))).toThrow(/opcode 0xfb/);
    // A well-formed module with no type, table, global or export section gets them, in order.
    const bare = addPreemptionPoints(Uint8Array.of(...MAGIC));
    expect(Wasm.Module.exports(new Wasm.Module(bare)).map((e) => e.name)).toEqual([
      PREEMPT_TABLE,
      PREEMPT_FUEL,
    ]);
  });
});
