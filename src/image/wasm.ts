// WebAssembly modules published as OCI artifacts (wasm-to-oci, `oras push … :application/wasm`, Spin's
// single-module form): they pull through the same store as images, and the wasm tier runs the verified
// blob in place, so `image: registry/name:tag` works for runtimeClassName wasm.
import { open } from 'node:fs/promises';
import { ImageError } from './errors.ts';
import type { ImageStore } from './image-store.ts';
import { WASM_LAYER_TYPES } from './oci.ts';
import { WASM_PLATFORMS } from './platform.ts';
import { pullImage, type PullOptions } from './pull.ts';
import { formatReference, parseReference } from './reference.ts';

export interface ResolveWasmOptions extends Omit<PullOptions, 'platform'> {
  /** As Kubernetes' imagePullPolicy (default IfNotPresent). */
  pullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

/**
 * Returns the path of the module's blob in the content store after verifying its digest (and that it
 * starts like a wasm module), pulling the artifact first when needed. Indexes prefer a wasi/wasm
 * platform, then this node's.
 */
export async function resolveWasmModule(
  store: ImageStore,
  reference: string,
  opts: ResolveWasmOptions = {},
): Promise<string> {
  const ref = parseReference(reference);
  const platforms = [...WASM_PLATFORMS, store.platform];
  const policy = opts.pullPolicy ?? 'IfNotPresent';
  const held = policy === 'Always' ? undefined : await store.get(ref);
  if (!held) {
    if (policy === 'Never')
      throw new ImageError(
        'NotFound',
        `wasm module ${formatReference(ref)} is not in the local store (pull policy Never)`,
      );
    await pullImage(store, reference, { ...opts, platform: platforms });
  }
  const img = await store.resolve(ref, platforms);
  const layers = img.manifest.layers.filter((l) => WASM_LAYER_TYPES.includes(l.mediaType));
  if (layers.length !== 1)
    throw new ImageError(
      'Unsupported',
      layers.length === 0
        ? `${img.name} has no wasm layer (${WASM_LAYER_TYPES.join(' or ')}); is it a container image?`
        : `${img.name} has ${layers.length} wasm layers; Strata runs single-module artifacts`,
    );
  const { digest, size } = layers[0];
  const path = await store.content.verify(digest, size);
  const fh = await open(path, 'r');
  try {
    const { buffer } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    if (!buffer.equals(WASM_MAGIC))
      throw new ImageError('InvalidLayer', `${img.name}: layer ${digest} is not a wasm module`);
  } finally {
    await fh.close();
  }
  return path;
}
