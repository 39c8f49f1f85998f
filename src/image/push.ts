// `strata image push`: upload every blob of an image the registry lacks (layers concurrently), then its
// manifests, children before the index, the named one last under its tag.
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import type { ImageStore } from './image-store.ts';
import { INDEX_TYPES, MANIFEST_TYPES, type Descriptor } from './oci.ts';
import { eachLimit } from './limit.ts';
import { formatReference, manifestReference, parseReference } from './reference.ts';
import { RegistryClient, type TransferProgress } from './registry-client.ts';
import { walkImage } from './walk.ts';

export interface PushOptions {
  client?: RegistryClient;
  onProgress?: (p: TransferProgress) => void;
  /** Upload blobs larger than this in PATCH chunks of this size (default: one PUT per blob). */
  chunkSize?: number;
  concurrency?: number;
}

export interface PushResult {
  /** Where it went, e.g. "127.0.0.1:5000/busybox:latest". */
  name: string;
  digest: Digest;
  uploaded: number;
  existed: number;
}

/** Pushes the local image `source` to `destination` (default: the same name). */
export async function pushImage(
  store: ImageStore,
  source: string,
  destination?: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const rec = await store.get(source);
  if (!rec) throw new ImageError('NotFound', `image ${source} not found in the local store`);
  const dest = parseReference(destination ?? rec.name);
  const client = opts.client ?? new RegistryClient();
  let target = rec.target;
  let graph = await walkImage(store.content, target);
  if (graph.missing.length > 0 && INDEX_TYPES.includes(target.mediaType)) {
    // Only this node's platform of a multi-platform image is held: push that one manifest.
    target = (await store.resolve(rec.name)).manifestDescriptor;
    graph = await walkImage(store.content, target);
  }
  if (graph.missing.length > 0)
    throw new ImageError(
      'NotFound',
      `${rec.name} is incomplete in the local store (missing ${graph.missing[0].digest})`,
    );
  if (dest.digest && dest.digest !== target.digest)
    throw new ImageError(
      'DigestMismatch',
      `cannot push ${rec.name} (${target.digest}) as ${formatReference(dest)}`,
    );
  const isManifest = (d: Descriptor): boolean =>
    INDEX_TYPES.includes(d.mediaType) || MANIFEST_TYPES.includes(d.mediaType);
  let uploaded = 0;
  let existed = 0;
  const blobs = graph.blobs.filter((d) => !isManifest(d));
  await eachLimit(blobs, opts.concurrency ?? 3, async (d) => {
    const r = await client.uploadBlob(dest, d, store.content, {
      chunkSize: opts.chunkSize,
      onProgress: opts.onProgress,
    });
    if (r === 'uploaded') uploaded++;
    else existed++;
  });
  for (const m of graph.blobs.filter(isManifest)) {
    const bytes = await store.content.read(m.digest, m.size);
    const ref = m.digest === target.digest ? manifestReference(dest) : m.digest;
    await client.putManifest(dest, ref, m, bytes);
  }
  return { name: formatReference(dest), digest: target.digest, uploaded, existed };
}
