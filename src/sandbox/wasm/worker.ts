// A sandbox worker: runs many guests on one thread, switching between them as they wait.
//
// Every WASI import is wrapped in WebAssembly.Suspending and `_start` in WebAssembly.promising
// (JavaScript Promise Integration): a host call that has to wait (a sleep, a full log ring, a CPU-limit
// pause) returns a promise, the guest's stack is suspended, and the thread's event loop runs the
// other guests and the agent's messages until the promise settles. A guest that computes without
// waiting reaches a preemption point (preempt.ts) at every loop head and function entry; when it has
// held the thread for a time slice it is suspended there until the next turn of the event loop, so its
// neighbours' timers still fire on time. Modules without preemption points get a worker of their own
// (the driver sees to it).
//
// The worker counts each guest's CPU time at every switch, into the guest's slot of the control block.
// Everything a guest opens is released when it ends, because node:wasi itself releases nothing.

import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  CPU_SINCE_US_F64,
  CPU_USED_US_F64,
  MEMORY_PAGES,
  StopLevel,
  slotViews,
  type SlotViews,
} from './control.ts';
import { threadCpuMs } from './cpu-throttle.ts';
import { FsGuard, type WasiFn } from './fs-guard.ts';
import { GuestMemory } from './guest-memory.ts';
import { buildHostImports, GuestExit, GuestKilled, GuestStopped, type HostImports } from './host-imports.ts';
import { LogRingWriter } from './log-ring.ts';
import { PAGE_BYTES } from './memory-cap.ts';
import { FUEL_PER_CHECK, PREEMPT_FUEL, PREEMPT_TABLE } from './preempt.ts';
import { touchModule, type FromWorker, type Outcome, type RunRequest, type ToWorker } from './protocol.ts';
import { WASI_MODULE } from './wasi-abi.ts';
import {
  Jspi,
  Wasm,
  type WasmGlobal,
  type WasmInstance,
  type WasmMemory,
  type WasmModule,
  type WasmTable,
} from './webassembly.ts';

// node:wasi warns once per thread that it is experimental; that is known and not actionable here.
// The warning is printed by the default 'warning' listener, so filter it before loading the module.
const defaultWarningListeners = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && w.message.includes('WASI')) return;
  for (const l of defaultWarningListeners) l(w);
});
const { WASI } = await import('node:wasi');

/** How long a guest may keep the thread before it yields at a preemption point. */
const SLICE_MS = 10;
/** setTimeout's longest delay; longer sleeps are taken in pieces. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);
const { control } = workerData as { control: SharedArrayBuffer };

/** Modules this worker has been sent, by cache key (the driver mirrors this set). */
const modules = new Map<string, WasmModule>();

/** Shared by every run: the guest's stdio fds are wrapped (fs-guard, host-imports) so never closed. */
const devNull = openSync('/dev/null', 'r+');

const ring = new LogRingWriter(control, () => post({ type: 'drain' }));

/**
 * `(module (import "h" "preempt" (func)) (export "preempt" (func 0)))`: turns the JSPI-suspending
 * preemption handler into a wasm function that can sit in the guest's preemption table.
 */
const trampoline = new Wasm.Module(
  Uint8Array.of(
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    ...[0x02, 0x0d, 0x01, 0x01, 0x68, 0x07, ...new TextEncoder().encode('preempt'), 0x00, 0x00],
    ...[0x07, 0x0b, 0x01, 0x07, ...new TextEncoder().encode('preempt'), 0x00, 0x00],
  ),
);

interface Guest {
  id: number;
  slot: SlotViews;
  guard: FsGuard;
  fdClose: WasiFn;
  /** Ends the guest's current wait early (a stop request). */
  wake?: () => void;
  memory?: WasmMemory;
}

const guests = new Map<number, Guest>();

/** The WASI functions each module imports: a guest gets gates for these only. */
const importNames = new WeakMap<WasmModule, string[]>();
function wasiImportsOf(module: WasmModule): string[] {
  let names = importNames.get(module);
  if (!names) {
    names = Wasm.Module.imports(module)
      .filter((i) => i.module === WASI_MODULE && i.kind === 'function')
      .map((i) => i.name);
    importNames.set(module, names);
  }
  return names;
}

// --- switching and CPU accounting ---------------------------------------------------------------

/** The guest whose code is on the stack (undefined: the event loop, or our own code). */
let running: Guest | undefined;
let switchedAtMs = 0;
let sliceStart = 0;

function switchTo(g: Guest | undefined): void {
  const now = threadCpuMs();
  if (running) {
    running.slot.f64[CPU_USED_US_F64] += (now - switchedAtMs) * 1000;
    running.slot.f64[CPU_SINCE_US_F64] = -1;
  }
  running = g;
  switchedAtMs = now;
  sliceStart = performance.now();
  if (g) g.slot.f64[CPU_SINCE_US_F64] = now * 1000;
}

