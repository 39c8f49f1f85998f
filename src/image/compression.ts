// Layer compression, recognised by magic bytes rather than trusted from media types (docker-save
// archives and some registries label layers loosely; the digest still pins the bytes).
import { createHash } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0) === 0xfd2fb528)
    return 'zstd';
  return 'none';
}

/** The transforms that undo `c` (none for an uncompressed tar). */
export function decompressor(c: Compression, what: string): Transform[] {
  if (c === 'gzip') return [zlib.createGunzip({ chunkSize: 1 << 16 })];
  if (c === 'zstd') {
    // Node 24 has zstd in zlib; older runtimes do not, and say so instead of failing obscurely.
    const make = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    if (!make)
      throw new ImageError('Unsupported', `${what} is zstd-compressed, which this Node.js cannot decompress`);
    return [make()];
  }
  return [];
}

/** Reads until at least `n` bytes are seen, then hands back a stream that replays them. */
export async function peek(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    seen.push(Buffer.from(r.value));
    len += r.value.byteLength;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        yield Buffer.from(r.value);
      }
    } finally {
      await it.return?.();
    }
  }
  return { head: Buffer.concat(seen), stream: Readable.from(replay()) };
}

/** Opens a possibly compressed stream as plain bytes. */
export async function decompressed(
  source: AsyncIterable<Uint8Array>,
  what: string,
): Promise<{ compression: Compression; stream: Readable }> {
  const { head, stream } = await peek(source, 4);
  const compression = sniffCompression(head);
  const stages = decompressor(compression, what);
  if (stages.length === 0) return { compression, stream };
  const out = stages[stages.length - 1];
  pipeline([stream, ...stages]).catch((err) => out.destroy(err));
  return { compression, stream: out };
}

/** The sha256 of a layer's uncompressed tar (its diff_id) and how it was compressed. */
export async function diffIdOf(
  source: AsyncIterable<Uint8Array>,
  what: string,
): Promise<{ diffId: Digest; compression: Compression }> {
  const { compression, stream } = await decompressed(source, what);
  const hash = createHash('sha256');
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        cb();
      },
    }),
  );
  return { diffId: `sha256:${hash.digest('hex')}`, compression };
}
