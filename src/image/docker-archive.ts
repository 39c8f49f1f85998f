// `docker save` archives: manifest.json ([{Config, RepoTags, Layers}]) naming a config file and layer
// tars by path. Each image becomes an OCI manifest over the same bytes: the config is used as is (Docker's
// config format is the one OCI adopted) and each layer keeps its own bytes, compressed or not, with the
// media type that matches them. The config's diff_ids must match the layers.
import { z } from 'zod';
import type { BlobRef } from './content-store.ts';
import { diffIdOf } from './compression.ts';
import { ImageError } from './errors.ts';
import type { ImageStore } from './image-store.ts';
import type { ImportedImage, ImportOptions } from './oci-layout.ts';
import { MediaType, parseImageConfig, type Descriptor, type Manifest } from './oci.ts';
import { formatReference, parseReference } from './reference.ts';

const dockerManifestSchema = z.array(
  z.looseObject({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
);

const LAYER_TYPE = {
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
  none: MediaType.ociLayer,
} as const;

/**
 * Converts the images of a docker-save archive whose files are already in the content store
 * (`lookup` maps an archive path to its blob).
 */
export async function importDockerSave(
  store: ImageStore,
  manifestJson: Uint8Array,
  lookup: (path: string) => BlobRef | undefined,
  where: string,
  opts: ImportOptions = {},
): Promise<ImportedImage[]> {
  let entries: z.infer<typeof dockerManifestSchema>;
  try {
    entries = dockerManifestSchema.parse(JSON.parse(Buffer.from(manifestJson).toString('utf8')));
  } catch (err) {
    throw new ImageError(
      'InvalidManifest',
      `${where}: manifest.json is not a docker save manifest (${(err as Error).message.split('\n')[0]})`,
    );
  }
  if (opts.name && entries.length > 1)
    throw new ImageError(
      'InvalidReference',
      `${where} holds ${entries.length} images: --name applies to one`,
    );
  const need = (p: string, what: string): BlobRef => {
    const ref = lookup(p);
    if (!ref)
      throw new ImageError('NotFound', `${where}: ${what} ${JSON.stringify(p)} is not in the archive`);
    return ref;
  };
  const out: ImportedImage[] = [];
  for (const e of entries) {
    const cfgRef = need(e.Config, 'config');
    const config = parseImageConfig(
      await store.content.read(cfgRef.digest, cfgRef.size),
      `${where}: ${e.Config}`,
    );
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== e.Layers.length)
      throw new ImageError(
        'InvalidManifest',
        `${where}: ${e.Config} lists ${diffIds.length} diff_ids for ${e.Layers.length} layers`,
      );
    const layers: Descriptor[] = [];
    for (let i = 0; i < e.Layers.length; i++) {
      const ref = need(e.Layers[i], 'layer');
      const { diffId, compression } = await diffIdOf(
        store.content.readStream(ref.digest, ref.size),
        `${where}: ${e.Layers[i]}`,
      );
      if (diffId !== diffIds[i])
        throw new ImageError(
          'DigestMismatch',
          `${where}: layer ${e.Layers[i]} is ${diffId}, but the config says ${diffIds[i]}`,
        );
      layers.push({ mediaType: LAYER_TYPE[compression], digest: ref.digest, size: ref.size });
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: cfgRef.digest, size: cfgRef.size },
      layers,
    };
    const stored = await store.content.put(Buffer.from(JSON.stringify(manifest)));
    const target: Descriptor = { mediaType: MediaType.ociManifest, ...stored };
    const names = opts.name ? [opts.name] : (e.RepoTags ?? []);
    if (names.length === 0) out.push({ target });
    for (const n of names)
      out.push({ name: await store.tag(formatReference(parseReference(n)), target), target });
  }
  return out;
}
