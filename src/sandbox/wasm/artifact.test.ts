// Where the wasm tier finds a container's module (ArtifactDriver.prepareArtifact): paths on the node,
// URLs, and OCI wasm artifacts in the node's image store; the @sha256 pin goes to start() to verify.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore } from '../../image/index.ts';
import { EMPTY_WASM, tempDir, wasmArtifact } from '../../image/testing/fixtures.ts';
import { SandboxError } from '../driver.ts';
import { WasmDriver } from './driver.ts';

const PIN = `sha256:${'a'.repeat(64)}`;
let tmp: ReturnType<typeof tempDir>;
let store: ImageStore;
let driver: WasmDriver;

beforeEach(() => {
  tmp = tempDir('strata-wasm-artifact-');
  store = new ImageStore(join(tmp.path, 'images'));
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache'), images: store, workDir: tmp.path });
});
afterEach(async () => {
  await driver.shutdown();
  tmp.cleanup();
});

const prepare = (image: string, imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never') =>
  driver.prepareArtifact({ sandboxId: 's-1', container: { name: 'app', image, imagePullPolicy } });

describe('the wasm tier prepares artifacts', () => {
  it("declares artifacts and tier options (a handler's ports); no pod network without a handler host", () => {
    expect(driver.capabilities).toMatchObject({
      artifacts: true,
      interactiveExec: false,
      podNetwork: false,
      tierOptions: true,
    });
  });

  it('passes URLs and absolute paths through, and resolves relative paths against its workDir', async () => {
    expect(await prepare('https://example.com/m.wasm')).toEqual({ image: 'https://example.com/m.wasm' });
    expect(await prepare(`/srv/m.wasm@${PIN}`)).toEqual({ image: '/srv/m.wasm', imageDigest: PIN });
    expect(await prepare('mods/m.wasm')).toEqual({ image: join(tmp.path, 'mods/m.wasm') });
    // An existing file wins over a reference of the same spelling.
    writeFileSync(join(tmp.path, 'module'), EMPTY_WASM);
    expect(await prepare('module')).toEqual({ image: join(tmp.path, 'module') });
  });

  it('resolves an OCI reference to the module blob in the image store', async () => {
    await store.tag('registry.example/wasm/mod:1', await wasmArtifact(store));
    const prepared = await prepare(`registry.example/wasm/mod:1@${PIN}`, 'IfNotPresent');
    expect(prepared.image).toMatch(new RegExp(`^${tmp.path}/images/`));
    expect(prepared.imageDigest).toBe(PIN);
    await driver.releaseArtifact('s-1'); // shared blobs: nothing to release, and no error
  });

  it('fails a reference the store cannot provide with ErrImagePull', async () => {
    const err = await prepare('registry.example/wasm/missing:1', 'Never').catch((e) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({
      reason: 'ErrImagePull',
      message: expect.stringMatching(/^registry.example\/wasm\/missing:1: /),
    });
  });

  it('without an image store, a reference is a path on the node', async () => {
    const bare = new WasmDriver({ cacheDir: join(tmp.path, 'cache2'), workDir: tmp.path });
    try {
      expect(
        await bare.prepareArtifact({
          sandboxId: 's',
          container: { name: 'a', image: 'registry.example/m:1' },
        }),
      ).toEqual({
        image: join(tmp.path, 'registry.example/m:1'),
      });
    } finally {
      await bare.shutdown();
    }
  });
});
