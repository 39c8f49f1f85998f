// Is the container's command there? With an init as PID 1, the runtime only checks the init; a missing
// workload binary would surface as an init that exits at once, after the pod was reported Running.
// Checking first gives the runtime's own verdict ("executable file not found in $PATH") as a start
// error instead, as without an init.
//
// Paths are resolved inside the rootfs the way the container will see them: symlinks are followed
// relative to the rootfs (busybox applets are `/bin/busybox` links), never to the host. Commands under a
// volume mount are not checked (the volume's content may appear later): 'unknown'.

import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

export type Presence = 'found' | 'missing' | 'unknown';

export function findExecutable(
  rootfs: string,
  argv0: string,
  opts: { path: string; cwd: string; mountPoints: string[] },
): Presence {
  let candidates: string[];
  if (argv0.includes('/')) candidates = [posix.resolve(opts.cwd, argv0)];
  else
    candidates = opts.path
      .split(':')
      .filter((d) => d.startsWith('/'))
      .map((d) => posix.join(d, argv0));
  let unknown = false;
  for (const guestPath of candidates) {
    if (
      opts.mountPoints.some((m) => guestPath === m || guestPath.startsWith(m.endsWith('/') ? m : `${m}/`))
    ) {
      unknown = true;
      continue;
    }
    const host = resolveInRoot(rootfs, guestPath);
    if (!host) continue;
    try {
      const st = statSync(host);
      if (st.isFile() && (st.mode & 0o111) !== 0) return 'found';
    } catch {
      // not there
    }
  }
  return unknown ? 'unknown' : 'missing';
}

/** The host path of `guestPath` inside `root`, symlinks resolved within the root; undefined if missing. */
export function resolveInRoot(root: string, guestPath: string): string | undefined {
  const todo = guestPath.split('/').filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop(); // ".." at the root stays at the root, as in the kernel
      continue;
    }
    const here = join(root, ...done, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(here).isSymbolicLink();
    } catch {
      return undefined;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++hops > 40) return undefined; // ELOOP
    const target = readlinkSync(here);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter(Boolean));
  }
  return join(root, ...done);
}
