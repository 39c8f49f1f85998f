// Shared helpers for the image tests and the pull benchmark: the busybox test images (built on demand
// by scripts/build-test-images.sh), temp dirs, and tar archives built in memory for hostile-layer cases.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { sha256 } from '../digest.ts';
import type { ImageStore } from '../image-store.ts';
import { MediaType, type Descriptor } from '../oci.ts';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const imagesDir = join(repoRoot, 'build', 'images');

let built: string | undefined;

/** Builds the test images once per process (the script is idempotent and cheap when up to date). */
export function testImages(): string {
  if (!built) {
    execFileSync('bash', [join(repoRoot, 'scripts', 'build-test-images.sh')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    built = imagesDir;
  }
  return built;
}

/** Why the busybox test images cannot be built here, or undefined. */
export function testImagesUnavailable(): string | undefined {
  return existsSync('/bin/busybox')
    ? undefined
    : 'busybox-static not installed (apt-get install busybox-static)';
}

/** Why overlay mounts cannot be tested here, or undefined. */
export function overlayUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'overlay mounts need root';
  return undefined;
}

export function tempDir(prefix = 'strata-image-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A tar archive with exactly these entries (names unnormalised, so hostile ones stay hostile). */
export async function tarOf(
  entries: Array<Partial<tar.Header> & { name: string; data?: string | Buffer }>,
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const { data, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (data !== undefined) pack.entry({ mode: 0o644, mtime: new Date(0), ...header }, data, cb);
      else
        pack.entry({ mode: header.type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), ...header }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);

export async function* chunks(b: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** A minimal image (one layer of zeros) for linux/`arch`, written straight into the store; not tagged. */
export async function fakeImage(store: ImageStore, arch: string): Promise<Descriptor> {
  const layer = Buffer.alloc(1024);
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      config: { Cmd: [arch] },
    }),
  );
  await store.content.put(layer);
  await store.content.put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.ociLayer, digest: sha256(layer), size: layer.length }],
    }),
  );
  await store.content.put(manifest);
  return {
    mediaType: MediaType.ociManifest,
    digest: sha256(manifest),
    size: manifest.length,
    platform: { os: 'linux', architecture: arch },
  };
}

/** Stores an index over `manifests` and returns its descriptor. */
export async function putIndex(store: ImageStore, manifests: Descriptor[]): Promise<Descriptor> {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await store.content.put(index);
  return { mediaType: MediaType.ociIndex, digest: sha256(index), size: index.length };
}

/** The smallest valid wasm module: magic and version. */
export const EMPTY_WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Stores a single-module wasm artifact (as wasm-to-oci/oras publish one) and returns its manifest. */
export async function wasmArtifact(
  store: ImageStore,
  module: Buffer = EMPTY_WASM,
  layerType: string = MediaType.wasmLayer,
): Promise<Descriptor> {
  const config = Buffer.from('{}');
  await store.content.put(module);
  await store.content.put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: MediaType.wasmConfig,
      config: { mediaType: MediaType.wasmConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: layerType, digest: sha256(module), size: module.length }],
    }),
  );
  await store.content.put(manifest);
  return { mediaType: MediaType.ociManifest, digest: sha256(manifest), size: manifest.length };
}
