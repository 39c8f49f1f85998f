// Components published as OCI artifacts, pulled from a real local registry (docker-registry) and run
// by the wasm tier: wkg's form (`application/wasm` layer, wasm config v0 with the component's
// imports and exports) and Spin's (`application/vnd.wasm.content.layer.v1+wasm`, a locked-app config,
// plus a data layer beside the component).
import { readFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../image/digest.ts';
import { ImageStore } from '../../image/image-store.ts';
import { MediaType, type Descriptor } from '../../image/oci.ts';
import { parsePlatform } from '../../image/platform.ts';
import { pushImage } from '../../image/push.ts';
import {
  registryUnavailable,
  startLocalRegistry,
  type LocalRegistry,
} from '../../image/testing/local-registry.ts';
import { WasmDriver } from './driver.ts';
import { repoRoot, spec, tempDir, type CapturedLog } from './test-support.ts';

const cli = join(repoRoot, 'build/components/wasi-cli-hello.wasm');
const skip = registryUnavailable() ?? (existsSync(cli) ? undefined : 'build/components not built');
if (skip) console.warn(`component artifact tests skipped: ${skip}`);

/** An artifact manifest of `layers` (bytes, media type) with `config`, tagged in `store`. */
async function artifact(
  store: ImageStore,
  config: { mediaType: string; body: object },
  layers: Array<{ mediaType: string; bytes: Buffer }>,
): Promise<Descriptor> {
  const configBytes = Buffer.from(JSON.stringify(config.body));
  await store.content.put(configBytes);
  for (const l of layers) await store.content.put(l.bytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: config.mediaType,
      config: { mediaType: config.mediaType, digest: sha256(configBytes), size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha256(l.bytes), size: l.bytes.length })),
    }),
  );
  await store.content.put(manifest);
  return { mediaType: MediaType.ociManifest, digest: sha256(manifest), size: manifest.length };
}

describe.skipIf(skip)('component artifacts from a registry', () => {
  let reg: LocalRegistry;
  let tmp: ReturnType<typeof tempDir>;
  let source: ImageStore;
  let driver: WasmDriver;

  beforeAll(async () => {
    tmp = tempDir('strata-component-artifact-');
    reg = await startLocalRegistry();
    source = new ImageStore(join(tmp.path, 'src'), { platform: parsePlatform('linux/amd64') });
    const images = new ImageStore(join(tmp.path, 'node'), { platform: parsePlatform('linux/amd64') });
    driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache'), images });
  }, 60_000);
  afterAll(async () => {
    await driver?.shutdown();
    await reg?.stop();
    tmp?.remove();
  });

  async function runFrom(ref: string): Promise<string> {
    const prepared = await driver.prepareArtifact({
      sandboxId: 'x',
      container: { name: 'main', image: ref, imagePullPolicy: 'IfNotPresent' },
    });
    const s = spec(prepared.image, { args: ['from-registry'], env: { GREETING: 'pulled' } });
    await driver.start(s);
    expect(await driver.wait(s.id)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    await driver.destroy(s.id);
    return (s.log as CapturedLog).stdout();
  }

  it("runs wkg's form: an application/wasm layer with a wasm config v0", async () => {
    const component = readFileSync(cli);
    await source.tag(
      'cli:wkg',
      await artifact(
        source,
        {
          mediaType: MediaType.wasmConfig,
          body: {
            created: '2026-12-02T00:00:00Z',
            architecture: 'wasm',
            os: 'wasip2',
            layerDigests: [sha256(component)],
            component: { exports: ['wasi:cli/run@0.2.10'], imports: ['wasi:cli/environment@0.2.10'] },
          },
        },
        [{ mediaType: MediaType.wasm, bytes: component }],
      ),
    );
    await pushImage(source, 'cli:wkg', `${reg.host}/components/cli:wkg`);
    expect(await runFrom(`${reg.host}/components/cli:wkg`)).toContain(
      'args=["from-registry"] GREETING=pulled',
    );
  }, 600_000);

  it("runs Spin's form: a wasm content layer beside a data layer, a locked-app config", async () => {
    const component = readFileSync(cli);
    await source.tag(
      'cli:spin',
      await artifact(
        source,
        {
          mediaType: 'application/vnd.fermyon.spin.application.v1+config',
          body: { spin_lock_version: 1, components: [{ id: 'hello', source: { content: {} } }] },
        },
        [
          { mediaType: MediaType.wasmLayer, bytes: component },
          { mediaType: 'application/vnd.wasm.content.layer.v1+data', bytes: Buffer.from('static file\n') },
        ],
      ),
    );
    await pushImage(source, 'cli:spin', `${reg.host}/components/cli:spin`);
    expect(await runFrom(`${reg.host}/components/cli:spin`)).toContain('GREETING=pulled');
  }, 600_000);
});
