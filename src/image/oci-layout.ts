// OCI image layouts (image-spec "image-layout"): `oci-layout`, `index.json` and `blobs/sha256/<hex>`,
// as a directory or a tar archive. skopeo, podman, buildah, umoci and `docker save` (since 25) speak it.
//
// Naming: on export each image gets `org.opencontainers.image.ref.name` = its tag (what skopeo's
// `oci:DIR:TAG` looks up) and `io.containerd.image.name` = its full name; on import the full name is
// preferred, then a ref.name that is a full reference, then `--name` + the ref.name tag.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ContentStore } from './content-store.ts';
import { digestHex } from './digest.ts';
import { ImageError } from './errors.ts';
import { tempName } from './fsutil.ts';
import type { ImageStore } from './image-store.ts';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType, parseManifest, type Descriptor, type Index } from './oci.ts';
import { formatReference, parseReference } from './reference.ts';
import { walkImage } from './walk.ts';

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME = 'io.containerd.image.name';
const LAYOUT_VERSION = '1.0.0';

export interface ImportedImage {
  /** Canonical name it was tagged as; undefined when the layout gave it no name (content only). */
  name?: string;
  target: Descriptor;
}

export interface ImportOptions {
  /**
   * Names the images: a repository ("busybox", "127.0.0.1:5000/app") to which each entry's ref.name tag
   * is appended, or a full reference (with tag or digest) when the layout holds one image.
   */
  name?: string;
}

/** Reads `oci-layout` and `index.json` as found in a directory or archive. */
export function parseLayoutIndex(
  ociLayout: Uint8Array | undefined,
  indexJson: Uint8Array | undefined,
  where: string,
): Index {
  if (!ociLayout)
    throw new ImageError('InvalidManifest', `${where} has no oci-layout file: not an OCI image layout`);
  let version: unknown;
  try {
    version = JSON.parse(Buffer.from(ociLayout).toString('utf8')).imageLayoutVersion;
  } catch {
    throw new ImageError('InvalidManifest', `${where}: oci-layout is not valid JSON`);
  }
  if (version !== LAYOUT_VERSION)
    throw new ImageError(
      'Unsupported',
      `${where}: image layout version ${JSON.stringify(version)} (only ${LAYOUT_VERSION})`,
    );
  if (!indexJson) throw new ImageError('InvalidManifest', `${where} has no index.json`);
  const parsed = parseManifest(indexJson, MediaType.ociIndex, `${where}/index.json`);
  if (parsed.kind !== 'index')
    throw new ImageError('InvalidManifest', `${where}/index.json is not an image index`);
  return parsed.index;
}

/** Decides the names of the index's entries (see the header comment). */
export function namesFor(index: Index, opts: ImportOptions, where: string): Array<string | undefined> {
  const given = opts.name !== undefined ? parseReference(opts.name) : undefined;
  const givenIsFull = opts.name !== undefined && (/@/.test(opts.name) || /:[^/]*$/.test(opts.name));
  if (given && givenIsFull && index.manifests.length > 1)
    throw new ImageError(
      'InvalidReference',
      `${where} holds ${index.manifests.length} images: give a repository name without a tag`,
    );
  return index.manifests.map((m) => {
    const full = m.annotations?.[CONTAINERD_NAME];
    const refName = m.annotations?.[REF_NAME];
    if (given && givenIsFull) return formatReference(given);
    if (given) {
      const tag = refName && /^[\w][\w.-]{0,127}$/.test(refName) ? refName : 'latest';
      return formatReference({ registry: given.registry, repository: given.repository, tag });
    }
    if (full) return formatReference(parseReference(full));
    // A ref.name with a slash or colon is a whole reference; a bare one is only a tag and needs --name.
    if (refName && /[/:]/.test(refName)) return formatReference(parseReference(refName));
    return undefined;
  });
}

