import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importImage } from './archive.ts';
import { ImageStore } from './image-store.ts';
import { tempDir, testImages, testImagesUnavailable, overlayUnavailable } from './testing/fixtures.ts';
import { walkImage } from './walk.ts';

const skip = testImagesUnavailable();
if (skip) console.warn(`skipping GC tests: ${skip}`);

describe.skipIf(skip)('garbage collection', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;

  beforeEach(async () => {
    tmp = tempDir();
    store = new ImageStore(join(tmp.path, 'store'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox' });
    await importImage(store, join(testImages(), 'layered'), { name: 'layered' });
  });
  afterEach(async () => {
    for (const c of await store.snapshots.listContainers()) await store.snapshots.remove(c.containerId);
    tmp.cleanup();
  });

  const digestsOf = async (ref: string): Promise<Set<string>> => {
    const rec = await store.get(ref);
    return new Set((await walkImage(store.content, rec!.target)).blobs.map((b) => b.digest));
  };

  it('keeps everything that is referenced', async () => {
    const before = (await store.content.list()).length;
    expect(await store.gc()).toEqual({
      blobsRemoved: 0,
      bytesFreed: 0,
      snapshotsRemoved: 0,
      partialsRemoved: 0,
    });
    expect((await store.content.list()).length).toBe(before);
  });

  it('removes only the blobs no remaining image references (shared layers stay)', async () => {
    const busybox = await digestsOf('busybox');
    const layered = await digestsOf('layered');
    const stray = await store.content.put(Buffer.from('unreferenced'));
    await store.remove('layered');
    const r = await store.gc();
    const left = new Set((await store.content.list()).map((b) => b.digest));
    expect(left).toEqual(busybox);
    const onlyLayered = [...layered].filter((d) => !busybox.has(d));
    expect(r.blobsRemoved).toBe(onlyLayered.length + 1);
    expect(left.has(stray.digest)).toBe(false);
    for (const b of await store.content.list()) await store.content.verify(b.digest, b.size);
    await store.remove('busybox');
    await store.gc();
    expect(await store.content.list()).toEqual([]);
  });

  it('keeps leased content until the lease is released', async () => {
    const wip = await store.content.put(Buffer.from('a pull in progress'));
    const lease = await store.leases.acquire({ blobs: [wip.digest] });
    await store.gc();
    expect(await store.content.has(wip.digest)).toBe(true);
    await lease.release();
    await store.gc();
    expect(await store.content.has(wip.digest)).toBe(false);
  });

  it('removes layer snapshots once no image or container uses them', async () => {
    await store.snapshots.ensureLayers(store.layersOf(await store.resolve('layered')));
    expect(await store.snapshots.listLayers()).toHaveLength(3);
    const canPrepare = !overlayUnavailable();
    if (canPrepare) await store.prepare('layered', 'ctr');
    await store.remove('layered');
    let r = await store.gc();
    // A prepared container keeps its layers (and the image's blobs go: the container needs only snapshots).
    expect(r.snapshotsRemoved).toBe(canPrepare ? 0 : 2);
    if (canPrepare) {
      await store.snapshots.remove('ctr');
      r = await store.gc();
      expect(r.snapshotsRemoved).toBe(2);
    }
    // The bottom layer is busybox's too, and busybox is still tagged.
    const busyboxLayer = (await store.resolve('busybox')).config!.rootfs.diff_ids[0];
    expect(await store.snapshots.listLayers()).toEqual([busyboxLayer.slice('sha256:'.length)]);
  });
});
