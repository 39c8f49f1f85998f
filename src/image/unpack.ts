// Unpacks one layer (a tar, gzip- or zstd-compressed or not) into an empty directory, as overlayfs wants
// it: OCI whiteouts become overlay whiteouts, and nothing in the archive can reach outside the directory.
//
// What a hostile layer cannot do (each has a test in unpack.test.ts):
//   absolute names and ".." components        refused (the layer fails to unpack)
//   writing through a symlink it planted       refused: parents are lstat'ed, never followed
//   hardlinks to anything outside the layer    refused: the target must be a file inside the layer
//   device nodes and fifos                     skipped with a warning (only the 0:0 whiteout is made)
//   setuid/setgid files                        the bits are stripped unless allowSetuid
//   decompression bombs, entry floods          refused past maxBytes / maxEntries
// The uncompressed bytes are hashed on the way through and must match the image config's diff_id.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lchown, link, lutimes, open, symlink, chmod, utimes } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { decompressor, peek, sniffCompression } from './compression.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { makeWhiteout, setOpaque } from './overlay.ts';
import { entryComponents, lstatOrUndefined, RootedTree, unsafe } from './rooted-tree.ts';

export interface UnpackOptions {
  /** Names the layer in errors, e.g. "layer sha256:ab12…". */
  what?: string;
  /** The config's diff_id for this layer; a mismatch fails the unpack. */
  diffId?: Digest;
  /** Keep setuid/setgid bits on files (default: strip them). */
  allowSetuid?: boolean;
  /** Cap on uncompressed bytes (default 16 GiB). */
  maxBytes?: number;
  /** Cap on tar entries (default 1,000,000). */
  maxEntries?: number;
  /** Apply the archive's uid/gid (default: when running as root). */
  chown?: boolean;
}

export interface UnpackResult {
  diffId: Digest;
  /** Uncompressed tar size. */
  bytes: number;
  entries: number;
  /** Entries skipped or changed for safety (devices, setuid bits), at most 100 listed. */
  warnings: string[];
}

export const DEFAULT_MAX_LAYER_BYTES = 16 * 2 ** 30;
export const DEFAULT_MAX_ENTRIES = 1_000_000;

const WH_PREFIX = '.wh.';
const WH_META_PREFIX = '.wh..wh.';
const WH_OPAQUE = '.wh..wh..opq';
const MAX_WARNINGS = 100;

export async function unpackLayer(
  source: AsyncIterable<Uint8Array>,
  dest: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const what = opts.what ?? 'layer';
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_LAYER_BYTES;
  const { head, stream } = await peek(source, 4);
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes)
        return cb(
          new ImageError('TooLarge', `${what} unpacks to more than ${maxBytes} bytes; refusing to unpack it`),
        );
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const writer = new LayerWriter(dest, what, opts);
  // tar-stream's extractor is a streamx Writable: stream-compatible, but not typed as a Node stream.
  const sink = extract as unknown as NodeJS.WritableStream;
  const piping = pipeline([stream, ...decompressor(sniffCompression(head), what), tap, sink]);
  piping.catch(() => {}); // observed below; avoid an unhandled rejection while entries are applied
  try {
    for await (const entry of extract) await writer.apply(entry.header, entry as unknown as Readable);
    await piping;
  } catch (err) {
    stream.destroy();
    await piping.catch(() => {});
    if (err instanceof ImageError) throw err;
    throw new ImageError('InvalidLayer', `${what} could not be unpacked: ${(err as Error).message}`, {
      cause: err,
    });
  }
  await writer.finish();
  const diffId: Digest = `sha256:${hash.digest('hex')}`;
  if (opts.diffId && opts.diffId !== diffId)
    throw new ImageError(
      'DigestMismatch',
      `${what} unpacks to ${diffId}, but the image config says ${opts.diffId}`,
    );
  return { diffId, bytes, entries: writer.entries, warnings: writer.warnings };
}

async function drain(body: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of body);
}

interface DirMeta {
  components: string[];
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

/** Applies tar entries one by one inside the root. */
class LayerWriter {
  entries = 0;
  readonly warnings: string[] = [];
  private readonly tree: RootedTree;
  private readonly what: string;
  private readonly opts: UnpackOptions;
  private readonly chown: boolean;
  /** Directory metadata is applied last: a 0555 dir must stay writable while its entries arrive. */
  private readonly dirs = new Map<string, DirMeta>();

  constructor(root: string, what: string, opts: UnpackOptions) {
    this.tree = new RootedTree(root, what);
    this.what = what;
    this.opts = opts;
    this.chown = opts.chown ?? process.getuid?.() === 0;
  }

  private warn(msg: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(msg);
  }

  async apply(h: tar.Header, body: Readable): Promise<void> {
    if (++this.entries > (this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES))
      throw new ImageError(
        'TooLarge',
        `${this.what} has more than ${this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES} entries; refusing to unpack it`,
      );
    const name = h.name;
    const parts = entryComponents(name, this.what);
    if (parts.length === 0) return drain(body); // the layer root itself: its mode is not the layer's to set
    const base = parts[parts.length - 1];
    // File capabilities and other xattrs would need setfattr per file; they are rare in images, so they
    // are dropped, visibly.
    const pax = h.pax as Record<string, string> | null | undefined;
    if (pax && Object.keys(pax).some((k) => k.startsWith('SCHILY.xattr.')))
      this.warn(`dropped extended attributes of ${JSON.stringify(name)}`);
    if (base.startsWith(WH_PREFIX)) {
      await drain(body);
      return this.whiteout(parts.slice(0, -1), base, name);
    }
    switch (h.type) {
      case 'directory':
        return this.directory(parts, h, name, body);
      case 'file':
      case 'contiguous-file':
        return this.file(parts, h, name, body);
      case 'symlink':
        await drain(body);
        return this.symlink(parts, h, name);
      case 'link':
        await drain(body);
        return this.hardlink(parts, h, name);
      default:
        await drain(body);
        this.warn(`skipped ${h.type} ${JSON.stringify(name)}`);
    }
  }

