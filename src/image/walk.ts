// Walking an image's content graph (index → manifests → config + layers) in the content store: what
// export and push copy, and what garbage collection keeps.
import type { ContentStore } from './content-store.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import {
  INDEX_TYPES,
  MANIFEST_TYPES,
  parseImageConfig,
  parseManifest,
  IMAGE_CONFIG_TYPES,
  type Descriptor,
  type Manifest,
} from './oci.ts';

export interface ImageGraph {
  /** Every blob the graph references that is present, children before parents (an upload order). */
  blobs: Descriptor[];
  /** Image manifests reached, with their parsed documents. */
  manifests: Array<{ descriptor: Descriptor; manifest: Manifest }>;
  /** Referenced but not held locally (e.g. other platforms of an index that was pulled for one). */
  missing: Descriptor[];
  /** Layer diff_ids of each image manifest reached whose config is present (for snapshot GC). */
  diffIds: Digest[][];
}

export async function walkImage(content: ContentStore, target: Descriptor): Promise<ImageGraph> {
  const graph: ImageGraph = { blobs: [], manifests: [], missing: [], diffIds: [] };
  const seen = new Set<string>();
  const visit = async (d: Descriptor, depth: number): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!(await content.has(d.digest, d.size))) {
      graph.missing.push(d);
      return;
    }
    if (INDEX_TYPES.includes(d.mediaType) || MANIFEST_TYPES.includes(d.mediaType)) {
      if (depth > 4) throw new ImageError('InvalidManifest', `index nesting deeper than 4 at ${d.digest}`);
      const parsed = parseManifest(await content.read(d.digest, d.size), d.mediaType, `manifest ${d.digest}`);
      if (parsed.kind === 'index') {
        for (const child of parsed.index.manifests) await visit(child, depth + 1);
      } else {
        const m = parsed.manifest;
        await visit(m.config, depth + 1);
        for (const l of m.layers) await visit(l, depth + 1);
        graph.manifests.push({ descriptor: d, manifest: m });
        if (
          IMAGE_CONFIG_TYPES.includes(m.config.mediaType) &&
          (await content.has(m.config.digest, m.config.size))
        )
          graph.diffIds.push(
            parseImageConfig(await content.read(m.config.digest, m.config.size)).rootfs.diff_ids,
          );
      }
    }
    graph.blobs.push(d);
  };
  await visit(target, 0);
  return graph;
}
