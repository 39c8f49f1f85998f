// The agent process's open-file budget, and what it allows the wasm tier.
//
// Every wasm guest holds a host descriptor per volume mount for its whole life (node:wasi's uvwasi opens
// the preopened directories when the WASI object is made), in the agent's own process. At 10,000 pods
// the process's RLIMIT_NOFILE (20,000 in this machine's container, soft = hard, not raisable without
// CAP_SYS_RESOURCE) was reached and pods failed with a bare `EMFILE`. So the node advertises only the
// guests its limit can hold, the driver refuses a start that would pass it with a reason naming the
// limit, and an EMFILE that still happens (other tiers, sockets) says which limit it was.
//
// Container logs no longer hold a descriptor per container (src/agent/log-fds.ts: a bounded cache).
import { readFileSync } from 'node:fs';

/**
 * Descriptors kept for everything else in the process: the API server's and clients' sockets, watches,
 * the datastore, worker threads' pipes, the log descriptor cache (256), other tiers. 2,560 at most, a
 * quarter of a small limit (1,024 → 256).
 */
export const FD_RESERVE = 2_560;
/** What the node's advertised figure assumes per wasm pod: one volume (its service-account token). */
export const FDS_PER_WASM_POD = 1;

/**
 * The process's soft RLIMIT_NOFILE (Infinity when unlimited). Reading it opens a file, which fails
 * exactly when the limit is reached: then the last value read is the answer (read once at load).
 */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const n = !m || m[1] === 'unlimited' ? Infinity : Number.parseInt(m[1], 10);
    lastLimit = Number.isFinite(n) && n > 0 ? n : Infinity;
  } catch {
    // EMFILE itself, or no /proc: keep the last value
  }
  return lastLimit;
}
let lastLimit = Infinity;
openFileLimit();

/** Descriptors wasm guests may hold in all: the limit less the reserve. */
export function wasmFdBudget(limit = openFileLimit()): number {
  if (limit === Infinity) return Infinity;
  return Math.max(0, limit - Math.min(FD_RESERVE, Math.floor(limit / 4)));
}

/** Wasm pods (of one volume each) the open-file limit allows this process. */
export function fdPodCeiling(limit = openFileLimit()): number {
  return Math.floor(wasmFdBudget(limit) / FDS_PER_WASM_POD);
}

/** A message for EMFILE/ENFILE that names the limit; undefined for any other error. */
export function fdExhaustionMessage(err: unknown, what: string): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  const text = `${e?.code ?? ''} ${err instanceof Error ? err.message : String(err)}`;
  if (/\bENFILE\b/.test(text)) return `${what}: the system's open-file table is full (ENFILE, fs.file-max)`;
  if (!/\bEMFILE\b/.test(text)) return undefined;
  const limit = openFileLimit();
  return (
    `${what}: too many open files (EMFILE): this agent process has reached its open-file limit ` +
    `(RLIMIT_NOFILE ${limit === Infinity ? 'unknown' : limit}; a running wasm pod holds one per volume)`
  );
}

/** The error with its EMFILE/ENFILE message naming the limit (other errors are returned as they are). */
export function describeFdExhaustion(err: unknown, what: string): Error {
  const message = fdExhaustionMessage(err, what);
  if (!message) return err as Error;
  const out = new Error(message) as NodeJS.ErrnoException;
  out.code = (err as NodeJS.ErrnoException)?.code ?? 'EMFILE';
  return out;
}