/** The guest `g` waits for `p`: account its CPU time until it is resumed. */
function suspend<T>(g: Guest, p: Promise<T>): Promise<T> {
  if (running === g) switchTo(undefined);
  return p.then(
    (v) => {
      switchTo(g);
      return v;
    },
    (err: unknown) => {
      switchTo(g);
      throw err;
    },
  );
}

function cpuMsOf(g: Guest): number {
  const since = g.slot.f64[CPU_SINCE_US_F64];
  const live = running === g && since >= 0 ? threadCpuMs() - since / 1000 : 0;
  return g.slot.f64[CPU_USED_US_F64] / 1000 + live;
}

/** A timer that a stop request ends early. */
function sleepFor(g: Guest, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      if (g.wake === done) g.wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    g.wake = done;
  });
}

// --- a run --------------------------------------------------------------------------------------

function release(g: Guest): void {
  spareAfter.delete(g.id);
  if (!guests.delete(g.id)) return;
  g.guard.closeAll(g.fdClose);
}

/**
 * An instance of a module whose imports are not bound to any run yet: every import, and the preemption
 * handler, call through `bound`, which a run fills in. What a run costs before its guest's first
 * instruction is then our gates, not V8's instantiation (about half of it, and the larger half after the
 * thread has idled: docs/benchmarks.md, _Functions_). A spare also has its node:wasi context made and
 * attached to its memory: the arguments and environment are served by our own imports
 * (command-line.ts), so the context depends only on the volumes (preopens) and stdin, and one made
 * ahead fits every run of the handler whose request has no body.
 */
interface Unbound {
  moduleKey: string;
  instance: WasmInstance;
  memory: WasmMemory;
  bound: { g?: Guest; host?: HostImports };
  /** node:wasi's context for a run with these preopens and an empty stdin, attached to `memory`. */
  wasi?: { context: WasiContext; preopens: string };
}

type WasiContext = InstanceType<typeof WASI>;

/**
 * Spare instances, one per module of an HTTP handler (RunRequest.keepSpare): built after a run ends,
 * off the request path, and taken by the next run of the module. Each is used once, as a fresh
 * instance would be — its memory holds nothing but the module's own data segments — so isolation
 * between requests stays total. Dropped with the module (eviction, 'drop-spare').
 */
const spares = new Map<string, Unbound>();

/** node:wasi's context for a run: its volumes and stdin (arguments and environment are ours). */
function wasiContext(preopens: RunRequest['preopens'], stdinFd: number | null): WasiContext {
  return new WASI({
    version: 'preview1',
    preopens: Object.fromEntries(preopens.map((p) => [p.guestPath, p.hostPath])),
    returnOnExit: true,
    stdin: stdinFd ?? devNull,
    stdout: devNull,
    stderr: devNull,
  });
}

const preopensKey = (preopens: RunRequest['preopens']): string => JSON.stringify(preopens);

function instantiate(moduleKey: string, module: WasmModule, preemptible: boolean): Unbound {
  const bound: Unbound['bound'] = {};
  const imports: Record<string, unknown> = {};
  for (const name of wasiImportsOf(module)) {
    imports[name] = new Jspi.Suspending((...args: unknown[]) => {
      const { g, host } = bound;
      if (!g || !host) throw new Error(`${name} called before the instance was bound to a run`);
      const r = host.imports[name](...args);
      return typeof r === 'number' ? r : suspend(g, r);
    });
  }
  const instance = new Wasm.Instance(module, { [WASI_MODULE]: imports });
  if (preemptible) wirePreemption(bound, instance.exports);
  return { moduleKey, instance, memory: instance.exports.memory as WasmMemory, bound };
}

function keepSpare(moduleKey: string, preemptible: boolean, preopens: RunRequest['preopens']): void {
  if (spares.has(moduleKey)) return;
  const module = modules.get(moduleKey);
  if (!module) return;
  try {
    const spare = instantiate(moduleKey, module, preemptible);
    const context = wasiContext(preopens, null);
    // Hands the memory to node:wasi; `_start` is ours to call (through JSPI), so give it none.
    context.initialize({ exports: { memory: spare.memory } });
    spare.wasi = { context, preopens: preopensKey(preopens) };
    spares.set(moduleKey, spare);
  } catch {
    // It failed for its run too, which reported why; the next run tries again.
  }
}

