// Small durable-filesystem helpers shared by the stores: write-then-rename with fsync (a crash leaves
// either the old file or the new one, never a torn one) and pid-liveness for lock and lease files.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** fsync a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function atomicWriteFile(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs fn while holding an exclusive lock file (O_EXCL create holding our pid). Works across processes
 * on one node: the agent and a `strata image` command share the store. A lock whose holder died is
 * taken over. Within one process calls queue on the same path.
 */
export async function withLockFile<T>(path: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const prev = inProcess.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  inProcess.set(path, chained);
  await prev;
  try {
    await acquire(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await rm(path, { force: true });
    }
  } finally {
    release();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  }
}

const inProcess = new Map<string, Promise<void>>();

async function acquire(path: string, timeoutMs: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(await readText(path));
    // A lock file still being written has no pid yet; give its writer a moment before judging it.
    if (holder ? !pidAlive(holder) : await olderThan(path, 5_000)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} (held by pid ${holder})`);
    await sleep(25);
  }
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      return (await fh.readFile('utf8')).trim();
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}
