// Messages between the driver (agent thread) and a sandbox worker. A worker runs many guests; every
// message about one of them carries its id (unique within the agent process).

import type { PreopenSpec } from './fs-guard.ts';
import type { WasmModule } from './webassembly.ts';

export interface RunRequest {
  type: 'run';
  guest: number;
  /** The guest's slot in the worker's control block. */
  slot: number;
  /** ModuleCache key; the worker keeps recent modules by it, so `module` is sent once per worker. */
  moduleKey: string;
  module?: WasmModule;
  /** The module has preemption points (preempt.ts) to wire up. */
  preemptible: boolean;
  args: string[];
  env: Record<string, string>;
  preopens: PreopenSpec[];
  /** Host fd of the (unlinked) stdin file, owned by the driver; null = empty stdin. */
  stdinFd: number | null;
  cpu?: number;
  /**
   * Keep an instance of this module ready for its next run once this one ends (an HTTP handler's
   * request: the next one then skips instantiation).
   */
  keepSpare?: boolean;
  /**
   * Do not post 'running' (an HTTP handler's request: the driver waits for the end only, so the agent's
   * thread wakes once per request instead of twice; a failed start is still 'start-failed').
   */
  skipRunningReport?: boolean;
}

/** The module's runs no longer need a spare instance (its last handler stopped). */
export interface DropSpareRequest {
  type: 'drop-spare';
  moduleKey: string;
}

/** The guest's stop word was raised: wake it if it is waiting, so that it sees it. */
export interface StopRequest {
  type: 'stop';
  guest: number;
}

/** Sent after a forced interrupt of the worker's execution: release what the guest held. */
export interface ReapRequest {
  type: 'reap';
  guest: number;
}

export type ToWorker = RunRequest | StopRequest | ReapRequest | DropSpareRequest;

export type Outcome =
  | { kind: 'exit'; code: number }
  | { kind: 'trap'; message: string }
  /** Unwound at a host call because the agent asked it to stop. */
  | { kind: 'stopped' }
  /** Unwound wherever it was (a preemption point) because the stop was forced. */
  | { kind: 'killed' }
  | { kind: 'error'; message: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'running'; guest: number }
  | { type: 'start-failed'; guest: number; message: string }
  /** The log ring wants draining (half full, or a guest is about to block). */
  | { type: 'drain' }
  | { type: 'exit'; guest: number; outcome: Outcome; memoryBytes: number }
  | { type: 'reaped'; guest: number };

/**
 * Modules a worker keeps, by cache key. The driver mirrors each worker's set with the same
 * least-recently-used rule (touchModule on both sides, once per run), so it knows when a run must
 * carry the module and when the worker still has it. A module in use by a running guest stays
 * alive through its instance even when evicted here.
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