function run(req: RunRequest): void {
  touchModule(modules, req.moduleKey, req.module);
  for (const key of spares.keys()) if (!modules.has(key)) spares.delete(key);
  const module = modules.get(req.moduleKey);
  const fail = (message: string): void => post({ type: 'start-failed', guest: req.guest, message });
  if (!module) return fail(`module ${req.moduleKey} was not sent to this worker`);

  let unbound = spares.get(req.moduleKey);
  spares.delete(req.moduleKey);
  // The spare's context fits a run with its volumes and nothing on stdin (a request with a body has a
  // file of its own there): the common case, a GET, makes none on its path.
  const made =
    unbound?.wasi && req.stdinFd === null && unbound.wasi.preopens === preopensKey(req.preopens)
      ? unbound.wasi.context
      : undefined;
  let wasi: WasiContext;
  try {
    wasi = made ?? wasiContext(req.preopens, req.stdinFd);
  } catch (err) {
    return fail(`cannot set up WASI: ${(err as Error).message}`);
  }
  const wasiImport = wasi.wasiImport as Record<string, WasiFn>;
  const slot = slotViews(control, req.slot);
  const g: Guest = { id: req.guest, slot, guard: new FsGuard(req.preopens), fdClose: wasiImport.fd_close };
  guests.set(g.id, g);

  const mem = new GuestMemory();
  const host = buildHostImports({
    wasi: wasiImport,
    args: req.args,
    env: req.env,
    mem,
    slot,
    guest: g.id,
    ring,
    guard: g.guard,
    cpu: req.cpu,
    sleep: (ms) => sleepFor(g, ms),
    cpuMs: () => cpuMsOf(g),
    names: wasiImportsOf(module),
  });

  try {
    unbound ??= instantiate(req.moduleKey, module, req.preemptible);
    unbound.bound.g = g;
    unbound.bound.host = host;
    g.memory = unbound.memory;
    mem.attach(g.memory);
    // Hands the memory to node:wasi; `_start` is ours to call (through JSPI), so give it none.
    if (!made) wasi.initialize({ exports: { memory: g.memory } });
  } catch (err) {
    release(g);
    return fail(`cannot instantiate the module: ${(err as Error).message}`);
  }
  Atomics.store(slot.words, MEMORY_PAGES, g.memory.buffer.byteLength / PAGE_BYTES);
  if (!req.skipRunningReport) post({ type: 'running', guest: g.id });
  if (req.keepSpare)
    spareAfter.set(g.id, { moduleKey: req.moduleKey, preemptible: req.preemptible, preopens: req.preopens });

  const start = Jspi.promising(unbound.instance.exports._start as () => unknown);
  const previous = running;
  switchTo(g);
  let settled: Promise<unknown>;
  try {
    settled = start();
  } catch (err) {
    settled = Promise.reject(err);
  }
  // start() returns at the guest's first suspension (or its end): the code below runs later.
  if (running === g) switchTo(previous);
  settled.then(
    () => finish(g, { kind: 'exit', code: 0 }),
    (err: unknown) => finish(g, classifyThrow(err)),
  );
}

/** Runs that asked for a spare of their module once they have ended. */
const spareAfter = new Map<
  number,
  { moduleKey: string; preemptible: boolean; preopens: RunRequest['preopens'] }
>();

function finish(g: Guest, outcome: Outcome): void {
  if (running === g) switchTo(undefined);
  // A guest reaped after a forced interrupt has been reported already.
  if (!guests.has(g.id)) return;
  const memoryBytes = g.memory ? g.memory.buffer.byteLength : 0;
  const spare = spareAfter.get(g.id);
  release(g);
  post({ type: 'exit', guest: g.id, outcome, memoryBytes });
  // After the exit is posted, so the answer does not wait for it.
  if (spare) setImmediate(() => keepSpare(spare.moduleKey, spare.preemptible, spare.preopens));
}

/** Puts the preemption handler in the instance's preemption table (see preempt.ts). */
function wirePreemption(bound: Unbound['bound'], exports: Record<string, unknown>): void {
  const fuel = exports[PREEMPT_FUEL] as WasmGlobal;
  const handler = (): undefined | Promise<void> => {
    const { g, host } = bound;
    if (!g || !host) throw new Error('preemption point reached before the instance was bound to a run');
    fuel.value = FUEL_PER_CHECK;
    host.checkStop(StopLevel.KILL);
    const pause = host.throttle();
    if (pause) return suspend(g, pause);
    if (performance.now() - sliceStart < SLICE_MS) return undefined;
    // Its slice is used up: let the event loop turn (timers, messages, the other guests) first.
    return suspend(g, new Promise<void>((r) => setImmediate(r))).then(() => host.checkStop(StopLevel.KILL));
  };
  const t = new Wasm.Instance(trampoline, { h: { preempt: new Jspi.Suspending(handler) } });
  (exports[PREEMPT_TABLE] as WasmTable).set(0, t.exports.preempt);
}

function classifyThrow(err: unknown): Outcome {
  if (err instanceof GuestExit) return { kind: 'exit', code: err.code };
  if (err instanceof GuestStopped) return { kind: 'stopped' };
  if (err instanceof GuestKilled) return { kind: 'killed' };
  if (err instanceof Wasm.RuntimeError) return { kind: 'trap', message: err.message };
  if (err instanceof RangeError && /call stack/i.test(err.message))
    return { kind: 'trap', message: 'call stack exhausted' };
  return { kind: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'run') run(msg);
  else if (msg.type === 'stop') guests.get(msg.guest)?.wake?.();
  else if (msg.type === 'drop-spare') spares.delete(msg.moduleKey);
  else if (msg.type === 'reap') {
    const g = guests.get(msg.guest);
    if (g) release(g);
    post({ type: 'reaped', guest: msg.guest });
  }
});
process.on('exit', () => closeSync(devNull));
post({ type: 'ready' });
