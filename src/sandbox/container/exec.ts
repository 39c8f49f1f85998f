// Running a command in a running container, with `runtime exec`: the new process joins the container's
// namespaces and cgroup and gets its config.json process settings (user, env, cwd, capabilities,
// seccomp, noNewPrivileges) — exec is no way around the container's confinement.
//
// Two shapes:
//   execCapture      for Driver.exec / `strata exec POD -- CMD`: stdout and stderr collected (capped),
//                    the exit code returned; no stdin.
//   execInteractive  for `strata exec -it`: the runtime's stdio is streamed — inherited from the agent
//                    (a CLI in a terminal), or pipes the agent connects to a remote client. With `tty`
//                    the runtime allocates a pseudo-terminal in the container and copies between it
//                    and its own terminal. `runc exec -t` insists on having one (/dev/tty) and Node
//                    cannot take the pty fd runc would send over --console-socket, so with pipes the
//                    runtime runs under util-linux `script`, which gives it a terminal of its own;
//                    its size is set at start (cols/rows) and changed by resize(): the new size is
//                    set on script's terminal, whose SIGWINCH makes the runtime copy it to the
//                    container's terminal (runc and crun resize on SIGWINCH).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { which } from '../../lib/command.ts';
import type { ExecResult, InteractiveExec, InteractiveOptions } from '../driver.ts';

/** Each of stdout and stderr is cut at this size; the rest is discarded (the exit code still counts). */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

export interface CaptureOptions {
  timeoutMs?: number;
  maxBytes?: number;
}

/** Runs argv (the runtime's exec command line) to completion. */
export function execCapture(argv: string[], opts: CaptureOptions = {}): Promise<ExecResult> {
  const cap = opts.maxBytes ?? EXEC_OUTPUT_CAP;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collector(child.stdout!, cap);
    const err = collector(child.stderr!, cap);
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ exitCode: exitCodeOf(code, signal), stdout: out(), stderr: err() });
    });
  });
}

// The shapes are the contract's (InteractiveExecDriver); re-exported for the callers that import them here.
export type { InteractiveExec, InteractiveOptions };

export function execInteractive(argv: string[], opts: InteractiveOptions): InteractiveExec {
  let cmd = argv;
  if (opts.tty && opts.stdio === 'pipe') {
    const script = which('script');
    if (!script) throw new Error('exec with a terminal over pipes needs util-linux script');
    // -echo: until the runtime switches its terminal to raw mode, input would be echoed twice.
    const size = `stty cols ${Math.floor(opts.cols ?? 80)} rows ${Math.floor(opts.rows ?? 24)} -echo`;
    // -e: its exit code is the command's; -E never: do not echo the piped input a second time.
    cmd = [
      script,
      '-q',
      '-e',
      '-E',
      'never',
      '-c',
      `${size} && exec ${argv.map(shellQuote).join(' ')}`,
      '/dev/null',
    ];
  }
  const child: ChildProcess = spawn(cmd[0], cmd.slice(1), { stdio: opts.stdio });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    pid: child.pid,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      child.kill(signal);
    },
    resize: async (cols, rows) => {
      if (!opts.tty || opts.stdio !== 'pipe' || child.pid === undefined || child.exitCode !== null) return;
      const tty = runtimeTerminal(child.pid);
      if (!tty) return;
      // The kernel sends SIGWINCH to the terminal's foreground process: the runtime, which resizes the
      // container's terminal to match.
      await new Promise<void>((resolve) =>
        execFile(
          'stty',
          ['-F', tty, 'cols', String(Math.floor(cols)), 'rows', String(Math.floor(rows))],
          () => resolve(),
        ),
      );
    },
  };
}

/** The terminal `script` gave the runtime: fd 0 of script's child (a /dev/pts/N), if still there. */
function runtimeTerminal(scriptPid: number): string | undefined {
  let children: string[];
  try {
    children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/);
  } catch {
    return undefined;
  }
  for (const pid of children) {
    try {
      const t = readlinkSync(`/proc/${pid}/fd/0`);
      if (t.startsWith('/dev/pts/')) return t;
    } catch {
      // gone already
    }
  }
  return undefined;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function collector(stream: Readable, cap: number): () => Uint8Array {
  const parts: Buffer[] = [];
  let size = 0;
  stream.on('data', (d: Buffer) => {
    if (size >= cap) return;
    const take = d.subarray(0, cap - size);
    parts.push(take);
    size += take.length;
  });
  return () => new Uint8Array(Buffer.concat(parts));
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}
