// The node's content-addressable blob store: blobs/sha256/<hex> under a root directory.
//
// Every write is verified before it becomes visible (digest and size must match what the descriptor
// promised; data goes to a temp file, is fsynced, then renamed into place) and every read is verified
// again (a blob tampered with or truncated on disk fails with DigestMismatch/SizeMismatch and its bytes
// are never handed on as good). Interrupted downloads keep a partial file under ingest/ so they resume.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestHex, isDigest, parseDigest, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { fsyncDir, withLockFile } from './fsutil.ts';

export interface BlobRef {
  digest: Digest;
  size: number;
}

function corrupt(digest: Digest, detail: string, code: 'DigestMismatch' | 'SizeMismatch'): ImageError {
  return new ImageError(
    code,
    `blob ${digest} is corrupt: ${detail}; refusing to use it (pull or import it again)`,
  );
}

/** A resumable writer for one expected blob; see ContentStore.ingestResumable. */
export interface BlobWriter {
  readonly expected: BlobRef;
  /** Bytes already held (from an earlier, interrupted attempt when > 0 at the start). */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Drop what was written so far (the source could not resume). */
  reset(): Promise<void>;
}

export class ContentStore {
  readonly root: string;
  private readonly blobDir: string;
  private readonly ingestDir: string;

  constructor(root: string) {
    this.root = root;
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  /** Where the blob lives on disk. Unverified: use verify() before handing the path to a consumer. */
  path(digest: Digest): string {
    return join(this.blobDir, digestHex(parseDigest(digest)));
  }

  /** Size on disk, or undefined when absent. Cheap: no hashing. */
  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Present (with the expected size when given). A full check is verify(). */
  async has(digest: Digest, size?: number): Promise<boolean> {
    const s = await this.size(digest);
    return s !== undefined && (size === undefined || s === size);
  }

  /** Stores bytes held in memory, after checking them against `expected` when given. */
  async put(data: Uint8Array, expected?: { digest: Digest; size?: number }): Promise<BlobRef> {
    const digest: Digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (expected?.size !== undefined && expected.size !== data.byteLength)
      throw corrupt(
        expected.digest,
        `expected ${expected.size} bytes, got ${data.byteLength}`,
        'SizeMismatch',
      );
    if (expected && expected.digest !== digest)
      throw corrupt(expected.digest, `content hashes to ${digest}`, 'DigestMismatch');
    if (!(await this.has(digest, data.byteLength))) {
      const { fh, path } = await this.tempFile();
      try {
        await fh.writeFile(data);
        await this.commitTemp(fh, path, digest);
      } finally {
        await fh.close().catch(() => {});
        await rm(path, { force: true });
      }
    }
    return { digest, size: data.byteLength };
  }

  /**
   * Streams a blob in. With `expected`, the write fails (and nothing is stored) unless the bytes match;
   * without it the digest is computed and returned.
   */
  async ingest(
    source: AsyncIterable<Uint8Array>,
    expected?: BlobRef,
    onBytes?: (n: number) => void,
  ): Promise<BlobRef> {
    const hash = createHash('sha256');
    let size = 0;
    const { fh, path } = await this.tempFile();
    try {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (expected && size > expected.size)
          throw corrupt(expected.digest, `more than the expected ${expected.size} bytes`, 'SizeMismatch');
        hash.update(chunk);
        await fh.write(chunk);
        onBytes?.(chunk.byteLength);
      }
      const digest: Digest = `sha256:${hash.digest('hex')}`;
      if (expected && size !== expected.size)
        throw corrupt(expected.digest, `expected ${expected.size} bytes, got ${size}`, 'SizeMismatch');
      if (expected && digest !== expected.digest)
        throw corrupt(expected.digest, `content hashes to ${digest}`, 'DigestMismatch');
      await this.commitTemp(fh, path, digest);
      return { digest, size };
    } finally {
      await fh.close().catch(() => {});
      await rm(path, { force: true });
    }
  }