  private async whiteout(parent: string[], base: string, name: string): Promise<void> {
    if (base === WH_OPAQUE) return setOpaque(await this.tree.ensureDir(parent, name));
    if (base.startsWith(WH_META_PREFIX)) return; // aufs bookkeeping (.wh..wh.plnk etc.), meaningless here
    const target = base.slice(WH_PREFIX.length);
    if (target === '' || target === '.' || target === '..')
      throw unsafe(this.what, `whiteout ${JSON.stringify(name)} names no file`);
    await this.tree.ensureDir(parent, name);
    await this.clearPath([...parent, target]);
    await makeWhiteout(this.tree.abs([...parent, target]));
  }

  private mode(h: tar.Header, name: string, isDir: boolean): number {
    let mode = (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777;
    // setgid on a directory only sets the group of new files; on a file both bits grant privileges.
    if (!isDir && mode & 0o6000 && !this.opts.allowSetuid) {
      mode &= ~0o6000;
      this.warn(`removed setuid/setgid from ${JSON.stringify(name)}`);
    }
    return mode;
  }

  private async replaceExisting(parts: string[], keepDir: boolean): Promise<void> {
    const st = await lstatOrUndefined(this.tree.abs(parts));
    if (st && !(keepDir && st.isDirectory())) await this.clearPath(parts);
  }

  private async clearPath(parts: string[]): Promise<void> {
    await this.tree.clear(parts);
    const rel = parts.join('/');
    for (const k of this.dirs.keys()) if (k === rel || k.startsWith(`${rel}/`)) this.dirs.delete(k);
  }

  private async directory(parts: string[], h: tar.Header, name: string, body: Readable): Promise<void> {
    await drain(body);
    await this.tree.ensureDir(parts.slice(0, -1), name);
    await this.replaceExisting(parts, true);
    await this.tree.ensureDir(parts, name);
    this.dirs.set(parts.join('/'), {
      components: parts,
      mode: this.mode(h, name, true),
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: h.mtime ?? new Date(0),
    });
  }

  private async file(parts: string[], h: tar.Header, name: string, body: Readable): Promise<void> {
    await this.tree.ensureDir(parts.slice(0, -1), name);
    await this.replaceExisting(parts, false);
    const abs = this.tree.abs(parts);
    // O_EXCL|O_NOFOLLOW: even if something appeared at this path since, never write through it.
    const fh = await open(
      abs,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      for await (const chunk of body) await fh.write(chunk as Buffer);
      if (this.chown) await fh.chown(h.uid ?? 0, h.gid ?? 0);
      await fh.chmod(this.mode(h, name, false)); // after chown, which clears setuid bits
      const t = h.mtime ?? new Date(0);
      await fh.utimes(t, t);
    } finally {
      await fh.close();
    }
  }

  private async symlink(parts: string[], h: tar.Header, name: string): Promise<void> {
    const target = h.linkname ?? '';
    if (target === '' || target.includes('\0'))
      throw unsafe(this.what, `symlink ${JSON.stringify(name)} has an empty or invalid target`);
    await this.tree.ensureDir(parts.slice(0, -1), name);
    await this.replaceExisting(parts, false);
    // Any target is fine to *create*: it is resolved inside the container's root at run time, and we
    // never follow it while unpacking.
    const abs = this.tree.abs(parts);
    await symlink(target, abs);
    if (this.chown) await lchown(abs, h.uid ?? 0, h.gid ?? 0);
    const t = h.mtime ?? new Date(0);
    await lutimes(abs, t, t);
  }

  private async hardlink(parts: string[], h: tar.Header, name: string): Promise<void> {
    const targetParts = entryComponents(h.linkname ?? '', this.what);
    if (targetParts.length === 0) throw unsafe(this.what, `hardlink ${JSON.stringify(name)} has no target`);
    const st = await this.tree.lookup(targetParts, name);
    if (!st)
      throw unsafe(
        this.what,
        `hardlink ${JSON.stringify(name)} points to ${JSON.stringify(h.linkname)}, which is not in this layer`,
      );
    if (!st.isFile() && !st.isSymbolicLink())
      throw unsafe(
        this.what,
        `hardlink ${JSON.stringify(name)} points to ${JSON.stringify(h.linkname)}, which is not a file`,
      );
    if (targetParts.join('/') === parts.join('/')) return;
    await this.tree.ensureDir(parts.slice(0, -1), name);
    await this.replaceExisting(parts, false);
    await link(this.tree.abs(targetParts), this.tree.abs(parts));
  }

  /** Directory modes, owners and times, deepest first, on directories that are still real ones. */
  async finish(): Promise<void> {
    const metas = [...this.dirs.values()].sort((a, b) => b.components.length - a.components.length);
    for (const m of metas) {
      if (!(await this.tree.isRealDir(m.components))) continue;
      const abs = this.tree.abs(m.components);
      if (this.chown) await lchown(abs, m.uid, m.gid);
      await chmod(abs, m.mode);
      await utimes(abs, m.mtime, m.mtime);
    }
  }
}
