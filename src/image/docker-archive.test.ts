import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importImage } from './archive.ts';
import { sha256 } from './digest.ts';
import { ImageStore } from './image-store.ts';
import { MediaType } from './oci.ts';
import { mountRootfs } from './snapshots.ts';
import {
  gzip,
  overlayUnavailable,
  tarOf,
  tempDir,
  testImages,
  testImagesUnavailable,
} from './testing/fixtures.ts';

const skip = testImagesUnavailable();
if (skip) console.warn(`skipping docker save import tests: ${skip}`);

/** Reads an OCI layout image back as (config bytes, uncompressed layer tars). */
function layoutImage(dir: string): { config: Buffer; layers: Buffer[] } {
  const blob = (d: string): Buffer => readFileSync(join(dir, 'blobs/sha256', d.slice(7)));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  return {
    config: blob(manifest.config.digest),
    layers: manifest.layers.map((l: { digest: string }) => gunzipSync(blob(l.digest))),
  };
}

/** A `docker save` archive in the classic layout: <id>/layer.tar, <config>.json, manifest.json, repositories. */
async function dockerSave(
  images: Array<{ tags: string[]; config: Buffer; layers: Buffer[] }>,
): Promise<Buffer> {
  const entries: Parameters<typeof tarOf>[0] = [];
  const manifest = [];
  const written = new Map<string, string>();
  for (const img of images) {
    const cfgName = `${sha256(img.config).slice(7)}.json`;
    entries.push({ name: cfgName, data: img.config });
    const layers: string[] = [];
    for (const [i, layer] of img.layers.entries()) {
      const id = sha256(`${cfgName}/${i}`).slice(7);
      const path = `${id}/layer.tar`;
      entries.push({ name: `${id}/`, type: 'directory' }, { name: `${id}/VERSION`, data: '1.0' });
      const first = written.get(sha256(layer));
      // docker save stores a layer once and links later copies to it.
      if (first) entries.push({ name: path, type: 'symlink', linkname: `../${first}` });
      else {
        entries.push({ name: path, data: layer });
        written.set(sha256(layer), path);
      }
      layers.push(path);
    }
    manifest.push({ Config: cfgName, RepoTags: img.tags, Layers: layers });
  }
  entries.push(
    { name: 'manifest.json', data: JSON.stringify(manifest) },
    { name: 'repositories', data: '{}' },
  );
  return tarOf(entries);
}

describe.skipIf(skip)('docker save import', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;

  beforeEach(() => {
    tmp = tempDir();
    store = new ImageStore(join(tmp.path, 'store'));
  });
  afterEach(() => tmp.cleanup());

  it('converts each image to an OCI manifest over the same layer bytes, following shared-layer links', async () => {
    const layered = layoutImage(join(testImages(), 'layered'));
    const busybox = layoutImage(join(testImages(), 'busybox'));
    const archive = join(tmp.path, 'save.tar');
    writeFileSync(
      archive,
      await dockerSave([
        { tags: ['example/layered:docker'], ...layered },
        { tags: ['bb:docker', '127.0.0.1:5000/bb:x'], ...busybox },
      ]),
    );
    const r = await importImage(store, archive);
    expect(r.map((i) => i.name)).toEqual([
      'docker.io/example/layered:docker',
      'docker.io/library/bb:docker',
      '127.0.0.1:5000/bb:x',
    ]);
    const img = await store.inspect('example/layered:docker');
    expect(img.mediaType).toBe(MediaType.ociManifest);
    expect(img.configMediaType).toBe(MediaType.ociConfig);
    expect(img.layers.map((l) => l.mediaType)).toEqual(Array(3).fill(MediaType.ociLayer));
    expect(img.layers.map((l) => l.digest)).toEqual(layered.layers.map((l) => sha256(l)));
    expect(img.layers.map((l) => l.diffId)).toEqual(layered.layers.map((l) => sha256(l)));
    expect((await store.inspect('bb:docker')).layers[0].digest).toBe(img.layers[0].digest);
    if (!overlayUnavailable()) {
      const p = await store.prepare('example/layered:docker', 'docker1');
      await mountRootfs(p);
      try {
        expect(readFileSync(join(p.rootfs, 'data/keep'), 'utf8')).toBe('kept\n');
      } finally {
        await store.snapshots.remove('docker1');
      }
    }
  });

  it('reads a gzipped archive and names its image with --name', async () => {
    const busybox = layoutImage(join(testImages(), 'busybox'));
    const archive = join(tmp.path, 'save.tar.gz');
    writeFileSync(archive, gzip(await dockerSave([{ tags: [], ...busybox }])));
    const r = await importImage(store, archive, { name: 'local/busybox:saved' });
    expect(r[0].name).toBe('docker.io/local/busybox:saved');
  });

  it('rejects layers that do not match the config diff_ids, and tags nothing', async () => {
    const layered = layoutImage(join(testImages(), 'layered'));
    const archive = join(tmp.path, 'bad.tar');
    writeFileSync(
      archive,
      await dockerSave([{ tags: ['bad:1'], config: layered.config, layers: [...layered.layers].reverse() }]),
    );
    await expect(importImage(store, archive)).rejects.toMatchObject({ code: 'DigestMismatch' });
    expect(await store.list()).toEqual([]);
  });

  it('names a missing layer file', async () => {
    const archive = join(tmp.path, 'missing.tar');
    writeFileSync(
      archive,
      await tarOf([
        {
          name: 'manifest.json',
          data: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['nope/layer.tar'] }]),
        },
        { name: 'c.json', data: JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256('x')] } }) },
      ]),
    );
    await expect(importImage(store, archive)).rejects.toThrow(
      /layer "nope\/layer.tar" is not in the archive/,
    );
  });
});