  /**
   * Fills one expected blob through `fill`, resumably: bytes written by an earlier attempt that was
   * interrupted are kept in ingest/<hex>.partial and `writer.offset` says how many, so a download can ask
   * for the rest (HTTP Range). The blob becomes visible only once its digest and size check out; on a
   * mismatch the partial is discarded. Concurrent callers for the same blob (in this process or another)
   * wait for each other instead of writing the same file. Returns 'exists' if it was already stored.
   */
  async ingestResumable(
    expected: BlobRef,
    fill: (w: BlobWriter) => Promise<void>,
  ): Promise<'exists' | 'written'> {
    const hex = digestHex(parseDigest(expected.digest));
    if (await this.has(expected.digest, expected.size)) return 'exists';
    await mkdir(this.ingestDir, { recursive: true });
    const partial = join(this.ingestDir, `${hex}.partial`);
    return withLockFile(join(this.ingestDir, `${hex}.lock`), async () => {
      if (await this.has(expected.digest, expected.size)) return 'exists';
      const fh = await open(partial, 'a+', 0o600);
      try {
        const hash = createHash('sha256');
        let offset = 0;
        const held = (await fh.stat()).size;
        if (held > expected.size) await fh.truncate(0);
        else if (held > 0) {
          for await (const chunk of createReadStream('', {
            fd: fh.fd,
            start: 0,
            end: held - 1,
            autoClose: false,
          }))
            hash.update(chunk as Buffer);
          offset = held;
        }
        const state = { hash, offset };
        const writer: BlobWriter = {
          expected,
          get offset() {
            return state.offset;
          },
          async write(chunk) {
            if (state.offset + chunk.byteLength > expected.size)
              throw corrupt(expected.digest, `more than the expected ${expected.size} bytes`, 'SizeMismatch');
            await fh.write(chunk, 0, chunk.byteLength, state.offset);
            state.hash.update(chunk);
            state.offset += chunk.byteLength;
          },
          async reset() {
            await fh.truncate(0);
            state.hash = createHash('sha256');
            state.offset = 0;
          },
        };
        await fill(writer);
        const digest: Digest = `sha256:${state.hash.digest('hex')}`;
        if (state.offset !== expected.size || digest !== expected.digest) {
          await rm(partial, { force: true });
          if (state.offset !== expected.size)
            throw corrupt(
              expected.digest,
              `expected ${expected.size} bytes, got ${state.offset}`,
              'SizeMismatch',
            );
          throw corrupt(expected.digest, `content hashes to ${digest}`, 'DigestMismatch');
        }
        await this.commitTemp(fh, partial, digest);
        return 'written';
      } finally {
        await fh.close().catch(() => {});
      }
    });
  }

  /** Bytes written so far by an interrupted ingestResumable (0 when none). */
  async partialSize(digest: Digest): Promise<number> {
    try {
      return (await stat(join(this.ingestDir, `${digestHex(digest)}.partial`))).size;
    } catch {
      return 0;
    }
  }

  /** Reads a whole blob into memory, verified. For manifests and configs, not layers. */
  async read(digest: Digest, size?: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this.readStream(digest, size)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Streams a blob, verifying as it goes. A size mismatch fails before any byte is delivered; a digest
   * mismatch fails the stream at its end, so a consumer must treat everything it received as void on
   * error (unpacking does: it works in a temp dir it discards).
   */
  readStream(digest: Digest, size?: number): Readable {
    const path = this.path(digest);
    async function* verified(): AsyncGenerator<Buffer> {
      let actual: number;
      try {
        actual = (await stat(path)).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw new ImageError('NotFound', `blob ${digest} is not in the content store`);
        throw err;
      }
      if (size !== undefined && actual !== size)
        throw corrupt(digest, `expected ${size} bytes, found ${actual} (truncated?)`, 'SizeMismatch');
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        n += (chunk as Buffer).byteLength;
        yield chunk as Buffer;
      }
      const got = `sha256:${hash.digest('hex')}`;
      if (n !== actual) throw corrupt(digest, `changed size while being read`, 'SizeMismatch');
      if (got !== digest) throw corrupt(digest, `content hashes to ${got}`, 'DigestMismatch');
    }
    return Readable.from(verified(), { objectMode: false });
  }

  /** Hashes the whole blob; returns its path only if it is intact. */
  async verify(digest: Digest, size?: number): Promise<string> {
    for await (const _ of this.readStream(digest, size));
    return this.path(digest);
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  async list(): Promise<BlobRef[]> {
    let names: string[];
    try {
      names = await readdir(this.blobDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: BlobRef[] = [];
    for (const name of names) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const size = await this.size(digest);
      if (size !== undefined) out.push({ digest, size });
    }
    return out;
  }

  /**
   * Removes partial downloads, temp files and lock files not touched for maxAgeMs (left by crashed or
   * abandoned ingests; an active download touches its partial file with every write).
   */
  async cleanIngest(maxAgeMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const p = join(this.ingestDir, name);
      const st = await stat(p).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs >= maxAgeMs) {
        await rm(p, { force: true, recursive: true });
        removed++;
      }
    }
    return removed;
  }

  private async tempFile(): Promise<{ fh: FileHandle; path: string }> {
    await mkdir(this.ingestDir, { recursive: true });
    const path = join(this.ingestDir, `tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    return { fh: await open(path, 'wx', 0o600), path };
  }

  /** fsync the data, then rename it to its final name and fsync the directory. */
  private async commitTemp(fh: FileHandle, path: string, digest: Digest): Promise<void> {
    await fh.sync();
    await fh.chmod(0o444);
    await mkdir(this.blobDir, { recursive: true });
    await rename(path, this.path(digest));
    await fsyncDir(this.blobDir);
  }
}
