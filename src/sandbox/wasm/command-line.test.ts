import { describe, expect, it } from 'vitest';
import { StringTable } from './command-line.ts';
import { GuestMemory } from './guest-memory.ts';
import { Errno } from './wasi-abi.ts';
import { Wasm } from './webassembly.ts';

function memory(): GuestMemory {
  const mem = new GuestMemory();
  mem.attach(new Wasm.Memory({ initial: 1 }));
  return mem;
}

describe('a guest’s arguments and environment (preview1 args_* / environ_*)', () => {
  it('writes the count and size, then each string NUL-terminated with its address', () => {
    const mem = memory();
    const t = new StringTable(['greeter.wasm', 'name=Ådа', '']);
    expect(t.sizesGet(mem, 0, 4)).toBe(Errno.SUCCESS);
    const size = 'greeter.wasm'.length + 1 + Buffer.byteLength('name=Ådа') + 1 + 1;
    expect([mem.view().getUint32(0, true), mem.view().getUint32(4, true)]).toEqual([3, size]);
    expect(t.get(mem, 100, 200)).toBe(Errno.SUCCESS);
    const ptrs = [0, 1, 2].map((i) => mem.view().getUint32(100 + i * 4, true));
    expect(ptrs[0]).toBe(200);
    const cString = (p: number) => {
      const bytes = mem.bytes(p, 64);
      return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('utf8');
    };
    expect(ptrs.map(cString)).toEqual(['greeter.wasm', 'name=Ådа', '']);
    expect(mem.bytes(200, size).at(-1)).toBe(0);
  });

  it('serves the environment as NAME=value in key order, a string cut at an embedded NUL', () => {
    const mem = memory();
    const t = StringTable.fromEnv({ B: '2', A: 'x\0hidden', EMPTY: '' });
    expect(t.get(mem, 0, 64)).toBe(Errno.SUCCESS);
    const cString = (p: number) => {
      const bytes = mem.bytes(p, 32);
      return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('utf8');
    };
    expect([0, 1, 2].map((i) => cString(mem.view().getUint32(i * 4, true)))).toEqual([
      'B=2',
      'A=x',
      'EMPTY=',
    ]);
    expect(t.count).toBe(3);
  });

  it('answers FAULT for a pointer outside the memory, and writes nothing', () => {
    const mem = memory();
    const t = new StringTable(['a', 'b']);
    const end = mem.byteLength;
    expect(t.sizesGet(mem, end - 2, 0)).toBe(Errno.FAULT);
    expect(t.get(mem, 0, end - 3)).toBe(Errno.FAULT); // the strings need 4 bytes
    expect(t.get(mem, end - 4, 16)).toBe(Errno.FAULT); // two pointers need 8
    expect(mem.bytes(0, 32).every((b) => b === 0)).toBe(true);
    expect(mem.bytes(end - 8, 8).every((b) => b === 0)).toBe(true);
  });
});
