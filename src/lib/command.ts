// Runs host tools (ip, iptables, runc, crun) without a shell, and turns a failure into an error that
// carries the tool's own message: "ip link add ...: RTNETLINK answers: File exists".

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnCommand } from './spawner.ts';

/** Root's tools live in sbin, which a service's PATH often lacks: search there too. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of an executable found in PATH or the usual system directories, if any. */
export function which(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const known = found.get(name);
  if (known) return known;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) {
      found.set(name, candidate);
      return candidate;
    }
  }
  return undefined;
}

const found = new Map<string, string>();

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class CommandError extends Error {
  readonly code: number | null;
  readonly stderr: string;
  /** Why the tool could not be run at all (ENOENT: not installed), when that was the failure. */
  readonly errno?: string;
  constructor(cmd: string, args: string[], code: number | null, stderr: string, errno?: string) {
    super(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit ${code}`}`);
    this.name = 'CommandError';
    this.code = code;
    this.stderr = stderr;
    if (errno !== undefined) this.errno = errno;
  }
}

export interface RunOptions {
  /** Written to the tool's stdin (ip -batch -, iptables-restore). */
  input?: string;
  timeoutMs?: number;
  /** The tool's working directory (default: the helper's, which is this process's at its start). */
  cwd?: string;
}

/**
 * Runs a tool and resolves with its stdout; a failure (non-zero exit, signal, timeout, a missing tool)
 * rejects with a CommandError carrying its stderr. Tools run from the small helper process of
 * spawner.ts, so this process's event loop does not wait while the kernel copies its address space.
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await spawnCommand({
    file: which(cmd) ?? cmd,
    args,
    timeoutMs: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  if (r.ok) return r.stdout;
  throw new CommandError(cmd, args, r.code, r.stderr || (r.message ?? ''), r.errno);
}
