// `strata image pull`: resolve a reference at a registry, choose the platform from an index, fetch
// config and layers concurrently into the content store (verified, resumable), then tag. Everything
// fetched is leased until the tag exists, so a concurrent GC cannot take it.
import { ImageError } from './errors.ts';
import { eachLimit } from './limit.ts';
import type { ImageStore } from './image-store.ts';
import { IMAGE_CONFIG_TYPES, parseImageConfig, type Descriptor, type Manifest } from './oci.ts';
import { selectManifest, type Platform } from './platform.ts';
import { manifestReference, parseReference, withTarget } from './reference.ts';
import { RegistryClient, type TransferProgress } from './registry-client.ts';

export interface PullOptions {
  /** Platform(s) to choose from an index, in preference order (default: the store's). */
  platform?: Platform | Platform[];
  client?: RegistryClient;
  onProgress?: (p: TransferProgress) => void;
  /** Blobs downloaded at once (default 3, as docker). */
  concurrency?: number;
}

export interface PullResult {
  /** The name it was tagged as. */
  name: string;
  /** What the name points to (an index when the registry served one). */
  target: Descriptor;
  /** The platform manifest pulled. */
  manifest: Descriptor;
  platform?: Platform;
  /** Blobs downloaded, and bytes; blobs already held are not counted. */
  fetched: number;
  bytes: number;
}

export async function pullImage(
  store: ImageStore,
  reference: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const ref = parseReference(reference);
  const client = opts.client ?? new RegistryClient();
  const lease = await store.leases.acquire();
  try {
    const top = await client.getManifest(ref, manifestReference(ref));
    // The node's signature policy sees the digest before anything of the image is fetched.
    await store.verifyPull?.(ref, top.descriptor.digest, client);
    await lease.add({ blobs: [top.descriptor.digest] });
    await store.content.put(top.bytes, top.descriptor);
    let desc = top.descriptor;
    let parsed = top.parsed;
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      if (depth > 4) throw new ImageError('InvalidManifest', `${reference}: index nesting deeper than 4`);
      const child = selectManifest(
        parsed.index.manifests,
        opts.platform ?? store.platform,
        `${reference} (image index)`,
      );
      const m = await client.getManifest(withTarget(ref, { digest: child.digest }), child.digest, child);
      await lease.add({ blobs: [child.digest] });
      await store.content.put(m.bytes, child);
      desc = { ...m.descriptor, ...(child.platform ? { platform: child.platform } : {}) };
      parsed = m.parsed;
    }
    const manifest: Manifest = parsed.manifest;
    const blobs = [manifest.config, ...manifest.layers];
    await lease.add({ blobs: blobs.map((b) => b.digest) });
    let fetched = 0;
    let bytes = 0;
    const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
    await eachLimit(unique, opts.concurrency ?? 3, async (b) => {
      if ((await client.downloadBlob(ref, b, store.content, opts.onProgress)) === 'written') {
        fetched++;
        bytes += b.size;
      }
    });
    if (IMAGE_CONFIG_TYPES.includes(manifest.config.mediaType)) {
      const config = parseImageConfig(
        await store.content.read(manifest.config.digest, manifest.config.size),
        `config of ${reference}`,
      );
      if (config.rootfs.diff_ids.length !== manifest.layers.length)
        throw new ImageError(
          'InvalidManifest',
          `${reference}: manifest has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length}`,
        );
    }
    const name = await store.tag(ref, top.descriptor);
    return { name, target: top.descriptor, manifest: desc, platform: desc.platform, fetched, bytes };
  } finally {
    await lease.release();
  }
}
