// How a container's end is reported, in the Kubernetes terms the agent writes to pod status.
//
//   exit 0                                     -> Completed, 0
//   exit N                                     -> Error, N
//   killed by signal S (status 128+S)          -> Error, 128+S, signal S
//   the cgroup's OOM killer killed a process,
//     and the exit status is not 0             -> OOMKilled (usually 137, SIGKILL)
//   ended after stop()/destroy() by a signal   -> Killed, 128+S, signal S (a clean exit 0 stays Completed)
//   ended by the deadline (limits.deadlineSeconds)
//                                              -> DeadlineExceeded
//   conmon died without writing the status     -> Error, 255, "its supervisor (conmon) ended ..."
//
// The exit status is conmon's: the init's exit code, or 128+signal when the init was killed. With
// catatonit as init, a workload killed by a signal is reported the same way (catatonit exits 128+S).

import { constants } from 'node:os';
import type { ExitResult } from '../driver.ts';

export const LOST_EXIT_CODE = 255;

export interface ExitFacts {
  /** undefined: the supervisor died without reporting. */
  exitCode?: number;
  oomKills: number;
  memoryLimitBytes?: number;
  stopCause?: 'stop' | 'deadline';
  deadlineSeconds?: number;
}

export function describeExit(f: ExitFacts): Omit<ExitResult, 'startedAt' | 'finishedAt'> {
  if (f.exitCode === undefined) {
    return {
      exitCode: LOST_EXIT_CODE,
      reason: 'Error',
      message: 'its supervisor (conmon) ended without reporting an exit status; the container was killed',
    };
  }
  const code = f.exitCode;
  const signal = signalName(code);
  const withSignal = signal ? { signal } : {};
  if (f.oomKills > 0 && code !== 0) {
    const limit = f.memoryLimitBytes ? ` of ${formatBytes(f.memoryLimitBytes)}` : '';
    return {
      exitCode: code,
      reason: 'OOMKilled',
      message: `the memory limit${limit} was reached: the kernel OOM killer ended ${f.oomKills} process${f.oomKills > 1 ? 'es' : ''}`,
      ...withSignal,
    };
  }
  if (f.stopCause === 'deadline' && code !== 0) {
    return {
      exitCode: code,
      reason: 'DeadlineExceeded',
      message: `exceeded its deadline of ${f.deadlineSeconds}s`,
      ...withSignal,
    };
  }
  if (f.stopCause === 'stop' && signal) {
    return { exitCode: code, reason: 'Killed', message: `stopped by ${signal}`, ...withSignal };
  }
  if (code === 0) return { exitCode: 0, reason: 'Completed' };
  return { exitCode: code, reason: 'Error', ...withSignal };
}

/** SIGKILL for 137, etc.: the shell convention conmon and catatonit follow. */
export function signalName(exitCode: number): string | undefined {
  if (exitCode <= 128 || exitCode > 128 + 64) return undefined;
  const n = exitCode - 128;
  for (const [name, num] of Object.entries(constants.signals)) if (num === n) return name;
  return undefined;
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
