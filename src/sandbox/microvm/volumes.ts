// A microVM's volumes: the guest has no shared filesystem with the host here (no 9p, no virtiofsd), so
// every volume reaches it as a virtio-blk disk of its own (serial v<N>), which the init mounts and binds
// where the pod wants it (init.ts, `vol`):
//
// - read-only volumes (configMap, secret, downwardAPI, projected, read-only hostPath data): a small raw
//   ext4 image built per start with `mke2fs -d` in the sandbox's own directory (root-only, removed with
//   the sandbox), attached read-only. Secrets never touch a shared or writable image. The content is a
//   copy taken at start: ConfigMap and Secret updates do not reach a running VM (the next start sees
//   them). A file mounted on a file (a single key) is a disk holding that one file.
// - writable directories (emptyDir): a sparse ext4 image per pod and volume, seeded from the agent's
//   directory (fsGroup ownership included) when first made, and kept for the pod's lifetime, so that
//   what an init container writes is there for the next container; removed with the pod
//   (releasePod/reconcilePods). Writes stay in the image: a writable hostPath would not see them, so
//   host directories reach VMs as read-only data only.
// - persistent volumes whose backing is an ext4 image file (the local-path provisioner's): the file
//   itself is attached, read-write or read-only as mounted, never while the host has it loop-mounted.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { VolumeMount } from '../driver.ts';
import { treeUsage } from './disk.ts';
import type { GuestVolume } from './init.ts';
import { LIVE_VOLUME_MAX_BYTES, type LiveVolume } from './live-volumes.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;

/** Size of a writable emptyDir's image (sparse: only what the pod writes takes disk space). */
export const EMPTYDIR_BYTES = 1024 * MiB;

export interface VolumeDisk {
  serial: string;
  file: string;
  readOnly: boolean;
}