/** Copies the graph under `d` from `readBlob` into the content store, verifying every blob. */
async function copyGraph(
  content: ContentStore,
  d: Descriptor,
  readBlob: (d: Descriptor) => Promise<AsyncIterable<Uint8Array> | undefined>,
  where: string,
  optional = false,
): Promise<number> {
  let copied = 0;
  if (!(await content.has(d.digest, d.size))) {
    const src = await readBlob(d);
    if (!src) {
      if (optional) return 0;
      throw new ImageError('NotFound', `${where} lacks blob ${d.digest} (${d.mediaType})`);
    }
    await content.ingest(src, { digest: d.digest, size: d.size });
    copied++;
  }
  if (INDEX_TYPES.includes(d.mediaType) || MANIFEST_TYPES.includes(d.mediaType)) {
    const parsed = parseManifest(await content.read(d.digest, d.size), d.mediaType, `manifest ${d.digest}`);
    // Other platforms of an index may be absent (a single-platform copy); an image's own parts may not.
    if (parsed.kind === 'index')
      for (const m of parsed.index.manifests) copied += await copyGraph(content, m, readBlob, where, true);
    else
      for (const c of [parsed.manifest.config, ...parsed.manifest.layers])
        copied += await copyGraph(content, c, readBlob, where);
  }
  return copied;
}

async function tagAll(
  store: ImageStore,
  index: Index,
  names: Array<string | undefined>,
): Promise<ImportedImage[]> {
  const out: ImportedImage[] = [];
  for (let i = 0; i < index.manifests.length; i++) {
    const target = index.manifests[i];
    const name = names[i];
    const { mediaType, digest, size } = target;
    out.push({ name: name ? await store.tag(name, { mediaType, digest, size }) : undefined, target });
  }
  return out;
}

/** Imports an OCI layout directory. */
export async function importOciLayoutDir(
  store: ImageStore,
  dir: string,
  opts: ImportOptions = {},
): Promise<ImportedImage[]> {
  const read = (p: string) => readFile(join(dir, p)).catch(() => undefined);
  const index = parseLayoutIndex(await read('oci-layout'), await read('index.json'), dir);
  const names = namesFor(index, opts, dir);
  const lease = await store.leases.acquire();
  try {
    for (const m of index.manifests) {
      await lease.add({ blobs: [m.digest] });
      await copyGraph(
        store.content,
        m,
        async (d) => {
          const p = join(dir, 'blobs', 'sha256', digestHex(d.digest));
          return (await stat(p).catch(() => undefined)) ? createReadStream(p) : undefined;
        },
        dir,
      );
    }
    return await tagAll(store, index, names);
  } finally {
    await lease.release();
  }
}

/**
 * Finishes importing an OCI layout whose blobs an archive reader already put in the content store:
 * checks every image is complete and tags it.
 */
export async function finishOciArchiveImport(
  store: ImageStore,
  ociLayout: Uint8Array | undefined,
  indexJson: Uint8Array | undefined,
  where: string,
  opts: ImportOptions,
): Promise<ImportedImage[]> {
  const index = parseLayoutIndex(ociLayout, indexJson, where);
  const names = namesFor(index, opts, where);
  for (const m of index.manifests) await copyGraph(store.content, m, async () => undefined, where);
  return tagAll(store, index, names);
}

export interface ExportOptions {
  /** 'tar' writes an archive, 'dir' a directory (default: 'tar' when the path ends in .tar). */
  format?: 'dir' | 'tar';
}

interface ExportEntry {
  name: string;
  target: Descriptor;
  blobs: Descriptor[];
}

async function planExport(store: ImageStore, refs: string[]): Promise<{ index: Index; blobs: Descriptor[] }> {
  const entries: ExportEntry[] = [];
  for (const ref of refs) {
    const rec = await store.get(ref);
    if (!rec) throw new ImageError('NotFound', `image ${ref} not found in the local store`);
    let target = rec.target;
    let graph = await walkImage(store.content, target);
    if (graph.missing.length > 0 && INDEX_TYPES.includes(target.mediaType)) {
      // Only some platforms are held: export the one this node runs, as a plain manifest.
      target = (await store.resolve(rec.name)).manifestDescriptor;
      graph = await walkImage(store.content, target);
    }
    if (graph.missing.length > 0)
      throw new ImageError(
        'NotFound',
        `${rec.name} is incomplete in the local store (missing ${graph.missing[0].digest})`,
      );
    entries.push({ name: rec.name, target, blobs: graph.blobs });
  }
  const blobs = new Map<string, Descriptor>();
  for (const e of entries) for (const b of e.blobs) blobs.set(b.digest, b);
  const manifests = entries.map((e) => {
    const r = parseReference(e.name);
    const { mediaType, digest, size } = e.target;
    const annotations: Record<string, string> = { [CONTAINERD_NAME]: e.name };
    if (r.tag !== undefined) annotations[REF_NAME] = r.tag;
    return { mediaType, digest, size, annotations };
  });
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return { index, blobs: [...blobs.values()].sort((a, b) => a.digest.localeCompare(b.digest)) };
}

