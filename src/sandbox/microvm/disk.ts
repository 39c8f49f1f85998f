// The guest's root filesystem disks: one ext4 image per image (built with `mke2fs -d` from the image's
// unpacked snapshot, cached under its top layer's chain id, read by every sandbox of the image but never
// written), and one qcow2 overlay per sandbox backed by it, where the sandbox's writes go.

import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Free space a guest gets on top of its image (the file is sparse: unused space costs no disk). */
export const DISK_HEADROOM_BYTES = 256 * 1024 * 1024;

/** Bytes and inodes a directory tree holds (without following links, not crossing into mounts). */
export function treeUsage(root: string): { bytes: number; inodes: number } {
  let bytes = 0;
  let inodes = 1;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const st = lstatSync(p);
      inodes++;
      bytes += Math.ceil(st.size / 4096) * 4096;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return { bytes, inodes };
}

async function tool(bin: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(bin, args, { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`${bin} not found (scripts/setup.sh installs it)`);
    throw new Error(`${bin} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/**
 * An ext4 image of `rootfs` at `path` (journal-less: the per-sandbox overlay is thrown away, so crash
 * consistency buys nothing and a journal costs guest time), sized to its content plus headroom.
 * Written to a temporary file and renamed, so a concurrent reader never sees half a disk.
 */
export async function buildExt4Disk(rootfs: string, path: string): Promise<void> {
  const { bytes, inodes } = treeUsage(rootfs);
  const size = Math.ceil((bytes * 1.2 + DISK_HEADROOM_BYTES) / (1024 * 1024));
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    await tool('mke2fs', [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-O',
      '^has_journal',
      // Inode tables written now, once per image: lazy init would make every guest's kernel do it.
      '-E',
      'lazy_itable_init=0,root_owner=0:0',
      '-N',
      String(inodes * 2 + 4096),
      '-L',
      'strata-root',
      '-d',
      rootfs,
      tmp,
      `${size}M`,
    ]);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A per-sandbox copy-on-write overlay of `base` (raw) at `path`: the guest writes there only. */
export async function createOverlay(base: string, path: string): Promise<void> {
  await tool('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', path]);
}

/**
 * The image disks of a node, cached in `dir` by key (the image's top layer chain id). Builds of one key
 * in this process are shared; across processes the rename keeps the file whole.
 */
export class DiskCache {
  private readonly building = new Map<string, Promise<string>>();
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  pathOf(key: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new Error(`disk cache key "${key}": expected [A-Za-z0-9_.-]`);
    return join(this.dir, `${key}.ext4`);
  }

  has(key: string): boolean {
    return existsSync(this.pathOf(key));
  }

  /** The disk of `key`, built from the rootfs `source()` makes ready when it is not cached yet. */
  async get(
    key: string,
    source: () => Promise<{ rootfs: string; release(): Promise<void> }>,
  ): Promise<string> {
    const path = this.pathOf(key);
    if (existsSync(path)) return path;
    let p = this.building.get(key);
    if (!p) {
      p = (async () => {
        const src = await source();
        try {
          await buildExt4Disk(src.rootfs, path);
        } finally {
          await src.release();
        }
        return path;
      })().finally(() => this.building.delete(key));
      this.building.set(key, p);
    }
    return p;
  }
}
