// overlayfs primitives. Node has no mknod(2), setxattr(2) or mount(2), so these run the Debian tools
// (coreutils mknod, attr's setfattr, util-linux mount/umount) with argument vectors, never a shell.
import { readFile } from 'node:fs/promises';
import { CommandError, run } from '../lib/command.ts';
import { ImageError } from './errors.ts';

async function tool(cmd: string, args: string[], what: string, opts: { cwd?: string } = {}): Promise<void> {
  try {
    await run(cmd, args, opts.cwd !== undefined ? { cwd: opts.cwd } : {});
  } catch (err) {
    if (err instanceof CommandError && err.errno === 'ENOENT')
      throw new ImageError(
        'Unsupported',
        `${what} needs the ${cmd} command (${cmd === 'setfattr' ? 'apt-get install attr' : 'util-linux/coreutils'})`,
      );
    const stderr = err instanceof CommandError ? err.stderr : (err as Error).message;
    throw new ImageError('Mount', `${what} failed: ${stderr.trim()}`, { cause: err });
  }
}

/** An overlay whiteout: a character device 0:0 (the one device node unpacking ever creates). */
export async function makeWhiteout(path: string): Promise<void> {
  await tool('mknod', ['-m', '0000', path, 'c', '0', '0'], `creating the whiteout ${path}`);
}

/** Marks a directory opaque: overlay hides everything lower layers have under it. */
export async function setOpaque(dir: string): Promise<void> {
  await tool('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', dir], `marking ${dir} opaque`);
}

export interface OverlayMount {
  /** Top-most first, as overlayfs lists them. */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
  target: string;
  readOnly?: boolean;
}

/** One page: the kernel truncates mount options beyond it. */
const MAX_MOUNT_DATA = 4096 - 1;

/**
 * Mounts an overlay. Paths are passed relative to `cwd` (mount(8) resolves them from its own working
 * directory), which keeps the option string short for images with many layers.
 */
export async function mountOverlay(m: OverlayMount, cwd: string): Promise<void> {
  for (const p of [...m.lowerdirs, m.upperdir ?? '', m.workdir ?? ''])
    if (/[,:\n]/.test(p)) throw new ImageError('Mount', `overlay path ${JSON.stringify(p)} contains , or :`);
  const opts = [`lowerdir=${m.lowerdirs.join(':')}`];
  if (m.upperdir && m.workdir) opts.push(`upperdir=${m.upperdir}`, `workdir=${m.workdir}`);
  // Read-only keeps the upper dir (overlay refuses a single lowerdir without one) and mounts ro.
  if (m.readOnly) opts.push('ro');
  const data = opts.join(',');
  if (data.length > MAX_MOUNT_DATA)
    throw new ImageError(
      'Mount',
      `overlay options for ${m.lowerdirs.length} layers exceed one page (${data.length} bytes)`,
    );
  await tool(
    'mount',
    ['-t', 'overlay', 'overlay', '-o', data, m.target],
    `mounting the rootfs at ${m.target}`,
    { cwd },
  );
}

export async function unmount(target: string): Promise<void> {
  if (!(await isMountPoint(target))) return;
  try {
    await tool('umount', [target], `unmounting ${target}`);
  } catch (err) {
    // A process that still has a file open (e.g. a container being torn down) makes it busy: detach it
    // lazily so the directory can go; the kernel frees the mount when the last user leaves.
    if (!/busy/i.test((err as Error).message)) throw err;
    await tool('umount', ['-l', target], `unmounting ${target}`);
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .some((line) => line.split(' ')[4] !== undefined && unescapeMountPath(line.split(' ')[4]) === path);
}
