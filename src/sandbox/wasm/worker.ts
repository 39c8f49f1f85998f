// A sandbox worker: runs one guest at a time, synchronously, off the agent's event loop.
//
// Reused across short-lived guests (a warm worker starts a guest in ~0.1 ms; a new one takes ~30 ms).
// Everything a run opens is released when it ends, because node:wasi itself releases nothing.

import { closeSync, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { CPU_BASELINE_F64, MEMORY_PAGES, RING_OFFSET } from './control.ts';
import { threadCpuMs } from './cpu-throttle.ts';
import { FsGuard, type WasiFn } from './fs-guard.ts';
import { GuestMemory } from './guest-memory.ts';
import { buildHostImports, GuestStopped } from './host-imports.ts';
import { LogRingWriter } from './log-ring.ts';
import { PAGE_BYTES } from './memory-cap.ts';
import { touchModule, type FromWorker, type Outcome, type RunRequest, type ToWorker } from './protocol.ts';
import { WASI_MODULE } from './wasi-abi.ts';
import { Wasm, type WasmMemory, type WasmModule } from './webassembly.ts';

// node:wasi warns once per thread that it is experimental; that is known and not actionable here.
// The warning is printed by the default 'warning' listener, so filter it before loading the module.
const defaultWarningListeners = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && w.message.includes('WASI')) return;
  for (const l of defaultWarningListeners) l(w);
});
const { WASI } = await import('node:wasi');

const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

/** Modules this worker has been sent, by cache key (the driver mirrors this set). */
const modules = new Map<string, WasmModule>();

/** Shared by every run: the guest's stdio fds are wrapped (fs-guard, host-imports) so never closed. */
const devNull = openSync('/dev/null', 'r+');

/** The run in progress, kept so that a 'reap' after a forced interrupt can release its descriptors. */
let current: { guard: FsGuard; fdClose: WasiFn } | undefined;

function release(): void {
  if (!current) return;
  const c = current;
  current = undefined;
  c.guard.closeAll(c.fdClose);
}

function run(req: RunRequest): void {
  const f64 = new Float64Array(req.control, 0, RING_OFFSET / 8);
  const ctl = new Int32Array(req.control, 0, RING_OFFSET / 4);
  const cpuStart = threadCpuMs();
  f64[CPU_BASELINE_F64] = cpuStart * 1000;

  touchModule(modules, req.moduleKey, req.module);
  const module = modules.get(req.moduleKey);
  if (!module)
    return post({ type: 'start-failed', message: `module ${req.moduleKey} was not sent to this worker` });

  let wasi;
  try {
    wasi = new WASI({
      version: 'preview1',
      args: req.args,
      env: req.env,
      preopens: Object.fromEntries(req.preopens.map((p) => [p.guestPath, p.hostPath])),
      returnOnExit: true,
      stdin: req.stdinFd ?? devNull,
      stdout: devNull,
      stderr: devNull,
    });
  } catch (err) {
    return post({ type: 'start-failed', message: `cannot set up WASI: ${(err as Error).message}` });
  }
  const wasiImport = wasi.wasiImport as Record<string, WasiFn>;
  const guard = new FsGuard(req.preopens);
  current = { guard, fdClose: wasiImport.fd_close };

  const mem = new GuestMemory();
  const ring = new LogRingWriter(
    req.control,
    () => post({ type: 'drain' }),
    () => {
      if (Atomics.load(ctl, 0) !== 0) throw new GuestStopped();
    },
  );
  const imports = buildHostImports({
    wasi: wasiImport,
    mem,
    control: req.control,
    ring,
    guard,
    cpu: req.cpu,
  });

  let instance;
  try {
    instance = new Wasm.Instance(module, { [WASI_MODULE]: imports });
  } catch (err) {
    release();
    return post({
      type: 'start-failed',
      message: `cannot instantiate the module: ${(err as Error).message}`,
    });
  }
  const memory = instance.exports.memory as WasmMemory;
  mem.attach(memory);
  Atomics.store(ctl, MEMORY_PAGES, memory.buffer.byteLength / PAGE_BYTES);
  post({ type: 'running' });

  let outcome: Outcome;
  try {
    outcome = { kind: 'exit', code: wasi.start(instance) };
  } catch (err) {
    outcome = classifyThrow(err);
  }
  const memoryBytes = memory.buffer.byteLength;
  release();
  post({ type: 'exit', outcome, memoryBytes, cpuMicros: Math.round((threadCpuMs() - cpuStart) * 1000) });
}

function classifyThrow(err: unknown): Outcome {
  if (err instanceof GuestStopped) return { kind: 'stopped' };
  if (err instanceof Wasm.RuntimeError) return { kind: 'trap', message: err.message };
  if (err instanceof RangeError && /call stack/i.test(err.message))
    return { kind: 'trap', message: 'call stack exhausted' };
  return { kind: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'run') run(msg);
  else if (msg.type === 'reap') {
    release();
    post({ type: 'reaped' });
  }
});
process.on('exit', () => closeSync(devNull));
post({ type: 'ready' });
