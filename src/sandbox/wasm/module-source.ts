// Finds the bytes of a sandbox's wasm module: a file on this node (absolute, relative to the agent's
// working directory, or file: URL) or an https:// URL downloaded into the cache directory. Verifies
// spec.imageDigest. OCI references are resolved to a file by the image layer before they get here.

import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError } from '../driver.ts';

export const DEFAULT_MAX_MODULE_BYTES = 256 * 1024 * 1024;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
/** Remembered file hashes; more than this many distinct module files on one node is unusual. */
const HASH_CACHE_ENTRIES = 1024;

export interface ResolvedModule {
  path: string;
  /** Hex sha256 of the module bytes. */
  sha256: string;
  /** The bytes, when they had to be read to hash them (otherwise load() reads them). */
  bytes?: Uint8Array;
}

export interface ModuleSourceOptions {
  cacheDir: string;
  maxBytes?: number;
  /** Total time allowed for one download. */
  downloadTimeoutMs?: number;
}

export class ModuleSource {
  private readonly cacheDir: string;
  private readonly maxBytes: number;
  private readonly downloadTimeoutMs: number;
  /** path -> (stat identity, sha256): restarting a pod of an unchanged file costs one stat, not a hash. */
  private readonly hashes = new Map<string, { key: string; sha256: string }>();
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(opts: ModuleSourceOptions) {
    this.cacheDir = opts.cacheDir;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_MODULE_BYTES;
    this.downloadTimeoutMs = opts.downloadTimeoutMs ?? 120_000;
  }

  async resolve(image: string, imageDigest?: string): Promise<ResolvedModule> {
    const expected = imageDigest === undefined ? undefined : parseDigest(imageDigest);
    const path = await this.locate(image, expected);
    const resolved = await this.hashFile(path);
    if (expected !== undefined && resolved.sha256 !== expected) {
      throw new SandboxError(
        'InvalidImageDigest',
        `module ${image} has digest sha256:${resolved.sha256}, but the pod requires sha256:${expected}`,
      );
    }
    return resolved;
  }

  /** The module's bytes, checked against the hash resolve() reported. */
  async load(m: ResolvedModule): Promise<Uint8Array> {
    if (m.bytes) return m.bytes;
    const bytes = await this.readLocal(m.path);
    if (sha256(bytes) !== m.sha256) {
      this.hashes.delete(m.path);
      throw new SandboxError('ErrImagePull', `module ${m.path} changed while the sandbox was starting`);
    }
    return bytes;
  }

  private async locate(image: string, expected: string | undefined): Promise<string> {
    if (image.startsWith('https://') || image.startsWith('http://')) return this.download(image, expected);
    if (image.startsWith('file:')) return fileURLToPath(image);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) {
      throw new SandboxError(
        'ErrImagePull',
        `unsupported module reference ${image}: the wasm tier takes a file path or an https:// URL`,
      );
    }
    if (image === '')
      throw new SandboxError('ErrImagePull', 'image is empty: give the path or URL of a .wasm module');
    return resolvePath(image);
  }

  private async hashFile(path: string): Promise<ResolvedModule> {
    let st;
    try {
      st = await stat(path, { bigint: true });
    } catch (err) {
      throw pullError(path, err);
    }
    if (!st.isFile()) throw new SandboxError('ErrImagePull', `wasm module ${path} is not a regular file`);
    if (st.size > BigInt(this.maxBytes)) {
      throw new SandboxError(
        'ErrImagePull',
        `wasm module ${path} is ${st.size} bytes, over the ${this.maxBytes}-byte limit`,
      );
    }
    // ctime cannot be set by a user, so an unchanged identity means unchanged contents.
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = this.hashes.get(path);
    if (known && known.key === key) return { path, sha256: known.sha256 };
    const bytes = await this.readLocal(path);
    const digest = sha256(bytes);
    if (this.hashes.size >= HASH_CACHE_ENTRIES) this.hashes.delete(this.hashes.keys().next().value as string);
    this.hashes.set(path, { key, sha256: digest });
    return { path, sha256: digest, bytes };
  }

  private async readLocal(path: string): Promise<Uint8Array> {
    try {
      const buf = await readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      throw pullError(path, err);
    }
  }

  /**
   * Downloads `url` once into cacheDir/blobs (content-addressed) and remembers url -> digest, so later
   * pods start offline. Like imagePullPolicy IfNotPresent: a URL's content is assumed not to change;
   * pin it with imageDigest to be sure.
   */
  private download(url: string, expected: string | undefined): Promise<string> {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' && !isLoopback(parsed.hostname)) {
      return Promise.reject(
        new SandboxError(
          'ErrImagePull',
          `refusing to download ${url} over plain http; use https:// (http is allowed for loopback only)`,
        ),
      );
    }
    const inflight = this.downloads.get(url);
    if (inflight) return inflight;
    const p = this.fetchToCache(url, expected).finally(() => this.downloads.delete(url));
    this.downloads.set(url, p);
    return p;
  }

  private async fetchToCache(url: string, expected: string | undefined): Promise<string> {
    const blobs = join(this.cacheDir, 'blobs', 'sha256');
    const index = join(this.cacheDir, 'urls', sha256(new TextEncoder().encode(url)));
    if (expected && (await exists(join(blobs, expected)))) return join(blobs, expected);
    const remembered = await readFile(index, 'utf8').catch(() => undefined);
    if (!expected && remembered && DIGEST_RE.test(remembered.trim())) {
      const blob = join(blobs, remembered.trim().slice('sha256:'.length));
      if (await exists(blob)) return blob;
    }

    await mkdir(blobs, { recursive: true });
    await mkdir(join(this.cacheDir, 'urls'), { recursive: true });
    const tmp = join(blobs, `.download-${randomUUID()}`);
    try {
      let res: Response;
      try {
        res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(this.downloadTimeoutMs) });
      } catch (err) {
        throw new SandboxError('ErrImagePull', `downloading ${url} failed: ${(err as Error).message}`);
      }
      if (!res.ok || !res.body)
        throw new SandboxError('ErrImagePull', `downloading ${url} failed: HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? 'NaN');
      if (declared > this.maxBytes) {
        await res.body.cancel();
        throw new SandboxError(
          'ErrImagePull',
          `${url} is ${declared} bytes, over the ${this.maxBytes}-byte limit`,
        );
      }
      const hash = createHash('sha256');
      const out = createWriteStream(tmp, { mode: 0o644 });
      let size = 0;
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          size += chunk.length;
          if (size > this.maxBytes) {
            throw new SandboxError('ErrImagePull', `${url} is larger than the ${this.maxBytes}-byte limit`);
          }
          hash.update(chunk);
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        }
      } catch (err) {
        if (err instanceof SandboxError) throw err;
        throw new SandboxError('ErrImagePull', `downloading ${url} failed: ${(err as Error).message}`);
      } finally {
        await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
      }
      const digest = hash.digest('hex');
      const blob = join(blobs, digest);
      await rename(tmp, blob);
      await writeFile(index, `sha256:${digest}\n`);
      return blob;
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function parseDigest(digest: string): string {
  if (!DIGEST_RE.test(digest)) {
    throw new SandboxError(
      'InvalidImageDigest',
      `imageDigest ${JSON.stringify(digest)} is not of the form sha256:<64 hex digits>`,
    );
  }
  return digest.slice('sha256:'.length);
}

function pullError(path: string, err: unknown): SandboxError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new SandboxError('ErrImagePull', `wasm module not found: ${path}`);
  return new SandboxError('ErrImagePull', `cannot read wasm module ${path}: ${(err as Error).message}`);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
