// Spare root filesystems on a real image store with real overlay mounts (root only): a start with no
// spare gets none and leaves one made behind it; the next start of the image claims it, mounted, under
// its own id; spares are one per image up to the cap, never made for an image the node no longer has,
// swept when their agent is gone, and removed (unmounted) at close.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, importImage, mountRootfs } from '../../image/index.ts';
import { isMountPoint } from '../../image/overlay.ts';
import {
  overlayUnavailable,
  tempDir,
  testImages,
  testImagesUnavailable,
} from '../../image/testing/fixtures.ts';
import { ContainerDriver } from './driver.ts';
import { RootfsSpares } from './rootfs-spares.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const unavailable = overlayUnavailable() ?? testImagesUnavailable();
if (unavailable) console.warn(`skipping spare rootfs tests: ${unavailable}`);

/** Waits until `check` holds (the refill runs on a timer, off the caller's path). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 20_000; !(await check());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(unavailable)('RootfsSpares', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let busybox: string;
  let httpd: string;
  const containers = () => readdirSync(join(tmp.path, 'images', 'snapshots', 'containers')).sort();

  beforeAll(async () => {
    tmp = tempDir('strata-spares-');
    store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    await importImage(store, join(testImages(), 'httpd'), { name: 'httpd:1' });
    busybox = (await store.resolve('busybox:1')).manifestDescriptor.digest;
    httpd = (await store.resolve('httpd:1')).manifestDescriptor.digest;
  });
  afterAll(() => tmp?.cleanup());

  it('makes a spare after a start, and the next start claims it mounted under its own id', async () => {
    const spares = new RootfsSpares(store, { refillDelayMs: 0 });
    try {
      expect(await spares.take('busybox:1', busybox, 'c1')).toBeUndefined();
      await until('a busybox spare', () => spares.ready().has(busybox));
      const [spareId] = containers();
      expect(spareId).toMatch(new RegExp(`^spare-${process.pid}-[0-9a-f]{12}$`));
      expect(await isMountPoint(join(tmp.path, 'images/snapshots/containers', spareId!, 'rootfs'))).toBe(
        true,
      );

      const claimed = await spares.take('busybox:1', busybox, 'c2');
      expect(claimed?.containerId).toBe('c2');
      expect(claimed?.manifestDigest).toBe(busybox);
      expect(claimed?.rootfs).toBe(join(tmp.path, 'images/snapshots/containers/c2/rootfs'));
      // Mounted where the container's id says, with the image in it; writes land in its own upper dir.
      expect(await isMountPoint(claimed!.rootfs)).toBe(true);
      expect(readdirSync(claimed!.rootfs)).toContain('bin');
      writeFileSync(join(claimed!.rootfs, 'written'), 'mine');
      expect(readFileSync(join(claimed!.upperdir, 'written'), 'utf8')).toBe('mine');
      expect((await store.snapshots.get('c2'))?.containerId).toBe('c2');
      expect(await store.snapshots.get(spareId!)).toBeUndefined();
      // mountRootfs on a claimed spare sees the mount and leaves it.
      await mountRootfs(claimed!);
      await store.removeRootfs('c2');
      expect(existsSync(claimed!.rootfs)).toBe(false);
      // And a new spare replaces the one taken.
      await until('another busybox spare', () => spares.ready().has(busybox));
    } finally {
      await spares.close();
    }
    // close() unmounts and removes them.
    expect(containers()).toEqual([]);
  });

  it('keeps one spare per image up to the cap, and none for an image the node no longer has', async () => {
    const spares = new RootfsSpares(store, { refillDelayMs: 0, max: 1 });
    try {
      await spares.take('busybox:1', busybox, 'a1');
      await until('a busybox spare', () => spares.ready().has(busybox));
      await spares.take('httpd:1', httpd, 'a2');
      await until('an httpd spare', () => spares.ready().has(httpd));
      // Over the cap of 1: the older one went.
      await until('the busybox spare dropped', () => !spares.ready().has(busybox));
      await until('one spare left', () => containers().filter((c) => c.startsWith('spare-')).length === 1);
      expect(spares.ready()).toEqual(new Map([[httpd, 'httpd:1']]));
      // A start whose image changed since (another manifest under the name): no spare is made for it.
      const before = containers();
      await spares.take('busybox:1', 'sha256:' + '0'.repeat(64), 'a3');
      await new Promise((r) => setTimeout(r, 300));
      expect(containers()).toEqual(before);
    } finally {
      await spares.close();
      await store.removeRootfs('a1');
      await store.removeRootfs('a2');
    }
    expect(containers()).toEqual([]);
  });

  it('a container that already has its rootfs keeps it; the spare stays for the next', async () => {
    const spares = new RootfsSpares(store, { refillDelayMs: 0 });
    try {
      await store.prepare('busybox:1', 'r1');
      await spares.take('busybox:1', busybox, 'r0');
      await until('a busybox spare', () => spares.ready().has(busybox));
      expect(await spares.take('busybox:1', busybox, 'r1')).toBeUndefined();
      expect(spares.ready().has(busybox)).toBe(true);
    } finally {
      await spares.close();
      await store.removeRootfs('r1');
    }
  });

  it('sweeps the spares of agents that are gone when it starts, not those of live ones', async () => {
    // A dead agent's spare (a pid that cannot be running) and a live one's (pid 1).
    const dead = await store.prepare('busybox:1', 'spare-999999999-aaaaaaaaaaaa');
    await mountRootfs(dead);
    await store.prepare('busybox:1', 'spare-1-bbbbbbbbbbbb');
    const spares = new RootfsSpares(store, { refillDelayMs: 0 });
    try {
      // With no container started: the sweep is the new agent's, not its first spare's.
      await until(
        'the dead agent’s spare swept',
        () => !containers().includes('spare-999999999-aaaaaaaaaaaa'),
      );
      expect(await isMountPoint(dead.rootfs)).toBe(false);
      expect(containers()).toContain('spare-1-bbbbbbbbbbbb');
    } finally {
      await spares.close();
      await store.removeRootfs('spare-1-bbbbbbbbbbbb');
    }
  });
});

describe.skipIf(unavailable)('the container tier with spares', () => {
  let tmp: ReturnType<typeof tempDir>;
  const runDir = `/run/strata-test-${process.pid}-spares`;

  beforeAll(() => {
    tmp = tempDir('strata-ct-spares-');
  });
  afterAll(() => tmp?.cleanup());

  it("prepareArtifact claims the image's spare, and shutdown removes the rest", async () => {
    const store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    const spareDirs = () =>
      readdirSync(join(tmp.path, 'images/snapshots/containers')).filter((c) => c.startsWith('spare-'));
    const driver = new ContainerDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
    });
    let first: Awaited<ReturnType<ContainerDriver['prepareArtifact']>> | undefined;
    let second: typeof first;
    try {
      const container = { name: 'main', image: 'busybox:1', command: ['true'] };
      first = await driver.prepareArtifact({ sandboxId: 'sb-1', container });
      // The spare is made after the default 2 s, off this start.
      expect(spareDirs()).toEqual([]);
      await until('a spare', () => driver.spareRootfs().size === 1);
      const [spare] = spareDirs();
      second = await driver.prepareArtifact({ sandboxId: 'sb-2', container });
      expect(second.image).toBe(join(tmp.path, 'images/snapshots/containers/sb-2/rootfs'));
      expect(spareDirs()).not.toContain(spare);
      expect(readdirSync(second.image)).toContain('bin');
      await until('the next spare', () => driver.spareRootfs().size === 1);
      expect(spareDirs()).toHaveLength(1);
    } finally {
      // Released whatever the assertions said: a mounted rootfs would outlive the test.
      await first?.release?.();
      await second?.release?.();
      await driver.shutdown();
    }
    expect(spareDirs()).toEqual([]);
  }, 30_000);
});
