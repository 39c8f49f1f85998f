// Turns a sandbox's volume mounts into WASI preopens, refusing any mount a guest could escape through.
//
// node:wasi follows a host symlink in the middle of a guest path even when it points outside the
// preopen (a guest read /etc/shadow through a `etc -> /etc` link on Node 20). So before start we walk
// every mounted directory and refuse the sandbox if a symlink resolves outside its mount. (fs-guard.ts
// re-checks each path at use, for links that appear after start.) We refuse rather than delete: the
// directory belongs to the user or to the agent, and a silently "fixed" volume would hide the problem.

import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { SandboxError, type VolumeMount } from '../driver.ts';
import { within, type PreopenSpec } from './fs-guard.ts';

/** Entries examined per mount before giving up the pre-start scan (the runtime guard still applies). */
const SCAN_LIMIT = 100_000;

export async function prepareMounts(mounts: VolumeMount[]): Promise<PreopenSpec[]> {
  const seen = new Set<string>();
  const out: PreopenSpec[] = [];
  for (const m of mounts) {
    const guestPath = m.guestPath;
    if (!guestPath.startsWith('/') || guestPath.split('/').includes('..') || guestPath.includes('\0')) {
      throw mountError(`mount path ${JSON.stringify(guestPath)} must be an absolute path without '..'`);
    }
    const key = posix.normalize(guestPath).replace(/(.)\/+$/, '$1');
    if (seen.has(key)) throw mountError(`two mounts share the path ${key}`);
    seen.add(key);

    let root: string;
    try {
      root = await realpath(m.hostPath);
    } catch (err) {
      throw mountError(
        `volume for ${key}: host directory ${m.hostPath} is not available: ${(err as Error).message}`,
      );
    }
    const st = await lstat(root);
    if (!st.isDirectory()) {
      throw mountError(
        `volume for ${key}: ${m.hostPath} is not a directory (the wasm tier mounts directories only)`,
      );
    }
    const escape = await findEscapingSymlink(root);
    if (escape) {
      throw mountError(
        `volume for ${key}: symlink ${escape.link} points outside the volume (to ${escape.target}); ` +
          'the wasm tier refuses volumes a guest could escape through',
      );
    }
    out.push({ guestPath: key, hostPath: root, readOnly: m.readOnly });
  }
  return out;
}

/** The first symlink under `root` whose target is outside `root` (dangling ones judged by their text). */
export async function findEscapingSymlink(
  root: string,
): Promise<{ link: string; target: string } | undefined> {
  const stack = [root];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable or vanished: nothing a guest could use either
    }
    for (const e of entries) {
      if (++seen > SCAN_LIMIT) return undefined;
      const p = posix.join(dir, e.name);
      if (e.isDirectory()) {
        stack.push(p);
      } else if (e.isSymbolicLink()) {
        const target = await symlinkTarget(p);
        if (!within(target, root)) return { link: p, target };
      }
    }
  }
  return undefined;
}

async function symlinkTarget(link: string): Promise<string> {
  try {
    return await realpath(link);
  } catch {
    // Dangling: where it would lead once its target exists (relative to the link's real directory).
    const text = await readlink(link).catch(() => '/');
    const dir = await realpath(posix.dirname(link)).catch(() => posix.dirname(link));
    return posix.resolve(dir, text);
  }
}

function mountError(message: string): SandboxError {
  return new SandboxError('CreateContainerError', message);
}
