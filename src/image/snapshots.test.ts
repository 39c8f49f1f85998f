import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from './archive.ts';
import { ImageStore } from './image-store.ts';
import { isMountPoint } from './overlay.ts';
import { mountRootfs, unmountRootfs } from './snapshots.ts';
import { overlayUnavailable, tempDir, testImages, testImagesUnavailable } from './testing/fixtures.ts';

const skip = testImagesUnavailable() ?? overlayUnavailable();
if (skip) console.warn(`skipping snapshot/overlay tests: ${skip}`);

describe.skipIf(skip)('snapshots and overlay rootfs', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;

  beforeAll(async () => {
    const images = testImages();
    tmp = tempDir();
    store = new ImageStore(join(tmp.path, 'store'));
    await importImage(store, join(images, 'layered'), { name: 'layered' });
    await importImage(store, join(images, 'busybox'), { name: 'busybox' });
  });
  afterAll(async () => {
    for (const c of await store.snapshots.listContainers()) await store.snapshots.remove(c.containerId);
    tmp.cleanup();
  });

  it('stacks the layers read-only under a per-container upper dir, with whiteouts applied', async () => {
    const p = await store.prepare('layered', 'c1');
    expect(p.lowerdirs).toHaveLength(3);
    expect(p.upperdir).toBe(join(store.root, 'snapshots/containers/c1/upper'));
    await mountRootfs(p);
    try {
      expect(await isMountPoint(p.rootfs)).toBe(true);
      expect(readdirSync(join(p.rootfs, 'data')).sort()).toEqual(['dir', 'keep']); // data/gone whited out
      expect(readdirSync(join(p.rootfs, 'data/dir'))).toEqual(['new']); // opaque: data/dir/old hidden
      expect(readFileSync(join(p.rootfs, 'data/keep'), 'utf8')).toBe('kept\n');
      // The rootfs runs: busybox from the bottom layer reads a file from the middle one.
      expect(execFileSync('chroot', [p.rootfs, '/bin/cat', '/data/keep'], { encoding: 'utf8' })).toBe(
        'kept\n',
      );
      // Writes land in the container's upper dir only.
      writeFileSync(join(p.rootfs, 'tmp/written'), 'mine');
      rmSync(join(p.rootfs, 'data/keep'));
      expect(readFileSync(join(p.upperdir, 'tmp/written'), 'utf8')).toBe('mine');
      expect(lstatSync(join(p.upperdir, 'data/keep')).isCharacterDevice()).toBe(true);
      for (const l of p.lowerdirs) expect(existsSync(join(l, 'tmp/written'))).toBe(false);
    } finally {
      await unmountRootfs(p);
    }
    expect(await isMountPoint(p.rootfs)).toBe(false);
  });

  it('shares unpacked layers between containers and images; each container has its own upper dir', async () => {
    const before = await store.snapshots.listLayers();
    const a = await store.prepare('layered', 'c2');
    const b = await store.prepare('busybox', 'c3');
    expect(a.lowerdirs).toEqual((await store.snapshots.get('c1'))!.lowerdirs);
    expect(b.lowerdirs).toEqual([a.lowerdirs[2]]); // the busybox layer is the same snapshot
    expect((await store.snapshots.listLayers()).sort()).toEqual(before.sort());
    await mountRootfs(a);
    try {
      expect(readFileSync(join(a.rootfs, 'data/keep'), 'utf8')).toBe('kept\n'); // c1 deleted it in its own upper only
    } finally {
      await unmountRootfs(a);
    }
  });

  it('is idempotent for the same image and refuses another image under the same id', async () => {
    const again = await store.prepare('layered', 'c1');
    expect(again.upperdir).toBe(join(store.root, 'snapshots/containers/c1/upper'));
    await expect(store.prepare('busybox', 'c1')).rejects.toMatchObject({ code: 'Conflict' });
    await expect(store.prepare('busybox', '../escape')).rejects.toMatchObject({ code: 'InvalidReference' });
  });

  it('mounts read-only when asked', async () => {
    const p = await store.prepare('busybox', 'ro1');
    await mountRootfs(p, { readOnly: true });
    try {
      expect(() => writeFileSync(join(p.rootfs, 'tmp/x'), 'x')).toThrow(/EROFS|read-only/);
    } finally {
      await store.snapshots.remove('ro1');
    }
    expect(existsSync(p.rootfs)).toBe(false);
  });

  it('remove() unmounts a mounted rootfs, deletes its directories, and is idempotent', async () => {
    const p = await store.prepare('busybox', 'gone');
    await mountRootfs(p);
    await store.snapshots.remove('gone');
    expect(await isMountPoint(p.rootfs)).toBe(false);
    expect(existsSync(join(store.root, 'snapshots/containers/gone'))).toBe(false);
    await store.snapshots.remove('gone');
    expect(await store.snapshots.get('gone')).toBeUndefined();
  });

  it('never unpacks a corrupt layer blob: the prepare fails and leaves nothing behind', async () => {
    const s2 = new ImageStore(join(tmp.path, 'store2'));
    const r = await importImage(s2, join(testImages(), 'httpd'), { name: 'httpd' });
    const img = await s2.resolve(r[0].name!);
    const top = img.manifest.layers[1];
    const blob = s2.content.path(top.digest);
    chmodSync(blob, 0o644);
    const bytes = readFileSync(blob);
    bytes[bytes.length - 20] ^= 0xff; // inside the gzip stream: still the right size
    writeFileSync(blob, bytes);
    const err = await s2.prepare('httpd', 'h1').catch((e) => e);
    expect(['DigestMismatch', 'InvalidLayer']).toContain(err.code);
    expect(err.message).toMatch(/corrupt|could not be unpacked/);
    expect(await s2.snapshots.get('h1')).toBeUndefined();
    expect((await s2.snapshots.listLayers()).length).toBeLessThanOrEqual(1); // only the intact bottom layer
    expect(readdirSync(join(s2.root, 'snapshots/tmp'))).toEqual([]);
  });
});
