// Messages between the driver (agent thread) and a sandbox worker.

import type { PreopenSpec } from './fs-guard.ts';
import type { WasmModule } from './webassembly.ts';

export interface RunRequest {
  type: 'run';
  /** ModuleCache key; the worker keeps recent modules by it, so `module` is sent once per worker. */
  moduleKey: string;
  module?: WasmModule;
  args: string[];
  env: Record<string, string>;
  preopens: PreopenSpec[];
  /** Host fd of the (unlinked) stdin file, owned by the driver; null = empty stdin. */
  stdinFd: number | null;
  control: SharedArrayBuffer;
  cpu?: number;
}

/** Sent after a forced interrupt of the run: release what the interrupted run held. */
export interface ReapRequest {
  type: 'reap';
}

export type ToWorker = RunRequest | ReapRequest;

export type Outcome =
  | { kind: 'exit'; code: number }
  | { kind: 'trap'; message: string }
  /** Unwound at a host call because the agent asked it to stop. */
  | { kind: 'stopped' }
  | { kind: 'error'; message: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'running' }
  | { type: 'start-failed'; message: string }
  /** The log ring wants draining (half full, or the guest is about to block). */
  | { type: 'drain' }
  | { type: 'exit'; outcome: Outcome; memoryBytes: number; cpuMicros: number }
  | { type: 'reaped' };

/**
 * Modules a worker keeps, by cache key. The driver mirrors each worker's set with the same
 * least-recently-used rule (touchModule on both sides, once per run), so it knows when a run must
 * carry the module and when the worker still has it.
 */
export const MODULES_PER_WORKER = 16;

/** Marks `key` used; returns whether it was already present. Evicts the least recently used. */
export function touchModule<T>(kept: Map<string, T>, key: string, value: T | undefined): boolean {
  const had = kept.has(key);
  const current = value !== undefined ? value : kept.get(key);
  kept.delete(key);
  if (current !== undefined) kept.set(key, current);
  if (kept.size > MODULES_PER_WORKER) kept.delete(kept.keys().next().value as string);
  return had;
}
