// `strata image import`: an OCI layout directory, or a tar archive (optionally gzipped) holding an OCI
// layout or a `docker save` image. The archive is read once, streaming: every file goes into the
// content store (verified against its name when it is a blobs/sha256/<hex> entry), then the index is
// checked and the images are tagged.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { decompressed } from './compression.ts';
import type { BlobRef } from './content-store.ts';
import { isDigest } from './digest.ts';
import { importDockerSave } from './docker-archive.ts';
import { ImageError } from './errors.ts';
import type { ImageStore } from './image-store.ts';
import { MAX_MANIFEST_BYTES } from './oci.ts';
import {
  finishOciArchiveImport,
  importOciLayoutDir,
  type ImportedImage,
  type ImportOptions,
} from './oci-layout.ts';

const METADATA = new Set(['oci-layout', 'index.json', 'manifest.json']);

export async function importImage(
  store: ImageStore,
  path: string,
  opts: ImportOptions = {},
): Promise<ImportedImage[]> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new ImageError('NotFound', `${path} does not exist`);
  if (st.isDirectory()) return importOciLayoutDir(store, path, opts);
  return importArchive(store, path, opts);
}

function archivePath(name: string): string | undefined {
  const p = posix.normalize(name.replace(/^\.?\/+/, ''));
  return p.startsWith('..') || p === '.' ? undefined : p.replace(/\/$/, '');
}

async function importArchive(store: ImageStore, path: string, opts: ImportOptions): Promise<ImportedImage[]> {
  const files = new Map<string, BlobRef>();
  const links = new Map<string, string>();
  const meta = new Map<string, Buffer>();
  const lease = await store.leases.acquire();
  try {
    const { stream } = await decompressed(createReadStream(path), path);
    const extract = tar.extract();
    const piping = pipeline(stream, extract as unknown as NodeJS.WritableStream);
    piping.catch(() => {});
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = archivePath(h.name);
        if (name && h.type === 'file' && METADATA.has(name)) {
          if (h.size > MAX_MANIFEST_BYTES)
            throw new ImageError('TooLarge', `${path}: ${name} is ${h.size} bytes`);
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          meta.set(name, Buffer.concat(chunks));
        } else if (name && h.type === 'file') {
          const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
          const expected =
            m && isDigest(`sha256:${m[1]}`) ? { digest: `sha256:${m[1]}` as const, size: h.size } : undefined;
          if (expected) await lease.add({ blobs: [expected.digest] });
          const ref = await store.content.ingest(entry as AsyncIterable<Uint8Array>, expected);
          if (!expected) await lease.add({ blobs: [ref.digest] });
          files.set(name, ref);
        } else {
          // docker save links a layer shared by two images to its first copy.
          if (name && (h.type === 'symlink' || h.type === 'link') && h.linkname)
            links.set(
              name,
              h.type === 'symlink'
                ? posix.join(posix.dirname(name), h.linkname)
                : (archivePath(h.linkname) ?? ''),
            );
          for await (const _ of entry);
        }
      }
      await piping;
    } catch (err) {
      stream.destroy();
      await piping.catch(() => {});
      if (err instanceof ImageError) throw err;
      throw new ImageError(
        'InvalidManifest',
        `${path} is not a readable tar archive: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const lookup = (p: string): BlobRef | undefined => {
      let name = archivePath(p);
      for (let hops = 0; name && !files.has(name) && links.has(name) && hops < 8; hops++)
        name = links.get(name);
      return name ? files.get(name) : undefined;
    };
    if (meta.has('index.json') && meta.has('oci-layout'))
      return await finishOciArchiveImport(store, meta.get('oci-layout'), meta.get('index.json'), path, opts);
    if (meta.has('manifest.json'))
      return await importDockerSave(store, meta.get('manifest.json')!, lookup, path, opts);
    throw new ImageError(
      'InvalidManifest',
      `${path} is neither an OCI layout archive nor a docker save archive`,
    );
  } finally {
    await lease.release();
  }
}
