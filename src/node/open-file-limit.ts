// Raises the agent process's open-file limit as far as the host allows, before the drivers size
// themselves by it (a wasm guest holds a descriptor per volume: src/sandbox/wasm/fd-budget.ts).
//
// Node already lifts the soft RLIMIT_NOFILE to the hard one at startup; the hard limit itself can be
// raised only with CAP_SYS_RESOURCE (root on a normal host), up to fs.nr_open. Node has no setrlimit, so
// util-linux's `prlimit --pid <own pid>` does it. Where it is refused (an unprivileged container: this
// machine's is 20,000 soft = hard) one log line says so and the node advertises what the limit allows.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface OpenFileLimitResult {
  before: number;
  after: number;
  /** Why it could not be raised (prlimit's message), when it was not. */
  refused?: string;
}

interface Limits {
  soft: number;
  hard: number;
}

function nofile(): Limits | undefined {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    const n = (s: string) => (s === 'unlimited' ? Infinity : Number.parseInt(s, 10));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return undefined;
  }
}

function nrOpen(): number {
  try {
    return Number.parseInt(readFileSync('/proc/sys/fs/nr_open', 'utf8'), 10) || 1_048_576;
  } catch {
    return 1_048_576;
  }
}

function prlimit(n: number): string | undefined {
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:${n}`], { encoding: 'utf8' });
  if (r.error) return r.error.message; // no prlimit (util-linux) on this host
  return r.status === 0 ? undefined : r.stderr.trim() || `prlimit exited ${r.status}`;
}

/** Lifts RLIMIT_NOFILE (soft and hard) to fs.nr_open where permitted, else soft to hard. */
export function raiseOpenFileLimit(log?: {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}): OpenFileLimitResult | undefined {
  const limits = nofile();
  if (!limits) return undefined;
  const target = nrOpen();
  if (limits.soft >= target) return { before: limits.soft, after: limits.soft };
  let refused = prlimit(target);
  if (refused && limits.soft < limits.hard && limits.hard !== Infinity) prlimit(limits.hard);
  const after = nofile()?.soft ?? limits.soft;
  if (refused) {
    log?.warn(
      { openFileLimit: after, wanted: target, err: refused },
      'open-file limit not raised (needs CAP_SYS_RESOURCE): the node advertises the wasm pods it allows',
    );
  } else {
    log?.info({ openFileLimit: after, before: limits.soft }, 'open-file limit raised');
    refused = undefined;
  }
  return { before: limits.soft, after, ...(refused ? { refused } : {}) };
}
