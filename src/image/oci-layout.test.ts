import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importImage } from './archive.ts';
import { ImageStore } from './image-store.ts';
import { exportOciLayout, CONTAINERD_NAME, REF_NAME } from './oci-layout.ts';
import { tempDir, testImages, testImagesUnavailable } from './testing/fixtures.ts';
import { toolMissing } from './testing/local-registry.ts';

const skip = testImagesUnavailable();
if (skip) console.warn(`skipping OCI layout tests: ${skip}`);
const noSkopeo = toolMissing('skopeo', 'skopeo');

const layoutDigest = (dir: string): string =>
  JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests[0].digest;

describe.skipIf(skip)('OCI image layout import/export', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let images: string;

  beforeEach(() => {
    images = testImages();
    tmp = tempDir();
    store = new ImageStore(join(tmp.path, 'store'));
  });
  afterEach(() => tmp.cleanup());

  it('imports a layout directory under --name, verifying every blob', async () => {
    const r = await importImage(store, join(images, 'busybox'), { name: 'busybox' });
    expect(r).toHaveLength(1);
    expect(r[0].name).toBe('docker.io/library/busybox:latest');
    expect(r[0].target.digest).toBe(layoutDigest(join(images, 'busybox')));
    const img = await store.inspect('busybox');
    expect(img.config?.Cmd).toEqual(['/bin/sh']);
    expect(img.layers).toHaveLength(1);
    expect(img.platform).toMatch(/^linux\//);
    for (const b of await store.content.list()) await store.content.verify(b.digest, b.size);
  });

  it('leaves a layout whose only name is a tag unnamed unless --name is given', async () => {
    const r = await importImage(store, join(images, 'true'));
    expect(r[0].name).toBeUndefined();
    expect(await store.list()).toEqual([]);
    const full = await importImage(store, join(images, 'true'), { name: '127.0.0.1:5000/tools/true:v1' });
    expect(full[0].name).toBe('127.0.0.1:5000/tools/true:v1');
  });

  it('round-trips through a layout directory and an archive with the same digests', async () => {
    await importImage(store, join(images, 'httpd'), { name: 'httpd' });
    await importImage(store, join(images, 'layered'), { name: 'registry.local/layered:2' });
    const dir = join(tmp.path, 'out-dir');
    const index = await exportOciLayout(store, ['httpd', 'registry.local/layered:2'], dir);
    expect(index.manifests.map((m) => m.annotations)).toEqual([
      { [CONTAINERD_NAME]: 'docker.io/library/httpd:latest', [REF_NAME]: 'latest' },
      { [CONTAINERD_NAME]: 'registry.local/layered:2', [REF_NAME]: '2' },
    ]);
    const archive = join(tmp.path, 'out.tar');
    await exportOciLayout(store, ['httpd', 'registry.local/layered:2'], archive);
    // Reproducible: the same images give the same archive bytes.
    await exportOciLayout(store, ['httpd', 'registry.local/layered:2'], join(tmp.path, 'again.tar'));
    expect(readFileSync(archive).equals(readFileSync(join(tmp.path, 'again.tar')))).toBe(true);
    expect(execFileSync('tar', ['tf', archive], { encoding: 'utf8' }).split('\n').slice(0, 3)).toEqual([
      'oci-layout',
      'blobs/',
      'blobs/sha256/',
    ]);

    for (const src of [dir, archive]) {
      const fresh = new ImageStore(join(tmp.path, `fresh-${src.endsWith('.tar') ? 'tar' : 'dir'}`));
      const r = await importImage(fresh, src);
      expect(r.map((i) => i.name)).toEqual(['docker.io/library/httpd:latest', 'registry.local/layered:2']);
      expect((await fresh.get('httpd'))!.target.digest).toBe(layoutDigest(join(images, 'httpd')));
      expect((await fresh.get('registry.local/layered:2'))!.target.digest).toBe(
        layoutDigest(join(images, 'layered')),
      );
      expect((await fresh.content.list()).length).toBe((await store.content.list()).length);
    }
  });

  it('refuses to export into a non-empty directory', async () => {
    await importImage(store, join(images, 'busybox'), { name: 'busybox' });
    mkdirSync(join(tmp.path, 'full'));
    writeFileSync(join(tmp.path, 'full', 'x'), '');
    await expect(exportOciLayout(store, ['busybox'], join(tmp.path, 'full'))).rejects.toMatchObject({
      code: 'Conflict',
    });
    await expect(exportOciLayout(store, ['nope'], join(tmp.path, 'n'))).rejects.toMatchObject({
      code: 'NotFound',
    });
  });

  it('rejects a layout with a tampered or missing blob and tags nothing', async () => {
    const bad = join(tmp.path, 'bad');
    cpSync(join(images, 'layered'), bad, { recursive: true });
    const idx = JSON.parse(readFileSync(join(bad, 'index.json'), 'utf8'));
    const manifest = JSON.parse(
      readFileSync(join(bad, 'blobs/sha256', idx.manifests[0].digest.slice(7)), 'utf8'),
    );
    const layer = join(bad, 'blobs/sha256', manifest.layers[1].digest.slice(7));
    chmodSync(layer, 0o644);
    const bytes = readFileSync(layer);
    bytes[5] ^= 1;
    writeFileSync(layer, bytes);
    await expect(importImage(store, bad, { name: 'bad' })).rejects.toMatchObject({ code: 'DigestMismatch' });
    rmSync(layer);
    await expect(importImage(store, bad, { name: 'bad' })).rejects.toThrow(/lacks blob sha256:/);
    expect(await store.list()).toEqual([]);
  });

  it('rejects what is not an OCI layout', async () => {
    mkdirSync(join(tmp.path, 'empty'));
    await expect(importImage(store, join(tmp.path, 'empty'))).rejects.toThrow(/no oci-layout file/);
    writeFileSync(join(tmp.path, 'junk.tar'), 'not a tar'.repeat(100));
    await expect(importImage(store, join(tmp.path, 'junk.tar'))).rejects.toThrow(
      /not a readable tar archive/,
    );
    await expect(importImage(store, join(tmp.path, 'missing'))).rejects.toMatchObject({ code: 'NotFound' });
  });

  describe.skipIf(noSkopeo)('interoperates with skopeo', () => {
    it('skopeo reads what Strata exports, and Strata imports an oci-archive skopeo wrote', async () => {
      await importImage(store, join(images, 'httpd'), { name: 'httpd' });
      const dir = join(tmp.path, 'export');
      await exportOciLayout(store, ['httpd'], dir);
      const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${dir}:latest`], { encoding: 'utf8' }));
      expect(info.Digest).toBe(layoutDigest(join(images, 'httpd')));
      const archive = join(tmp.path, 'skopeo.tar');
      execFileSync('skopeo', [
        'copy',
        '--quiet',
        `oci:${join(images, 'layered')}:latest`,
        `oci-archive:${archive}:example/layered:v3`,
      ]);
      const r = await importImage(store, archive);
      expect(r[0].name).toBe('docker.io/example/layered:v3');
      expect(r[0].target.digest).toBe(layoutDigest(join(images, 'layered')));
    });
  });
});
