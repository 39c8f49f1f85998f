import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from './digest.ts';
import { defaultImageRoot, ImageStore } from './image-store.ts';
import { MediaType } from './oci.ts';
import { fakeImage, tempDir } from './testing/fixtures.ts';

describe('ImageStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;

  beforeEach(() => {
    tmp = tempDir();
    store = new ImageStore(join(tmp.path, 'store'), { platform: { os: 'linux', architecture: 'amd64' } });
  });
  afterEach(() => tmp.cleanup());

  it('defaults its root under $STRATA_HOME or ~/.strata', () => {
    expect(defaultImageRoot({ STRATA_HOME: '/srv/strata' })).toBe('/srv/strata/data/agent/images');
    expect(defaultImageRoot({})).toMatch(/\/\.strata\/data\/agent\/images$/);
  });

  it('tags, lists, resolves and removes names, persisting them in images.json', async () => {
    const amd = await fakeImage(store, 'amd64');
    expect(await store.tag('app:1', amd)).toBe('docker.io/library/app:1');
    await store.tag('127.0.0.1:5000/app:1', amd);
    // Another store on the same root (the agent and the CLI) sees the same names.
    const other = new ImageStore(store.root);
    expect((await other.list()).map((r) => r.name)).toEqual([
      '127.0.0.1:5000/app:1',
      'docker.io/library/app:1',
    ]);
    expect(
      JSON.parse(readFileSync(join(store.root, 'images.json'), 'utf8')).images['docker.io/library/app:1']
        .target.digest,
    ).toBe(amd.digest);
    const img = await store.resolve('app:1');
    expect(img.config?.config?.Cmd).toEqual(['amd64']);
    expect(img.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect((await store.get(`app@${amd.digest}`))!.target.digest).toBe(amd.digest); // by digest, untagged form
    expect(await store.remove('app:1')).toEqual(['docker.io/library/app:1']);
    await expect(store.remove('app:1')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(store.resolve('app:1')).rejects.toThrow(
      /image docker.io\/library\/app:1 not found in the local store/,
    );
  });

  it('removes every tag of a repository pointing at a digest', async () => {
    const amd = await fakeImage(store, 'amd64');
    await store.tag('app:1', amd);
    await store.tag('app:latest', amd);
    await store.tag('other:1', amd);
    expect((await store.remove(`app@${amd.digest}`)).sort()).toEqual([
      'docker.io/library/app:1',
      'docker.io/library/app:latest',
    ]);
    expect((await store.list()).map((r) => r.name)).toEqual(['docker.io/library/other:1']);
  });

  it('refuses bad names and content it does not hold, changing nothing', async () => {
    const amd = await fakeImage(store, 'amd64');
    await expect(store.tag('Bad:1', amd)).rejects.toMatchObject({ code: 'InvalidReference' });
    await expect(store.tag('app:1', { ...amd, digest: sha256('absent') })).rejects.toMatchObject({
      code: 'NotFound',
    });
    await expect(store.tag('app:1', { ...amd, mediaType: MediaType.ociLayer })).rejects.toMatchObject({
      code: 'InvalidManifest',
    });
    await expect(store.tag(`app@${sha256('x')}`, amd)).rejects.toMatchObject({ code: 'DigestMismatch' });
    expect(await store.list()).toEqual([]);
  });

  it('selects the platform from an index among the manifests it holds', async () => {
    const amd = await fakeImage(store, 'amd64');
    const arm = await fakeImage(store, 'arm64');
    const missing = {
      ...amd,
      digest: sha256('not pulled'),
      platform: { os: 'linux', architecture: 's390x' },
    };
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [arm, amd, missing] }),
    );
    await store.content.put(index);
    await store.tag('multi:1', { mediaType: MediaType.ociIndex, digest: sha256(index), size: index.length });
    expect((await store.resolve('multi:1')).manifestDescriptor.digest).toBe(amd.digest);
    const a = await store.resolve('multi:1', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(a.manifestDescriptor.digest).toBe(arm.digest);
    expect(a.config?.config?.Cmd).toEqual(['arm64']);
    await expect(store.resolve('multi:1', { os: 'linux', architecture: 's390x' })).rejects.toThrow(
      /no manifest for linux\/s390x \(available: linux\/arm64, linux\/amd64\)/,
    );
    const info = await store.inspect('multi:1');
    expect(info).toMatchObject({
      digest: sha256(index),
      mediaType: MediaType.ociIndex,
      manifestDigest: amd.digest,
      platform: 'linux/amd64',
    });
  });
});
