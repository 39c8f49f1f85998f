// The node's image store: tags (reference → manifest or index descriptor, in images.json) on top of the
// content store, plus the layer snapshots containers run from.
//
//   <root>/content/…     ContentStore (blobs by sha256)
//   <root>/images.json   { version: 1, images: { "<registry/repo:tag>": { target, created } } }
//   <root>/snapshots/…   Snapshotter
//   <root>/leases/       in-flight work GC must not touch
//
// images.json is small and read on every call, so the agent and a `strata image` command working on
// the same store see each other's changes; writes take a lock file and replace the file atomically.
import { homedir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentStore } from './content-store.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { collectGarbage, type GcOptions, type GcResult } from './gc.ts';
import { atomicWriteFile, withLockFile } from './fsutil.ts';
import { Leases } from './leases.ts';
import type { RegistryClient } from './registry-client.ts';
import {
  descriptorSchema,
  IMAGE_CONFIG_TYPES,
  INDEX_TYPES,
  MANIFEST_TYPES,
  parseImageConfig,
  parseManifest,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  type ParsedManifest,
} from './oci.ts';
import { defaultPlatform, formatPlatform, selectManifest, type Platform } from './platform.ts';
import { formatReference, parseReference, repositoryName, type Reference } from './reference.ts';
import { Snapshotter, type LayerSource, type PreparedRootfs } from './snapshots.ts';

export interface ImageRecord {
  /** Canonical reference, e.g. "127.0.0.1:5000/busybox:latest". */
  name: string;
  /** The manifest or index the name points to. */
  target: Descriptor;
  created: string;
}

export interface ResolvedImage {
  name: string;
  target: Descriptor;
  /** The platform manifest (the target itself unless the target is an index). */
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  /** Parsed when the config is an image config; undefined for artifacts (e.g. wasm modules). */
  config?: ImageConfig;
  platform?: Platform;
}

export interface ImageStoreOptions {
  /** Platform chosen from an index when the caller names none (default: this node's, linux/amd64 here). */
  platform?: Platform;
  /** Keep setuid/setgid bits when unpacking layers (default false). */
  allowSetuid?: boolean;
  /** Uncompressed size cap per layer. */
  maxLayerBytes?: number;
  /**
   * Called by every registry pull once the image's digest is known, before any layer is fetched: throws to
   * refuse the image (the node's cosign signature policy, src/image/signature-policy.ts).
   */
  verifyPull?: PullVerifier;
}

export type PullVerifier = (ref: Reference, digest: Digest, client: RegistryClient) => Promise<void>;

interface ImagesFile {
  version: 1;
  images: Record<string, { target: Descriptor; created: string }>;
}

/** $STRATA_HOME/data/agent/images, else ~/.strata/data/agent/images. */
export function defaultImageRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.STRATA_HOME ?? join(homedir(), '.strata'), 'data', 'agent', 'images');
}

export class ImageStore {
  readonly root: string;
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  readonly leases: Leases;
  readonly platform: Platform;
  readonly verifyPull?: PullVerifier;
  private readonly indexPath: string;
  private readonly lockPath: string;

  constructor(root: string = defaultImageRoot(), opts: ImageStoreOptions = {}) {
    this.root = root;
    this.content = new ContentStore(join(root, 'content'));
    this.leases = new Leases(join(root, 'leases'));
    this.snapshots = new Snapshotter(join(root, 'snapshots'), this.content, this.leases, {
      allowSetuid: opts.allowSetuid,
      maxLayerBytes: opts.maxLayerBytes,
    });
    this.platform = opts.platform ?? defaultPlatform();
    this.verifyPull = opts.verifyPull;
    this.indexPath = join(root, 'images.json');
    this.lockPath = join(root, 'images.lock');
  }

  private async readIndex(): Promise<ImagesFile> {
    let text: string;
    try {
      text = await readFile(this.indexPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {} };
      throw err;
    }
    const parsed = JSON.parse(text) as ImagesFile;
    if (parsed.version !== 1 || typeof parsed.images !== 'object')
      throw new ImageError('InvalidManifest', `${this.indexPath} is not a version 1 image index`);
    return parsed;
  }

