// The host import gate: where Node's code may run, how stops take effect, what is answered in place.
import { describe, expect, it } from 'vitest';
import { createControl, slotViews, STOP, StopLevel } from './control.ts';
import { FsGuard, type WasiFn } from './fs-guard.ts';
import { GuestMemory } from './guest-memory.ts';
import { buildHostImports, GuestExit, GuestKilled, GuestStopped } from './host-imports.ts';
import { LogRingReader, LogRingWriter } from './log-ring.ts';
import { PREVIEW1_FUNCTIONS } from './wasi-abi.ts';
import { Wasm } from './webassembly.ts';

function setup() {
  const control = createControl(1);
  const slot = slotViews(control, 0);
  const calls: string[] = [];
  // Stands in for node:wasi (the gate's behaviour, not WASI's, is under test): records its calls.
  const wasi: Record<string, WasiFn> = {};
  for (const name of PREVIEW1_FUNCTIONS) {
    wasi[name] = () => {
      calls.push(name);
      return 0;
    };
  }
  const mem = new GuestMemory();
  mem.attach(new Wasm.Memory({ initial: 1 }));
  const host = buildHostImports({
    wasi,
    args: ['tool.wasm', 'one'],
    env: { A: '1' },
    mem,
    slot,
    guest: 5,
    ring: new LogRingWriter(control, () => undefined),
    guard: new FsGuard([]),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    cpuMs: () => 0,
  });
  return { host, calls, slot, mem, reader: new LogRingReader(control) };
}

describe('host imports', () => {
  it('answer the arguments and environment in place, without node:wasi', () => {
    const { host, calls, mem } = setup();
    const view = () => mem.view();
    expect(host.imports.args_sizes_get(0, 4)).toBe(0);
    expect([view().getUint32(0, true), view().getUint32(4, true)]).toEqual([2, 14]); // "tool.wasm\0one\0"
    expect(host.imports.environ_sizes_get(0, 4)).toBe(0);
    expect([view().getUint32(0, true), view().getUint32(4, true)]).toEqual([1, 4]);
    expect(host.imports.args_get(16, 64)).toBe(0);
    expect(mem.string(view().getUint32(16, true), 9)).toBe('tool.wasm');
    expect(mem.string(view().getUint32(20, true), 4)).toBe('one\0');
    expect(host.imports.environ_get(32, 96)).toBe(0);
    expect(mem.string(view().getUint32(32, true), 4)).toBe('A=1\0');
    expect(calls).toEqual([]);
  });

  it('run node:wasi only from the main stack: the guest suspends, the call comes a microtask later', async () => {
    const { host, calls } = setup();
    // Descriptor 9 (a file, say): stdio's fdstat, seek and tell are answered in place (see below).
    for (const name of ['fd_read', 'path_open', 'clock_time_get', 'random_get', 'fd_fdstat_get']) {
      const r = host.imports[name](9, 0, 0, 0, 0, 0, 0, 0, 0);
      expect(r).toBeInstanceOf(Promise);
      expect(calls).not.toContain(name);
      await r;
      expect(calls).toContain(name);
    }
    // fd_write to a file descriptor other than stdout/stderr reaches node:wasi too.
    const w = host.imports.fd_write(9, 0, 0, 0);
    expect(w).toBeInstanceOf(Promise);
    expect(calls).not.toContain('fd_write');
    await w;
    expect(calls).toContain('fd_write');
  });

  it('answer stdout writes, proc_exit and proc_raise in place, without node:wasi', () => {
    const { host, calls, mem, reader } = setup();
    const view = mem.view();
    mem.bytes(100, 5).set(new TextEncoder().encode('hello'));
    view.setUint32(0, 100, true); // iovec: ptr, len
    view.setUint32(4, 5, true);
    expect(host.imports.fd_write(1, 0, 1, 16)).toBe(0);
    expect(view.getUint32(16, true)).toBe(5);
    const got: Array<[number, string]> = [];
    reader.drain((g, _s, c) => got.push([g, Buffer.from(c).toString()]));
    expect(got).toEqual([[5, 'hello']]);
    expect(host.imports.proc_raise(9)).toBe(52);
    // stdio is a stream that is not a terminal, as wasmtime describes it: no offsets, one right each.
    expect(host.imports.fd_seek(0, 0n, 1, 32)).toBe(70); // SPIPE
    expect(host.imports.fd_tell(2, 32)).toBe(70);
    expect(host.imports.fd_fdstat_get(1, 64)).toBe(0);
    expect([view.getUint8(64), view.getUint16(66, true), view.getBigUint64(72, true)]).toEqual([0, 0, 64n]);
    expect(() => host.imports.proc_exit(3)).toThrow(GuestExit);
    expect(calls).toEqual([]);
  });

  it('end the guest at its next host call once a stop is requested (forced: killed)', () => {
    const { host, slot } = setup();
    Atomics.store(slot.words, STOP, StopLevel.STOP);
    expect(() => host.imports.random_get(0, 0)).toThrow(GuestStopped);
    // A preemption point ignores a plain stop (not a host call) but not a forced one.
    expect(() => host.checkStop(StopLevel.KILL)).not.toThrow();
    Atomics.store(slot.words, STOP, StopLevel.KILL);
    expect(() => host.checkStop(StopLevel.KILL)).toThrow(GuestKilled);
    expect(() => host.imports.random_get(0, 0)).toThrow(GuestKilled);
  });
});
