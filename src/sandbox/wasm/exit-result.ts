// How a wasm guest's end is reported, in the Kubernetes terms the agent writes to pod status.
//
//   guest exit 0                    -> Completed, 0
//   guest exit N                    -> Error, N
//   wasm trap                       -> Error, 134 (as wasmtime reports a trap), "wasm trap: <message>"
//   trap or nonzero exit while the linear memory is near the cap that came from limits.memoryBytes
//                                   -> OOMKilled, the guest's code (134 for a trap),
//                                      "linear memory reached its 16 MiB limit ..."
//
// "Near": a failed memory.grow is invisible to the host, and an allocator asks for big steps (dlmalloc
// in wasi-libc failed a 1 MiB malloc with 15.1 of 16 MiB in use), so "at the cap" means within
// max(1 MiB, 1/8 of the cap). It is a heuristic: a guest that fails for another reason while nearly
// out of memory is reported OOMKilled too; the message gives the figures.
//   stopped at a host call on request (stop(), deadline)
//                                   -> Killed / DeadlineExceeded, 143, SIGTERM
//   forced (the guest did not reach a host call within the grace period)
//                                   -> Killed / DeadlineExceeded, 137, SIGKILL
//   the worker thread died          -> Error, 255, "wasm worker failed: ..."
//
// A wasm guest cannot handle signals, so SIGTERM here means "ended cleanly at a host-call boundary,
// its in-flight host call completed", and SIGKILL "ended wherever it was".

import type { ExitResult } from '../driver.ts';
import { formatBytes, PAGE_BYTES, type MemoryInfo } from './memory-cap.ts';
import type { Outcome } from './protocol.ts';

export const TRAP_EXIT_CODE = 134;
export const STOPPED_EXIT_CODE = 143;
export const KILLED_EXIT_CODE = 137;
export const WORKER_FAILED_EXIT_CODE = 255;

export type FinalOutcome = Outcome | { kind: 'killed' } | { kind: 'worker-failed'; message: string };

export interface ExitContext {
  outcome: FinalOutcome;
  /** Linear memory size when the guest ended. */
  memoryBytes: number;
  /** The module's memories (the first is the one WASI uses). */
  memories: MemoryInfo[];
  /** The cap applied from limits.memoryBytes, in pages. */
  capPages?: number;
  /** Why the agent ended it, if it did. */
  stopCause?: 'stop' | 'deadline';
  deadlineSeconds?: number;
}

export function describeExit(c: ExitContext): Omit<ExitResult, 'startedAt' | 'finishedAt'> {
  const o = c.outcome;
  if (o.kind === 'stopped' || o.kind === 'killed') {
    const forced = o.kind === 'killed';
    const deadline = c.stopCause === 'deadline';
    const how = forced
      ? 'killed (it did not reach a host call within the grace period)'
      : 'stopped at a host call';
    return {
      exitCode: forced ? KILLED_EXIT_CODE : STOPPED_EXIT_CODE,
      reason: deadline ? 'DeadlineExceeded' : 'Killed',
      signal: forced ? 'SIGKILL' : 'SIGTERM',
      message: deadline ? `exceeded its deadline of ${c.deadlineSeconds}s; ${how}` : how,
    };
  }
  if (o.kind === 'worker-failed') {
    return {
      exitCode: WORKER_FAILED_EXIT_CODE,
      reason: 'Error',
      message: `wasm worker failed: ${o.message}`,
    };
  }
  if (o.kind === 'error') return { exitCode: WORKER_FAILED_EXIT_CODE, reason: 'Error', message: o.message };

  const code = o.kind === 'trap' ? TRAP_EXIT_CODE : o.code;
  const detail = o.kind === 'trap' ? `wasm trap: ${o.message}` : undefined;
  if (code === 0) return { exitCode: 0, reason: 'Completed' };
  if (atMemoryCap(c)) {
    return {
      exitCode: code,
      reason: 'OOMKilled',
      message:
        `linear memory reached its ${formatBytes(c.capPages! * PAGE_BYTES)} limit ` +
        `(${formatBytes(c.memoryBytes)} in use ${detail ? `at the ${detail}` : `when the guest exited with code ${code}`})`,
    };
  }
  return { exitCode: code, reason: 'Error', ...(detail ? { message: detail } : {}) };
}

/** The memory is near a maximum that our limit imposed (not the module's own, smaller one). */
function atMemoryCap(c: ExitContext): boolean {
  const m = c.memories[0];
  if (c.capPages === undefined || !m || m.maxPages !== c.capPages) return false;
  if (m.declaredMaxPages !== undefined && m.declaredMaxPages <= c.capPages) return false;
  const capBytes = c.capPages * PAGE_BYTES;
  return capBytes - c.memoryBytes <= Math.max(OOM_SLACK_MIN_BYTES, capBytes / 8);
}

const OOM_SLACK_MIN_BYTES = 1024 * 1024;
