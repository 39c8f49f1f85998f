// Layer snapshots and per-container overlay directories.
//
//   snapshots/layers/<chain id hex>/fs        one layer unpacked, once, shared by every image and container
//   snapshots/layers/<chain id hex>/meta.json written before the directory is renamed into place: its
//                                             presence means the unpack completed and was verified
//   snapshots/l/<24 hex>                      short symlinks to layers/…/fs that keep overlay options short
//   snapshots/containers/<id>/{upper,work,rootfs,meta.json}
//   snapshots/tmp/                            unpacks in progress (removed on failure, and by GC once
//                                             their process is gone)
//
// A layer directory holds only that layer's changes (whiteouts as overlay whiteouts), so overlayfs
// stacks them; it is keyed by chain id as in containerd, naming the whole stack below it.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, symlink, readlink, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ContentStore } from './content-store.ts';
import { digestHex, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { atomicWriteFile, fsyncDir, pidAlive } from './fsutil.ts';
import type { Leases } from './leases.ts';
import { eachLimit } from './limit.ts';
import { chainIds, type Descriptor } from './oci.ts';
import { isMountPoint, mountOverlay, unmount } from './overlay.ts';
import { unpackLayer, type UnpackResult } from './unpack.ts';

export interface LayerSource {
  descriptor: Descriptor;
  diffId: Digest;
}

export interface PreparedRootfs {
  containerId: string;
  /** Mount point for the overlay (empty until mountRootfs). */
  rootfs: string;
  /** Read-only layer directories, top-most first, as overlayfs's lowerdir lists them. */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** The image reference and manifest this rootfs was prepared from. */
  image: string;
  manifestDigest: Digest;
}

interface ContainerMeta {
  containerId: string;
  image: string;
  manifestDigest: Digest;
  /** Chain id hex of each layer, bottom first. */
  layers: string[];
  created: string;
}

export interface SnapshotterOptions {
  allowSetuid?: boolean;
  maxLayerBytes?: number;
  /** Layers unpacked at the same time (default 2). */
  concurrency?: number;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SHORT = 24;

export class Snapshotter {
  readonly root: string;
  private readonly content: ContentStore;
  private readonly leases: Leases;
  private readonly opts: SnapshotterOptions;
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(root: string, content: ContentStore, leases: Leases, opts: SnapshotterOptions = {}) {
    this.root = root;
    this.content = content;
    this.leases = leases;
    this.opts = opts;
  }

  private layerDir(hex: string): string {
    return join(this.root, 'layers', hex);
  }

  /** The short path of a layer's files (a symlink to layers/<hex>/fs). */
  private shortPath(hex: string): string {
    return join(this.root, 'l', hex.slice(0, SHORT));
  }

  /**
   * Unpacks every layer that is not unpacked yet (each at most once, also across concurrent callers)
   * and returns the short paths of their directories, bottom first.
   */
  async ensureLayers(layers: LayerSource[]): Promise<string[]> {
    const chains = chainIds(layers.map((l) => l.diffId)).map(digestHex);
    const indexes = layers.map((_, i) => i);
    await eachLimit(
      indexes,
      this.opts.concurrency ?? 2,
      async (i) => void (await this.ensureLayer(chains[i], layers[i])),
    );
    return chains.map((h) => this.shortPath(h));
  }

  async hasLayer(chainHex: string): Promise<boolean> {
    return stat(join(this.layerDir(chainHex), 'meta.json')).then(
      () => true,
      () => false,
    );
  }

  private ensureLayer(hex: string, layer: LayerSource): Promise<string> {
    let p = this.inflight.get(hex);
    if (!p) {
      p = this.unpackOnce(hex, layer).finally(() => this.inflight.delete(hex));
      this.inflight.set(hex, p);
    }
    return p;
  }

  private async unpackOnce(hex: string, layer: LayerSource): Promise<string> {
    const dir = this.layerDir(hex);
    if (!(await this.hasLayer(hex))) {
      const tmp = join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
      await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
      let result: UnpackResult;
      try {
        const { digest, size } = layer.descriptor;
        result = await unpackLayer(this.content.readStream(digest, size), join(tmp, 'fs'), {
          what: `layer ${digest}`,
          diffId: layer.diffId,
          allowSetuid: this.opts.allowSetuid,
          maxBytes: this.opts.maxLayerBytes,
        });
        await atomicWriteFile(
          join(tmp, 'meta.json'),
          JSON.stringify({
            chainId: `sha256:${hex}`,
            diffId: result.diffId,
            layer: digest,
            bytes: result.bytes,
            entries: result.entries,
            warnings: result.warnings,
            created: new Date().toISOString(),
          }),
        );
        await mkdir(join(this.root, 'layers'), { recursive: true });
        await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
          // Another process unpacked the same layer first: theirs is as good as ours.
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        });
        await fsyncDir(join(this.root, 'layers'));
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    await this.ensureShortLink(hex);
    return this.shortPath(hex);
  }

  private async ensureShortLink(hex: string): Promise<void> {
    const link = this.shortPath(hex);
    const target = join('..', 'layers', hex, 'fs');
    const have = await readlink(link).catch(() => undefined);
    if (have === target) return;
    if (have !== undefined)
      throw new ImageError('Conflict', `snapshot short link ${link} points to ${have}, not ${target}`);
    await mkdir(join(this.root, 'l'), { recursive: true });
    await symlink(target, link).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }

  private containerDir(id: string): string {
    if (!CONTAINER_ID.test(id))
      throw new ImageError(
        'InvalidReference',
        `invalid container id ${JSON.stringify(id)}: use [A-Za-z0-9_.-], at most 128`,
      );
    return join(this.root, 'containers', id);
  }

  private prepared(id: string, meta: ContainerMeta): PreparedRootfs {
    const dir = this.containerDir(id);
    return {
      containerId: id,
      rootfs: join(dir, 'rootfs'),
      lowerdirs: meta.layers.map((h) => this.shortPath(h)).reverse(),
      upperdir: join(dir, 'upper'),
      workdir: join(dir, 'work'),
      image: meta.image,
      manifestDigest: meta.manifestDigest,
    };
  }

  /**
   * Unpacks the image's layers (if needed) and creates the container's upper and work directories.
   * Idempotent for the same image: an agent that crashed mid-start can call it again.
   */
  async prepare(
    containerId: string,
    image: { name: string; manifestDigest: Digest; layers: LayerSource[] },
  ): Promise<PreparedRootfs> {
    const dir = this.containerDir(containerId);
    const existing = await this.get(containerId);
    if (existing) {
      if (existing.manifestDigest !== image.manifestDigest)
        throw new ImageError(
          'Conflict',
          `container ${containerId} already has a rootfs from ${existing.image}`,
        );
      return existing;
    }
    const hexes = chainIds(image.layers.map((l) => l.diffId)).map(digestHex);
    const lease = await this.leases.acquire({ snapshots: hexes });
    try {
      await this.ensureLayers(image.layers);
      const tmp = join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
      for (const d of ['upper', 'work', 'rootfs'])
        await mkdir(join(tmp, d), { recursive: true, mode: 0o755 });
      const meta: ContainerMeta = {
        containerId,
        image: image.name,
        manifestDigest: image.manifestDigest,
        layers: hexes,
        created: new Date().toISOString(),
      };
      await atomicWriteFile(join(tmp, 'meta.json'), JSON.stringify(meta));
      await mkdir(join(this.root, 'containers'), { recursive: true });
      try {
        await rename(tmp, dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        if (
          (err as NodeJS.ErrnoException).code === 'ENOTEMPTY' ||
          (err as NodeJS.ErrnoException).code === 'EEXIST'
        )
          return this.prepare(containerId, image);
        throw err;
      }
      return this.prepared(containerId, meta);
    } finally {
      await lease.release();
    }
  }

  async get(containerId: string): Promise<PreparedRootfs | undefined> {
    const dir = this.containerDir(containerId);
    try {
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as ContainerMeta;
      return this.prepared(containerId, meta);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async listContainers(): Promise<PreparedRootfs[]> {
    const out: PreparedRootfs[] = [];
    for (const id of await readdirOrEmpty(join(this.root, 'containers'))) {
      if (!CONTAINER_ID.test(id)) continue;
      const p = await this.get(id).catch(() => undefined);
      if (p) out.push(p);
    }
    return out;
  }

  /**
   * Gives a prepared container snapshot another container's id (a spare made ahead, claimed by the
   * container that needs it): the directory is renamed, and a mounted rootfs moves with it (a mount
   * follows its directory; the overlay holds its upper and work directories, not their paths).
   * Conflict when `toId` already has a snapshot; NotFound when `fromId` has none.
   */
  async rename(fromId: string, toId: string): Promise<PreparedRootfs> {
    const from = this.containerDir(fromId);
    const to = this.containerDir(toId);
    const meta = await this.get(fromId);
    if (!meta) throw new ImageError('NotFound', `container ${fromId} has no rootfs`);
    if (await this.get(toId)) throw new ImageError('Conflict', `container ${toId} already has a rootfs`);
    await mkdir(join(this.root, 'containers'), { recursive: true });
    await rename(from, to);
    const record: ContainerMeta = JSON.parse(await readFile(join(to, 'meta.json'), 'utf8')) as ContainerMeta;
    record.containerId = toId;
    // Atomic (a reader sees the old record or the new) but not synced: the id inside is informational
    // (the directory's name is the id), and a sync here is a journal commit on the claiming start's path.
    const tmp = join(to, `meta.json.${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, JSON.stringify(record));
    await rename(tmp, join(to, 'meta.json'));
    return this.prepared(toId, record);
  }

  /** Unmounts (if mounted) and deletes the container's rootfs, upper and work directories. Idempotent. */
  async remove(containerId: string): Promise<void> {
    const dir = this.containerDir(containerId);
    await unmount(join(dir, 'rootfs'));
    await rm(dir, { recursive: true, force: true });
  }

  /** Chain id hex of every unpacked layer. */
  async listLayers(): Promise<string[]> {
    return (await readdirOrEmpty(join(this.root, 'layers'))).filter((n) => /^[a-f0-9]{64}$/.test(n));
  }

  /**
   * Deletes layer snapshots not in `keep`, not used by any container and not leased; and unpacks left
   * behind by processes that died. Returns how many layers were removed.
   */
  async gc(keep: Set<string>): Promise<number> {
    const leased = (await this.leases.active()).snapshots;
    for (const c of await readdirOrEmpty(join(this.root, 'containers'))) {
      const meta = await readFile(join(this.root, 'containers', c, 'meta.json'), 'utf8').catch(
        () => undefined,
      );
      if (meta) for (const h of (JSON.parse(meta) as ContainerMeta).layers) keep.add(h);
    }
    let removed = 0;
    for (const hex of await this.listLayers()) {
      if (keep.has(hex) || leased.has(hex)) continue;
      await rm(this.shortPath(hex), { force: true });
      await rm(this.layerDir(hex), { recursive: true, force: true });
      removed++;
    }
    for (const t of await readdirOrEmpty(join(this.root, 'tmp')))
      if (!pidAlive(Number(t.split('-')[0])))
        await rm(join(this.root, 'tmp', t), { recursive: true, force: true });
    return removed;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The deepest directory containing every path (so overlay options can be given relative to it). */
function commonDir(paths: string[]): string {
  const split = paths.map((p) => p.split(sep));
  const first = split[0];
  let n = 0;
  while (n < first.length - 1 && split.every((s) => s[n] === first[n])) n++;
  return first.slice(0, n).join(sep) || sep;
}

/**
 * Mounts the container's overlay at p.rootfs (as root). With readOnly the mount is read-only
 * (readOnlyRootFilesystem). An image without layers gets an empty lower dir.
 */
export async function mountRootfs(p: PreparedRootfs, opts: { readOnly?: boolean } = {}): Promise<void> {
  if (await isMountPoint(p.rootfs)) return;
  let lowers = p.lowerdirs;
  if (lowers.length === 0) {
    const empty = join(p.workdir, '..', 'empty');
    await mkdir(empty, { recursive: true });
    lowers = [empty];
  }
  const cwd = commonDir([...lowers, p.upperdir, p.workdir]);
  await mountOverlay(
    {
      lowerdirs: lowers.map((l) => relative(cwd, l)),
      upperdir: relative(cwd, p.upperdir),
      workdir: relative(cwd, p.workdir),
      target: p.rootfs,
      readOnly: opts.readOnly,
    },
    cwd,
  );
}

export async function unmountRootfs(p: PreparedRootfs | string): Promise<void> {
  await unmount(typeof p === 'string' ? p : p.rootfs);
}