  private async updateIndex(fn: (f: ImagesFile) => void): Promise<void> {
    await withLockFile(this.lockPath, async () => {
      const f = await this.readIndex();
      fn(f);
      await atomicWriteFile(this.indexPath, `${JSON.stringify(f, null, 2)}\n`);
    });
  }

  async list(): Promise<ImageRecord[]> {
    const f = await this.readIndex();
    return Object.entries(f.images)
      .map(([name, r]) => ({ name, target: r.target, created: r.created }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The record a reference names. A digest reference also finds untagged content held locally. */
  async get(ref: string | Reference): Promise<ImageRecord | undefined> {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const name = keyFor(r);
    const f = await this.readIndex();
    const hit = f.images[name];
    if (hit) return { name, target: hit.target, created: hit.created };
    if (r.digest) {
      const same = Object.values(f.images).find((i) => i.target.digest === r.digest);
      if (same) return { name, target: same.target, created: same.created };
      const size = await this.content.size(r.digest);
      if (size !== undefined) {
        const parsed = parseManifest(
          await this.content.read(r.digest, size),
          undefined,
          `manifest ${r.digest}`,
        );
        return { name, target: { mediaType: parsed.mediaType, digest: r.digest, size }, created: '' };
      }
    }
    return undefined;
  }

  /** Points a name at a manifest or index already in the content store. */
  async tag(ref: string | Reference, target: Descriptor): Promise<string> {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const desc = descriptorSchema.parse(target);
    if (!INDEX_TYPES.includes(desc.mediaType) && !MANIFEST_TYPES.includes(desc.mediaType))
      throw new ImageError(
        'InvalidManifest',
        `cannot tag ${desc.mediaType}: only manifests and indexes can be named`,
      );
    if (!(await this.content.has(desc.digest, desc.size)))
      throw new ImageError(
        'NotFound',
        `cannot tag ${formatReference(r)}: ${desc.digest} is not in the content store`,
      );
    if (r.digest && r.digest !== desc.digest)
      throw new ImageError('DigestMismatch', `reference ${formatReference(r)} does not name ${desc.digest}`);
    const name = keyFor(r);
    const { mediaType, digest, size } = desc;
    await this.updateIndex((f) => {
      f.images[name] = { target: { mediaType, digest, size }, created: new Date().toISOString() };
    });
    return name;
  }

  /**
   * Removes a name. Content is left for gc(). A digest reference removes every tag of that repository
   * pointing to the digest. Returns the names removed.
   */
  async remove(ref: string | Reference): Promise<string[]> {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const removed: string[] = [];
    await this.updateIndex((f) => {
      const key = keyFor(r);
      if (f.images[key]) {
        delete f.images[key];
        removed.push(key);
      }
      if (r.digest && r.tag === undefined) {
        const repo = `${repositoryName(r)}:`;
        for (const [name, rec] of Object.entries(f.images))
          if (name.startsWith(repo) && rec.target.digest === r.digest) {
            delete f.images[name];
            removed.push(name);
          }
      }
    });
    if (removed.length === 0) throw new ImageError('NotFound', `image ${formatReference(r)} not found`);
    return removed;
  }

  async readManifest(d: Descriptor): Promise<ParsedManifest> {
    return parseManifest(await this.content.read(d.digest, d.size), d.mediaType, `manifest ${d.digest}`);
  }

  /** Resolves a name to its platform manifest and config, all read (and so verified) from the content store. */
  async resolve(ref: string | Reference, platform?: Platform | Platform[]): Promise<ResolvedImage> {
    const r = typeof ref === 'string' ? parseReference(ref) : ref;
    const rec = await this.get(r);
    if (!rec) throw new ImageError('NotFound', `image ${formatReference(r)} not found in the local store`);
    return this.resolveDescriptor(rec.name, rec.target, platform);
  }

  async resolveDescriptor(
    name: string,
    target: Descriptor,
    platform?: Platform | Platform[],
  ): Promise<ResolvedImage> {
    let desc = target;
    let parsed = await this.readManifest(desc);
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      if (depth > 4) throw new ImageError('InvalidManifest', `${name}: index nesting deeper than 4`);
      // Only platforms held locally can be chosen (a pull fetches one platform of an index).
      const present: Descriptor[] = [];
      for (const m of parsed.index.manifests) if (await this.content.has(m.digest, m.size)) present.push(m);
      desc = selectManifest(present, platform ?? this.platform, `${name} (locally held platforms)`);
      parsed = await this.readManifest(desc);
    }
    const manifest = parsed.manifest;
    let config: ImageConfig | undefined;
    if (IMAGE_CONFIG_TYPES.includes(manifest.config.mediaType))
      config = parseImageConfig(
        await this.content.read(manifest.config.digest, manifest.config.size),
        `config of ${name}`,
      );
    const plat =
      desc.platform ??
      (config?.os && config.architecture
        ? {
            os: config.os,
            architecture: config.architecture,
            ...(config.variant ? { variant: config.variant } : {}),
          }
        : undefined);
    return { name, target, manifestDescriptor: desc, manifest, config, platform: plat };
  }

  /** Layers with their diff_ids, checked for consistency between manifest and config. */
  layersOf(img: ResolvedImage): LayerSource[] {
    if (!img.config)
      throw new ImageError(
        'Unsupported',
        `${img.name} is not a container image (config ${img.manifest.config.mediaType})`,
      );
    const diffIds = img.config.rootfs.diff_ids;
    if (diffIds.length !== img.manifest.layers.length)
      throw new ImageError(
        'InvalidManifest',
        `${img.name}: manifest has ${img.manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`,
      );
    return img.manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] }));
  }

  /**
   * Gives a container its root filesystem: unpacks the image's layers once (shared by every container of
   * the image) and creates the container's own upper and work directories. Mount it with mountRootfs().
   */
  async prepare(ref: string | Reference, containerId: string, platform?: Platform): Promise<PreparedRootfs> {
    const img = await this.resolve(ref, platform);
    return this.snapshots.prepare(containerId, {
      name: img.name,
      manifestDigest: img.manifestDescriptor.digest,
      layers: this.layersOf(img),
    });
  }

  /** Moves a prepared (possibly mounted) rootfs to another container id (Snapshotter.rename). */
  async renameRootfs(fromId: string, toId: string): Promise<PreparedRootfs> {
    return this.snapshots.rename(fromId, toId);
  }

  /** The prepared rootfs of every container (spares included). */
  async listRootfs(): Promise<PreparedRootfs[]> {
    return this.snapshots.listContainers();
  }

  /** Unmounts and deletes a container's rootfs, upper and work directories. */
  async removeRootfs(containerId: string): Promise<void> {
    await this.snapshots.remove(containerId);
  }

  /** Deletes blobs and layer snapshots nothing references (see gc.ts). */
  async gc(opts?: GcOptions): Promise<GcResult> {
    return collectGarbage(this, opts);
  }

  /** What `strata image inspect` prints. */
  async inspect(ref: string | Reference, platform?: Platform): Promise<ImageInspect> {
    const img = await this.resolve(ref, platform);
    const diffIds = img.config?.rootfs.diff_ids ?? [];
    const layers = img.manifest.layers.map((l, i) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      ...(diffIds[i] ? { diffId: diffIds[i] } : {}),
    }));
    return {
      name: img.name,
      digest: img.target.digest,
      mediaType: img.target.mediaType,
      manifestDigest: img.manifestDescriptor.digest,
      platform: img.platform ? formatPlatform(img.platform) : undefined,
      size:
        img.manifestDescriptor.size +
        img.manifest.config.size +
        img.manifest.layers.reduce((a, l) => a + l.size, 0),
      config: img.config?.config ?? undefined,
      configMediaType: img.manifest.config.mediaType,
      created: img.config?.created,
      layers,
    };
  }
}

export interface ImageInspect {
  name: string;
  digest: Digest;
  mediaType: string;
  manifestDigest: Digest;
  platform?: string;
  /** Bytes of manifest, config and (compressed) layers. */
  size: number;
  config?: NonNullable<ImageConfig['config']>;
  configMediaType: string;
  created?: string;
  layers: Array<{ mediaType: string; digest: Digest; size: number; diffId?: Digest }>;
}

/** The images.json key: tag form when there is a tag, else digest form. */
function keyFor(r: Reference): string {
  return r.tag !== undefined ? `${repositoryName(r)}:${r.tag}` : `${repositoryName(r)}@${r.digest}`;
}
