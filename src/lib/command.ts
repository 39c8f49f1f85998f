// Runs host tools (ip, iptables, runc, crun) without a shell, and turns a failure into an error that
// carries the tool's own message: "ip link add ...: RTNETLINK answers: File exists".

import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

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
  constructor(cmd: string, args: string[], code: number | null, stderr: string) {
    super(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit ${code}`}`);
    this.name = 'CommandError';
    this.code = code;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Written to the tool's stdin (ip -batch -, iptables-restore). */
  input?: string;
  timeoutMs?: number;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      which(cmd) ?? cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code =
          typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
        reject(new CommandError(cmd, args, code, stderr || err.message));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
