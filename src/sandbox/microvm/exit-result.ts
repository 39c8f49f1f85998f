// How a microVM sandbox's end is reported, in the Kubernetes terms the agent writes to pod status.
//
//   the init wrote `exit 0`                         -> Completed, 0
//   the init wrote `exit N`                         -> Error, N (signal S when N = 128+S)
//   the init wrote `error <why>` (mount, devices)   -> StartError, 128, the init's reason
//   exit N != 0 after the guest's OOM killer killed a process (its console says so)
//                                                   -> OOMKilled, N (the guest's memory is the limit)
//   ended after stop()/destroy() (not exit 0)       -> Killed
//   ended by the deadline                           -> DeadlineExceeded
//   QEMU ended with no report (kernel panic, QEMU killed, crash)
//                                                   -> Error, 255, with the end of the serial console
import { constants } from 'node:os';
import type { ExitResult } from '../driver.ts';

export const LOST_EXIT_CODE = 255;

export interface GuestExitFacts {
  /** What the init wrote on the exit port ('' when nothing). */
  report: string;
  stopCause?: 'stop' | 'deadline';
  deadlineSeconds?: number;
  /** The last lines of the guest's serial console, for a guest that died without a report. */
  consoleTail?: string;
  /** The guest kernel's OOM-killer line ("Out of memory: Killed process …"), when it has one. */
  oomKill?: string;
  memoryMiB?: number;
}

function signalName(code: number): string | undefined {
  if (code <= 128 || code > 128 + 64) return undefined;
  const n = code - 128;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}

/**
 * What of a guest's serial console explains its end: the kernel's panic line (or the BUG/Oops that led
 * to it) without its timestamp, else the console's last lines.
 */
export function consoleSummary(console: string, lines = 3): string {
  const all = console.split('\n').map((l) => l.replace(/^\[\s*[\d.]+\]\s*/, '').trim());
  const panic = all.find((l) => l.startsWith('Kernel panic'));
  const cause = all.find((l) => /^(BUG:|Oops|general protection fault|Out of memory)/.test(l));
  if (panic) return cause && !panic.includes(cause) ? `${panic} (${cause})` : panic;
  return all.filter(Boolean).slice(-lines).join(' | ');
}

/** The guest kernel's OOM-killer report in its console, without the timestamp. */
export function oomKillLine(console: string): string | undefined {
  const m = /Out of memory: Killed process [^\n]*/.exec(console);
  return m ? m[0].replace(/ total-vm:.*$/, '').trim() : undefined;
}

export function describeGuestExit(f: GuestExitFacts): Omit<ExitResult, 'startedAt' | 'finishedAt'> {
  const report = f.report.trim().split('\n').at(-1) ?? '';
  const exit = /^exit (\d+)$/.exec(report);
  if (f.stopCause === 'deadline') {
    return {
      exitCode: exit ? Number(exit[1]) : 137,
      reason: 'DeadlineExceeded',
      message: `the pod ran past its activeDeadlineSeconds (${f.deadlineSeconds ?? '?'} s)`,
    };
  }
  if (exit) {
    const exitCode = Number(exit[1]);
    const signal = signalName(exitCode);
    if (exitCode === 0) return { exitCode, reason: 'Completed' };
    if (f.oomKill && !f.stopCause) {
      return {
        exitCode,
        reason: 'OOMKilled',
        message: `the guest ran out of its ${f.memoryMiB ?? '?'} MiB of memory: ${f.oomKill}`,
        ...(signal ? { signal } : {}),
      };
    }
    return { exitCode, reason: f.stopCause ? 'Killed' : 'Error', ...(signal ? { signal } : {}) };
  }
  if (report.startsWith('error ')) {
    return { exitCode: 128, reason: 'StartError', message: `the guest's init: ${report.slice(6)}` };
  }
  if (f.stopCause)
    return { exitCode: 137, reason: 'Killed', signal: 'SIGKILL', message: 'the VM was stopped' };
  const tail = f.consoleTail?.trim();
  return {
    exitCode: LOST_EXIT_CODE,
    reason: 'Error',
    message: `the VM ended without reporting an exit status (kernel panic or QEMU failure)${tail ? `; console: ${tail}` : ''}`,
  };
}
