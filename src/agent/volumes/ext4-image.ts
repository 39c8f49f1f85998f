// An ext4 filesystem in a sparse file: the form of every local-path volume. The file's size is the
// volume's size (the filesystem cannot outgrow it, whatever writes into it), and a file is what reaches a
// microVM as a virtio-blk disk (these machines have no 9p/virtiofs). For the container and wasm tiers it
// is loop-mounted on the node and handed over as a directory. Uses e2fsprogs (mke2fs, resize2fs, e2fsck)
// and util-linux (mount, umount, losetup), as the kernel sees them — root only.
import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  statfsSync,
  truncateSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function exec(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** What the node needs for local volumes: root and the tools; undefined when usable, else why not. */
export function localVolumesUnusableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'local volumes need root (loop mounts)';
  for (const tool of ['mke2fs', 'resize2fs', 'e2fsck', 'mount', 'umount', 'losetup'])
    if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${tool}`)))
      return `local volumes need ${tool} (Debian packages e2fsprogs, util-linux, mount)`;
  return undefined;
}

/** Makes a sparse file of `bytes` holding a fresh ext4 filesystem (no reserved blocks: it is all the pod's). */
export async function createImage(path: string, bytes: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'wx', 0o600));
  try {
    truncateSync(path, bytes);
    // -m 0: no root-reserved blocks; lazy init keeps creation fast on a sparse file.
    await exec('mke2fs', [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-m',
      '0',
      '-E',
      'lazy_itable_init=1,lazy_journal_init=1',
      path,
    ]);
  } catch (err) {
    // A half-made image would be mounted as garbage later: never leave one behind.
    truncateSync(path, 0);
    (await import('node:fs')).rmSync(path, { force: true });
    throw err;
  }
}

/** The mount points under `root` that the kernel has (from /proc/self/mountinfo), with their sources. */
export function mountsUnder(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const base = resolve(root);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 10) continue;
    // Octal escapes (\040 for a space) as the kernel writes them.
    const point = fields[4].replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8)));
    const sep = fields.indexOf('-');
    if (point === base || point.startsWith(`${base}/`)) out.set(point, fields[sep + 2] ?? '');
  }
  return out;
}

export function isMountPoint(dir: string): boolean {
  return mountsUnder(dir).has(resolve(dir));
}

/** Loop-mounts the image on `dir` (made if needed); the filesystem's root is world-writable, as local-path makes it. */
export async function mountImage(image: string, dir: string): Promise<void> {
  if (isMountPoint(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await exec('mount', ['-t', 'ext4', '-o', 'loop', image, dir]);
  // Direct I/O from the loop device to the image: without it every block is cached twice (the volume's
  // page cache and the image file's) and a sync writes it twice — half the throughput of the node's disk.
  for (const dev of await loopDevicesOf(image))
    await exec('losetup', ['--direct-io=on', dev]).catch(() => undefined); // an fs without O_DIRECT: buffered
  // Any container user may write, as with emptyDir and Kubernetes' local-path provisioner.
  chmodSync(dir, 0o777);
}

/** Unmounts `dir` (the loop device goes with it: mount -o loop sets autoclear). */
export async function unmount(dir: string): Promise<void> {
  if (!isMountPoint(dir)) return;
  await exec('umount', [dir]);
}

/** The loop devices backed by `image`. */
async function loopDevicesOf(image: string): Promise<string[]> {
  const out = await exec('losetup', ['-j', image]);
  return out
    .split('\n')
    .map((l) => l.split(':')[0].trim())
    .filter((d) => d.startsWith('/dev/'));
}

/**
 * Grows the image to `bytes` and its filesystem with it: online through the loop device when mounted
 * (the kernel is told the new size with `losetup -c`), offline after a check otherwise. Never shrinks.
 */
export async function growImage(image: string, bytes: number, mounted: boolean): Promise<void> {
  if (statSync(image).size < bytes) truncateSync(image, bytes);
  if (mounted) {
    for (const dev of await loopDevicesOf(image)) {
      await exec('losetup', ['-c', dev]);
      await exec('resize2fs', [dev]);
    }
    return;
  }
  // resize2fs insists on a freshly checked filesystem when it is not mounted.
  await exec('e2fsck', ['-f', '-p', image]);
  await exec('resize2fs', [image]);
}

/** The filesystem's size as mounted (total blocks), in bytes. */
export function mountedSizeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.blocks * s.bsize;
}

/** The file's apparent size (the volume's size). */
export function imageSizeBytes(image: string): number {
  return statSync(image).size;
}
