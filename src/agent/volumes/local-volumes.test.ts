// Real loop mounts of real ext4 images (root and e2fsprogs needed; skipped otherwise, saying why).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localVolumesUnusableReason, mountedSizeBytes } from './ext4-image.ts';
import { blockImageOf, LocalVolumes } from './local-volumes.ts';

const unusable = localVolumesUnusableReason();
if (unusable) console.warn(`skipping local volume tests: ${unusable}`);

const MiB = 1024 * 1024;
const dataDir = mkdtempSync(join(tmpdir(), 'strata-volumes-'));
const volumes = new LocalVolumes(dataDir);

afterAll(async () => {
  for (const h of volumes.handles()) await volumes.remove(h).catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
});

describe.skipIf(unusable)('LocalVolumes', () => {
  it('makes a sparse ext4 image, mounts it, and keeps the data across unmount and mount', async () => {
    const v = await volumes.attach('pvc-a', 64 * MiB, 'Delete');
    expect(v.image).toBe(join(dataDir, 'volumes', 'pvc-a', 'disk.img'));
    expect(volumes.isMounted('pvc-a')).toBe(true);
    expect(blockImageOf(v.dir)).toBe(v.image);
    writeFileSync(join(v.dir, 'hello.txt'), 'kept');
    await volumes.detach('pvc-a');
    expect(volumes.isMounted('pvc-a')).toBe(false);
    expect(existsSync(join(v.dir, 'hello.txt'))).toBe(false); // it was on the image, not the node
    const again = await volumes.attach('pvc-a', 64 * MiB, 'Delete');
    expect(readFileSync(join(again.dir, 'hello.txt'), 'utf8')).toBe('kept');
  });

  it('enforces the size: the filesystem fills up at the volume size', async () => {
    const v = await volumes.attach('pvc-small', 16 * MiB, 'Delete');
    expect(() => writeFileSync(join(v.dir, 'big'), Buffer.alloc(32 * MiB))).toThrow(/ENOSPC/);
  });

  it('grows online (when the kernel allows it) and offline, keeping the data', async () => {
    const v = await volumes.attach('pvc-grow', 32 * MiB, 'Delete');
    writeFileSync(join(v.dir, 'data'), 'x');
    const before = mountedSizeBytes(v.dir);
    // Online when the kernel allows it here; otherwise it must say so and leave the volume intact.
    const online = await volumes.grow('pvc-grow', 96 * MiB);
    if (online) expect(mountedSizeBytes(v.dir)).toBeGreaterThan(before + 48 * MiB);
    else expect(mountedSizeBytes(v.dir)).toBe(before);
    await volumes.detach('pvc-grow');
    expect(await volumes.grow('pvc-grow', 128 * MiB)).toBe(true);
    expect(volumes.filesystemBytes('pvc-grow')).toBe(128 * MiB);
    const after = await volumes.attach('pvc-grow', 128 * MiB, 'Delete');
    expect(mountedSizeBytes(after.dir)).toBeGreaterThan(96 * MiB);
    expect(readFileSync(join(after.dir, 'data'), 'utf8')).toBe('x');
  });

  it('remembers the reclaim policy and removes a volume with its data', async () => {
    await volumes.attach('pvc-keep', 16 * MiB, 'Retain');
    expect(volumes.reclaimPolicy('pvc-keep')).toBe('Retain');
    await volumes.remove('pvc-keep');
    expect(existsSync(join(dataDir, 'volumes', 'pvc-keep'))).toBe(false);
    expect(volumes.handles()).not.toContain('pvc-keep');
  });

  it('refuses handles that are not one path segment', () => {
    expect(() => volumes.imagePath('../etc')).toThrow(/invalid volume handle/);
    expect(() => volumes.imagePath('a/b')).toThrow(/invalid volume handle/);
  });
});