/** Exports images (all their blobs, verified on the way out) as an OCI layout directory or archive. */
export async function exportOciLayout(
  store: ImageStore,
  refs: string[],
  dest: string,
  opts: ExportOptions = {},
): Promise<Index> {
  if (refs.length === 0) throw new ImageError('InvalidReference', 'name at least one image to export');
  const { index, blobs } = await planExport(store, refs);
  const format = opts.format ?? (dest.endsWith('.tar') ? 'tar' : 'dir');
  const layout = Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
  const indexJson = Buffer.from(JSON.stringify(index));
  if (format === 'dir') await exportDir(store.content, dest, layout, indexJson, blobs);
  else await exportTar(store.content, dest, layout, indexJson, blobs);
  return index;
}

async function exportDir(
  content: ContentStore,
  dest: string,
  layout: Buffer,
  indexJson: Buffer,
  blobs: Descriptor[],
): Promise<void> {
  const existing = await readdir(dest).catch(() => undefined);
  if (existing && existing.length > 0) throw new ImageError('Conflict', `${dest} exists and is not empty`);
  const blobDir = join(dest, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const b of blobs) {
    const out = join(blobDir, digestHex(b.digest));
    const tmp = tempName(out);
    await pipeline(content.readStream(b.digest, b.size), createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, out);
  }
  await writeFileAtomic(join(dest, 'oci-layout'), layout);
  await writeFileAtomic(join(dest, 'index.json'), indexJson);
}

async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = tempName(path);
  await pipeline([data], createWriteStream(tmp, { mode: 0o644 }));
  await rename(tmp, path);
}

/** A reproducible archive: fixed order, mtime 0, root ownership. */
async function exportTar(
  content: ContentStore,
  dest: string,
  layout: Buffer,
  indexJson: Buffer,
  blobs: Descriptor[],
): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempName(dest);
  const pack = tar.pack();
  const header = { mtime: new Date(0), uid: 0, gid: 0 };
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(tmp, { mode: 0o644 }));
  writing.catch(() => {});
  const add = (name: string, data: Buffer): Promise<void> =>
    new Promise((res, rej) =>
      pack.entry({ ...header, name, mode: 0o644 }, data, (err) => (err ? rej(err) : res())),
    );
  const addDir = (name: string): Promise<void> =>
    openEntry(pack, { ...header, name, type: 'directory', mode: 0o755 }).done;
  try {
    await add('oci-layout', layout);
    await addDir('blobs/');
    await addDir('blobs/sha256/');
    for (const b of blobs) {
      const { entry, done } = openEntry(pack, {
        ...header,
        name: `blobs/sha256/${digestHex(b.digest)}`,
        size: b.size,
        mode: 0o644,
      });
      for await (const chunk of content.readStream(b.digest, b.size))
        if (!entry.write(chunk)) await once(entry as unknown as NodeJS.EventEmitter, 'drain');
      (entry as unknown as NodeJS.WritableStream).end();
      await done;
    }
    await add('index.json', indexJson);
    pack.finalize();
    await writing;
    await rename(tmp, dest);
  } catch (err) {
    pack.destroy(err as Error);
    await writing.catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Starts a tar entry; `done` settles when the packer has taken all of it. */
export function openEntry(
  pack: tar.Pack,
  header: Parameters<tar.Pack['entry']>[0],
): { entry: ReturnType<tar.Pack['entry']>; done: Promise<void> } {
  let ok!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((a, b) => ((ok = a), (fail = b)));
  const entry = pack.entry(header, (e) => (e ? fail(e) : ok()));
  return { entry, done };
}