/** The superblock magic of ext2/3/4 (offset 1024 + 56). */
export function isExt4Image(path: string): boolean {
  let fd: number | undefined;
  try {
    if (!statSync(path).isFile()) return false;
    fd = openSync(path, 'r');
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 1024 + 56) === 2 && b.readUInt16LE(0) === 0xef53;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The loop device the host has `file` attached to, if any (attached twice, ext4 would be corrupted). */
export function loopDeviceOf(file: string): string | undefined {
  const real = realpathSync(file);
  let devices: string[] = [];
  try {
    devices = readdirSync('/sys/block').filter((d) => d.startsWith('loop'));
  } catch {
    return undefined;
  }
  for (const d of devices) {
    try {
      const backing = readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim();
      if (backing === real || backing === `${real} (deleted)`) return `/dev/${d}`;
    } catch {
      // Not attached.
    }
  }
  return undefined;
}

async function mkfs(source: string, image: string, bytes: number, inodes: number): Promise<void> {
  const tmp = `${image}.tmp`;
  rmSync(tmp, { force: true });
  try {
    await execFileAsync(
      'mke2fs',
      [
        '-q',
        '-F',
        '-t',
        'ext4',
        '-O',
        '^has_journal',
        '-N',
        String(inodes),
        '-m',
        '0',
        '-d',
        source,
        tmp,
        `${Math.ceil(bytes / 1024)}k`,
      ],
      { maxBuffer: 1 << 20 },
    );
    // A volume's image may hold a Secret: root's only (QEMU opens it before dropping to its user).
    chmodSync(tmp, 0o600);
    renameSync(tmp, image);
  } catch (err) {
    rmSync(tmp, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`mke2fs -d ${source}: ${(e.stderr || e.message).trim()}`);
  }
}

/** A read-only image of a directory's content (sized to it), or of one file (the disk holds just it). */
async function readOnlyImage(source: string, image: string, workDir: string): Promise<string | undefined> {
  let dir = source;
  let file: string | undefined;
  if (statSync(source).isFile()) {
    // mke2fs -d takes a directory: the one file is copied into a directory of its own.
    dir = join(workDir, `${basename(image)}.d`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    file = basename(source);
    cpSync(source, join(dir, file), { preserveTimestamps: true });
  }
  try {
    const { bytes, inodes } = treeUsage(dir);
    await mkfs(dir, image, bytes * 1.1 + 2 * MiB, inodes + 64);
  } finally {
    if (file) rmSync(dir, { recursive: true, force: true });
  }
  return file;
}

export interface VolumePlan {
  disks: VolumeDisk[];
  guest: GuestVolume[];
  /** Read-only directories small enough to keep current in the guest (live-volumes.ts). */
  live: LiveVolume[];
}

/**
 * The disks of `mounts` for one sandbox: read-only images in `sandboxDir`, writable ones in
 * `podDir` (kept across the pod's sandboxes). Throws naming the mount when one cannot be given.
 */
export async function volumeDisks(
  mounts: readonly VolumeMount[],
  sandboxDir: string,
  podDir: string,
): Promise<VolumePlan> {
  const plan: VolumePlan = { disks: [], guest: [], live: [] };
  for (const [i, m] of mounts.entries()) {
    const serial = `v${i}`;
    const what = `volume mount ${m.guestPath}`;
    if (!m.guestPath.startsWith('/')) throw new Error(`${what}: the mount path must be absolute`);
    // A local persistent volume names its ext4 image (VolumeMount.blockImage, read this way so that
    // this compiles with and without the field); an ext4 image file given as hostPath counts too.
    const blockImage = (m as VolumeMount & { blockImage?: string }).blockImage;
    const pvImage = blockImage ?? (isExt4Image(m.hostPath) ? m.hostPath : undefined);
    if (pvImage) {
      // Attached as it is; never while the node has it loop-mounted (two ext4 drivers on one image).
      if (!isExt4Image(pvImage)) throw new Error(`${what}: ${pvImage} is not an ext4 image`);
      const loop = loopDeviceOf(pvImage);
      if (loop) throw new Error(`${what}: ${pvImage} is attached to ${loop} on the node (unmount it first)`);
      plan.disks.push({ serial, file: pvImage, readOnly: m.readOnly });
      plan.guest.push({ serial, target: m.guestPath, readOnly: m.readOnly });
      continue;
    }
    let st;
    try {
      st = statSync(m.hostPath);
    } catch {
      throw new Error(`${what}: ${m.hostPath} does not exist on the node`);
    }
    if (m.readOnly) {
      if (!st.isFile() && !st.isDirectory())
        throw new Error(`${what}: ${m.hostPath} is neither a file nor a directory`);
      const image = join(sandboxDir, `volume-${serial}.ext4`);
      const file = await readOnlyImage(m.hostPath, image, sandboxDir);
      plan.disks.push({ serial, file: image, readOnly: true });
      // A small directory (a projected token, a Secret, a ConfigMap) is kept current while the VM runs.
      const live = !file && st.isDirectory() && treeUsage(m.hostPath).bytes <= LIVE_VOLUME_MAX_BYTES;
      if (live) plan.live.push({ serial, hostPath: m.hostPath });
      plan.guest.push({
        serial,
        target: m.guestPath,
        readOnly: true,
        ...(file ? { file } : {}),
        ...(live ? { live } : {}),
      });
    } else {
      if (!st.isDirectory()) {
        throw new Error(`${what}: a writable volume must be a directory (a VM cannot write a host file)`);
      }
      mkdirSync(podDir, { recursive: true, mode: 0o700 });
      const image = join(
        podDir,
        `${createHash('sha256').update(m.hostPath).digest('hex').slice(0, 16)}.ext4`,
      );
      if (!existsSync(image)) {
        const { inodes } = treeUsage(m.hostPath);
        await mkfs(m.hostPath, image, EMPTYDIR_BYTES, Math.max(inodes + 64, 65536));
      }
      plan.disks.push({ serial, file: image, readOnly: false });
      plan.guest.push({ serial, target: m.guestPath, readOnly: false });
    }
  }
  return plan;
}
