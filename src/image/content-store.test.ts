import { chmodSync, readdirSync, truncateSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from './content-store.ts';
import { sha256 } from './digest.ts';
import { ImageError } from './errors.ts';
import { chunks, tempDir } from './testing/fixtures.ts';

describe('ContentStore', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: ContentStore;
  const data = Buffer.from('hello, content store\n'.repeat(1000));
  const digest = sha256(data);

  beforeEach(() => {
    dir = tempDir();
    store = new ContentStore(dir.path);
  });
  afterEach(() => dir.cleanup());

  it('stores blobs under blobs/sha256/<hex> and reads them back verified', async () => {
    const ref = await store.put(data, { digest, size: data.length });
    expect(ref).toEqual({ digest, size: data.length });
    expect(store.path(digest)).toBe(join(dir.path, 'blobs', 'sha256', digest.slice(7)));
    expect((await store.read(digest, data.length)).equals(data)).toBe(true);
    expect(await store.has(digest)).toBe(true);
    expect(await store.list()).toEqual([{ digest, size: data.length }]);
    expect(readdirSync(join(dir.path, 'ingest'))).toEqual([]); // no temp files left behind
  });

  it('refuses to write bytes that do not match the descriptor, and stores nothing', async () => {
    const wrong = sha256('something else');
    await expect(store.put(data, { digest: wrong, size: data.length })).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
    await expect(store.put(data, { digest, size: data.length + 1 })).rejects.toMatchObject({
      code: 'SizeMismatch',
    });
    await expect(
      store.ingest(chunks(data, 1000), { digest: wrong, size: data.length }),
    ).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
    await expect(store.ingest(chunks(data, 1000), { digest, size: 10 })).rejects.toMatchObject({
      code: 'SizeMismatch',
    });
    expect(await store.list()).toEqual([]);
    expect(readdirSync(join(dir.path, 'ingest'))).toEqual([]);
  });

  it('computes the digest of a streamed blob when none is expected', async () => {
    expect(await store.ingest(chunks(data, 777))).toEqual({ digest, size: data.length });
    expect(await store.has(digest, data.length)).toBe(true);
  });

  it('rejects a tampered blob on read with a clear error', async () => {
    await store.put(data);
    const p = store.path(digest);
    chmodSync(p, 0o644);
    const tampered = Buffer.from(data);
    tampered[10] ^= 1;
    writeFileSync(p, tampered);
    const err = await store.read(digest, data.length).catch((e) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect(err.code).toBe('DigestMismatch');
    expect(err.message).toMatch(
      /blob sha256:[0-9a-f]{64} is corrupt: content hashes to sha256:.*refusing to use it/,
    );
    await expect(store.verify(digest)).rejects.toMatchObject({ code: 'DigestMismatch' });
  });

  it('rejects a truncated blob before delivering any byte', async () => {
    await store.put(data);
    truncateSync(store.path(digest), 100);
    const received: Buffer[] = [];
    const err = await (async () => {
      for await (const c of store.readStream(digest, data.length)) received.push(c as Buffer);
    })().catch((e) => e);
    expect(err).toMatchObject({ code: 'SizeMismatch' });
    expect(err.message).toMatch(/expected \d+ bytes, found 100 \(truncated\?\)/);
    expect(received).toEqual([]);
    // Without a known size it is still caught, by the digest.
    await expect(store.verify(digest)).rejects.toMatchObject({ code: 'DigestMismatch' });
  });

  it('rejects a blob that grew on disk', async () => {
    await store.put(data);
    appendFileSync(store.path(digest), 'x');
    await expect(store.read(digest, data.length)).rejects.toMatchObject({ code: 'SizeMismatch' });
  });

  it('reports a missing blob as NotFound', async () => {
    await expect(store.read(digest)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('resumes an interrupted ingest from the bytes it kept', async () => {
    const expected = { digest, size: data.length };
    await expect(
      store.ingestResumable(expected, async (w) => {
        await w.write(data.subarray(0, 5000));
        throw new Error('connection dropped');
      }),
    ).rejects.toThrow('connection dropped');
    expect(await store.has(digest)).toBe(false);
    expect(await store.partialSize(digest)).toBe(5000);
    let resumedAt = -1;
    const r = await store.ingestResumable(expected, async (w) => {
      resumedAt = w.offset;
      await w.write(data.subarray(w.offset));
    });
    expect(r).toBe('written');
    expect(resumedAt).toBe(5000);
    expect((await store.read(digest, data.length)).equals(data)).toBe(true);
    expect(await store.partialSize(digest)).toBe(0);
    expect(await store.ingestResumable(expected, async () => {})).toBe('exists');
  });

  it('discards a resumed ingest whose whole does not verify', async () => {
    const expected = { digest, size: data.length };
    await store
      .ingestResumable(expected, async (w) => {
        await w.write(Buffer.alloc(100, 0x41)); // a wrong prefix
        throw new Error('dropped');
      })
      .catch(() => {});
    await expect(
      store.ingestResumable(expected, async (w) => {
        await w.write(data.subarray(w.offset));
      }),
    ).rejects.toMatchObject({ code: 'DigestMismatch' });
    expect(await store.has(digest)).toBe(false);
    expect(await store.partialSize(digest)).toBe(0);
  });

  it('lets concurrent ingests of one blob share the work', async () => {
    const expected = { digest, size: data.length };
    let fills = 0;
    const fill = async (w: { write(c: Uint8Array): Promise<void> }): Promise<void> => {
      fills++;
      for await (const c of chunks(data, 512)) await w.write(c);
    };
    const results = await Promise.all([
      store.ingestResumable(expected, fill),
      store.ingestResumable(expected, fill),
    ]);
    expect(results.sort()).toEqual(['exists', 'written']);
    expect(fills).toBe(1);
  });

  it('deletes blobs', async () => {
    await store.put(data);
    await store.delete(digest);
    expect(await store.has(digest)).toBe(false);
    expect(existsSync(store.path(digest))).toBe(false);
  });

  it('rejects digests it cannot use', () => {
    expect(() => store.path('sha512:abc' as never)).toThrow(/only sha256 digests are supported/);
    expect(() => store.path('sha256:xyz' as never)).toThrow(/not a sha256:<64 hex> digest/);
  });
});
