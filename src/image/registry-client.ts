// The OCI distribution API over fetch: manifests (with Accept for OCI and Docker v2 manifests and
// indexes), blob downloads into the content store (verified, resumable with Range), blob uploads
// (monolithic or chunked) and manifest pushes. Plain http only for loopback registries or ones the
// caller explicitly allows; https otherwise.
import type { BlobWriter, ContentStore } from './content-store.ts';
import { isDigest, sha256, type Digest } from './digest.ts';
import { ImageError, isImageError } from './errors.ts';
import { sleep } from './fsutil.ts';
import {
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseManifest,
  type Descriptor,
  type ParsedManifest,
} from './oci.ts';
import { formatReference, isLoopbackRegistry, registryApiHost, type Reference } from './reference.ts';
import { causeOf, RegistryAuth, type Credentials } from './registry-auth.ts';

export interface RegistryClientOptions {
  /** Credentials per registry host (as in the reference, e.g. "127.0.0.1:5000"), or a lookup. */
  credentials?: Record<string, Credentials> | ((registry: string) => Credentials | undefined);
  /** Registries that may be spoken to over plain http besides loopback ones; true allows any. */
  insecure?: boolean | string[];
  /** Retries of a failed download or upload request (default 3); downloads resume where they stopped. */
  retries?: number;
  fetch?: typeof fetch;
  userAgent?: string;
}

export interface TransferProgress {
  digest: Digest;
  mediaType: string;
  total: number;
  done: number;
  /** 'exists': already there (nothing transferred); 'active': bytes moving; 'done': finished. */
  status: 'exists' | 'active' | 'done';
  /** Bytes a resumed download started from. */
  resumedFrom?: number;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(', ');

type Body = Buffer | AsyncIterable<Uint8Array> | undefined;

interface RequestInit {
  headers?: Record<string, string>;
  body?: Body;
  scope: 'pull' | 'push';
}

export class RegistryClient {
  private readonly opts: RegistryClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly auth: RegistryAuth;

  constructor(opts: RegistryClientOptions = {}) {
    this.opts = opts;
    this.fetchImpl = opts.fetch ?? fetch;
    const creds = opts.credentials;
    const lookup = typeof creds === 'function' ? creds : (r: string) => creds?.[r];
    this.auth = new RegistryAuth(lookup, this.fetchImpl);
  }

  baseUrl(ref: Reference): string {
    const insecure = this.opts.insecure;
    const plain =
      isLoopbackRegistry(ref.registry) ||
      insecure === true ||
      (Array.isArray(insecure) && insecure.includes(ref.registry));
    return `${plain ? 'http' : 'https'}://${registryApiHost(ref)}/v2/${ref.repository}`;
  }

  private scope(ref: Reference, s: 'pull' | 'push'): string {
    return `repository:${ref.repository}:${s === 'push' ? 'pull,push' : 'pull'}`;
  }

  /** One request with the auth dance; a streamed body cannot be replayed, so callers authenticate first. */
  private async request(
    method: string,
    ref: Reference,
    pathOrUrl: string,
    init: RequestInit,
  ): Promise<Response> {
    const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl(ref)}${pathOrUrl}`;
    const scope = this.scope(ref, init.scope);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        'user-agent': this.opts.userAgent ?? 'strata',
        ...init.headers,
      };
      const authz = this.auth.header(ref.registry, scope);
      if (authz) headers.authorization = authz;
      let res: Response;
      try {
        res = await this.fetchImpl(url, {
          method,
          headers,
          body: init.body as never,
          ...(init.body && !Buffer.isBuffer(init.body) ? { duplex: 'half' } : {}),
        } as globalThis.RequestInit);
      } catch (err) {
        throw new ImageError(
          'Registry',
          `${method} ${url}: cannot reach registry ${ref.registry}: ${causeOf(err)}`,
          { cause: err },
        );
      }
      const replayable = init.body === undefined || Buffer.isBuffer(init.body);
      if (res.status === 401 && attempt === 0 && replayable) {
        await res.body?.cancel();
        if (await this.auth.challenge(ref.registry, scope, res, authz)) continue;
      }
      if (res.status === 401) {
        await res.body?.cancel();
        throw new ImageError(
          'Unauthorized',
          `registry ${ref.registry} denied ${init.scope} access to ${ref.repository}`,
        );
      }
      return res;
    }
  }

  /** Turns a failed response into an ImageError using the registry's JSON error body. */
  private async failure(res: Response, what: string): Promise<ImageError> {
    let detail = '';
    try {
      const body = (await res.json()) as { errors?: Array<{ code?: string; message?: string }> };
      detail = (body.errors ?? [])
        .map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`)
        .join('; ');
    } catch {
      /* not JSON */
    }
    const msg = `${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`;
    if (res.status === 404) return new ImageError('NotFound', msg);
    if (res.status === 401 || res.status === 403) return new ImageError('Unauthorized', msg);
    return new ImageError('Registry', msg);
  }

  /** GETs a manifest or index by tag or digest and checks it against the digest it should have. */
  async getManifest(
    ref: Reference,
    reference: string,
    expected?: { digest: Digest; size: number },
  ): Promise<FetchedManifest> {
    const what = `manifest ${formatReference(ref)}${reference.startsWith('sha256:') && reference !== ref.digest ? ` (${reference})` : ''}`;
    const res = await this.request('GET', ref, `/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      scope: 'pull',
    });
    if (!res.ok) throw await this.failure(res, `fetching ${what}`);
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256(bytes);
    const pinned = isDigest(reference) ? reference : expected?.digest;
    const claimed = res.headers.get('docker-content-digest');
    if (pinned && pinned !== digest)
      throw new ImageError('DigestMismatch', `${what} hashes to ${digest}, expected ${pinned}`);
    if (!pinned && claimed && isDigest(claimed) && claimed !== digest)
      throw new ImageError('DigestMismatch', `${what} hashes to ${digest}, but the registry says ${claimed}`);
    if (expected && expected.size !== bytes.byteLength)
      throw new ImageError('SizeMismatch', `${what} is ${bytes.byteLength} bytes, expected ${expected.size}`);
    const contentType = res.headers.get('content-type')?.split(';')[0].trim();
    const parsed = parseManifest(bytes, contentType, what);
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.byteLength }, bytes, parsed };
  }

  async blobExists(ref: Reference, digest: Digest, scope: 'pull' | 'push' = 'pull'): Promise<boolean> {
    const res = await this.request('HEAD', ref, `/blobs/${digest}`, { scope });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(res, `checking blob ${digest} in ${ref.registry}/${ref.repository}`);
  }

  /**
   * Downloads a blob into the content store, verified. Concurrent calls for one blob share the work;
   * an interrupted download (this process or an earlier one) resumes with a Range request when the
   * registry honours it, and starts over when it does not.
   */
  async downloadBlob(
    ref: Reference,
    desc: Descriptor,
    content: ContentStore,
    onProgress?: (p: TransferProgress) => void,
  ): Promise<'exists' | 'written'> {
    const report = (done: number, status: TransferProgress['status'], resumedFrom?: number): void =>
      onProgress?.({
        digest: desc.digest,
        mediaType: desc.mediaType,
        total: desc.size,
        done,
        status,
        ...(resumedFrom ? { resumedFrom } : {}),
      });
    const expected = { digest: desc.digest, size: desc.size };
    const attempt = (): Promise<'exists' | 'written'> =>
      content.ingestResumable(expected, (w) =>
        this.fill(ref, desc, w, (n, from) => report(n, 'active', from)),
      );
    let result: 'exists' | 'written';
    const startedFrom = await content.partialSize(desc.digest);
    try {
      result = await attempt();
    } catch (err) {
      // A resumed download whose whole does not verify may have had a bad prefix: one clean retry.
      if (!(startedFrom > 0 && (isImageError(err, 'DigestMismatch') || isImageError(err, 'SizeMismatch'))))
        throw err;
      result = await attempt();
    }
    report(desc.size, result === 'exists' ? 'exists' : 'done');
    return result;
  }

  private async fill(
    ref: Reference,
    desc: Descriptor,
    w: BlobWriter,
    progress: (n: number, from?: number) => void,
  ): Promise<void> {
    const retries = this.opts.retries ?? 3;
    for (let failures = 0; ;) {
      const offset = w.offset;
      try {
        const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
        const res = await this.request('GET', ref, `/blobs/${desc.digest}`, { headers, scope: 'pull' });
        if (res.status === 416) {
          await res.body?.cancel();
          await w.reset();
          throw new Error('range not satisfiable');
        }
        if (!res.ok)
          throw await this.failure(
            res,
            `fetching blob ${desc.digest} from ${ref.registry}/${ref.repository}`,
          );
        const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
        if (offset > 0 && !(res.status === 206 && range && Number(range[1]) === offset)) await w.reset();
        progress(w.offset, w.offset > 0 ? w.offset : undefined);
        if (!res.body) throw new Error('empty response body');
        // Coalesce the response's small chunks into ~1 MiB writes: far fewer syscalls and awaits.
        let pending: Uint8Array[] = [];
        let pendingLen = 0;
        const flush = async (): Promise<void> => {
          if (pendingLen === 0) return;
          await w.write(pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingLen));
          pending = [];
          pendingLen = 0;
          progress(w.offset);
        };
        try {
          for await (const chunk of res.body) {
            pending.push(chunk);
            pendingLen += chunk.byteLength;
            if (pendingLen >= 1 << 20) await flush();
          }
        } finally {
          await flush(); // keep what arrived before a dropped connection: the retry resumes after it
        }
        if (w.offset === desc.size) return;
        throw new Error(`connection ended after ${w.offset} of ${desc.size} bytes`);
      } catch (err) {
        // Bad content and refusals are final; a dropped connection or 5xx is retried from w.offset.
        if (isImageError(err) && err.code !== 'Registry') throw err;
        if (++failures > retries) {
          if (isImageError(err)) throw err;
          throw new ImageError('Registry', `downloading blob ${desc.digest} failed: ${causeOf(err)}`, {
            cause: err,
          });
        }
        await sleep(200 * 2 ** (failures - 1));
      }
    }
  }

  /**
   * Uploads a blob from the content store unless the registry has it: POST to open an upload, then one
   * PUT with the whole blob, or PATCHes of chunkSize bytes and a closing PUT. The blob is verified as it
   * is read; a corrupt local blob aborts the upload.
   */
  async uploadBlob(
    ref: Reference,
    desc: Descriptor,
    content: ContentStore,
    opts: { chunkSize?: number; onProgress?: (p: TransferProgress) => void } = {},
  ): Promise<'exists' | 'uploaded'> {
    const report = (done: number, status: TransferProgress['status']): void =>
      opts.onProgress?.({ digest: desc.digest, mediaType: desc.mediaType, total: desc.size, done, status });
    // The HEAD also completes the auth dance before any streamed (unreplayable) body is sent.
    if (await this.blobExists(ref, desc.digest, 'push')) {
      report(desc.size, 'exists');
      return 'exists';
    }
    const retries = this.opts.retries ?? 3;
    for (let failures = 0; ;) {
      try {
        await this.uploadOnce(ref, desc, content, opts.chunkSize, (n) => report(n, 'active'));
        report(desc.size, 'done');
        return 'uploaded';
      } catch (err) {
        if ((isImageError(err) && err.code !== 'Registry') || ++failures > retries) throw err;
        await sleep(200 * 2 ** (failures - 1));
      }
    }
  }

  private async uploadOnce(
    ref: Reference,
    desc: Descriptor,
    content: ContentStore,
    chunkSize: number | undefined,
    progress: (n: number) => void,
  ): Promise<void> {
    const what = `uploading blob ${desc.digest} to ${ref.registry}/${ref.repository}`;
    const start = await this.request('POST', ref, '/blobs/uploads/', {
      scope: 'push',
      headers: { 'content-length': '0' },
    });
    await start.body?.cancel();
    if (start.status !== 202) throw await this.failure(start, what);
    let location = this.location(ref, start, what);
    // Capture a verification failure of the local blob: fetch only reports "body failed".
    let sourceError: unknown;
    const source = content.readStream(desc.digest, desc.size);
    const finish = (url: string): string => {
      const u = new URL(url);
      u.searchParams.set('digest', desc.digest);
      return u.toString();
    };
    if (!chunkSize || desc.size <= chunkSize) {
      let sent = 0;
      const body = (async function* () {
        try {
          for await (const chunk of source) {
            sent += (chunk as Buffer).byteLength;
            progress(sent);
            yield chunk as Buffer;
          }
        } catch (err) {
          sourceError = err;
          throw err;
        }
      })();
      let res: Response;
      try {
        res = await this.request('PUT', ref, finish(location), {
          scope: 'push',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
          body,
        });
      } catch (err) {
        throw sourceError ?? err;
      }
      if (sourceError) throw sourceError;
      if (res.status !== 201) throw await this.failure(res, what);
      await res.body?.cancel();
      return;
    }
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const patch = async (): Promise<void> => {
      const body = Buffer.concat(pending, pendingLen);
      const res = await this.request('PATCH', ref, location, {
        scope: 'push',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + body.byteLength - 1}`,
          'content-length': String(body.byteLength),
        },
        body,
      });
      await res.body?.cancel();
      if (res.status !== 202) throw await this.failure(res, `${what} (chunk at ${offset})`);
      location = this.location(ref, res, what);
      offset += body.byteLength;
      progress(offset);
      pending = [];
      pendingLen = 0;
    };
    for await (const chunk of source) {
      let c = chunk as Buffer;
      while (c.byteLength > 0) {
        const take = Math.min(c.byteLength, chunkSize - pendingLen);
        pending.push(c.subarray(0, take));
        pendingLen += take;
        c = c.subarray(take);
        if (pendingLen === chunkSize) await patch();
      }
    }
    if (pendingLen > 0) await patch();
    const res = await this.request('PUT', ref, finish(location), {
      scope: 'push',
      headers: { 'content-length': '0' },
      body: Buffer.alloc(0),
    });
    await res.body?.cancel();
    if (res.status !== 201) throw await this.failure(res, what);
  }

  private location(ref: Reference, res: Response, what: string): string {
    const loc = res.headers.get('location');
    if (!loc) throw new ImageError('Registry', `${what}: the registry sent no upload Location`);
    return new URL(loc, this.baseUrl(ref)).toString();
  }

  /** PUTs a manifest or index under a tag or digest; returns the digest the registry reports. */
  async putManifest(ref: Reference, reference: string, desc: Descriptor, bytes: Buffer): Promise<Digest> {
    if (!INDEX_TYPES.includes(desc.mediaType) && !MANIFEST_TYPES.includes(desc.mediaType))
      throw new ImageError('InvalidManifest', `cannot push ${desc.mediaType} as a manifest`);
    const res = await this.request('PUT', ref, `/manifests/${reference}`, {
      scope: 'push',
      headers: { 'content-type': desc.mediaType },
      body: bytes,
    });
    if (res.status !== 201) throw await this.failure(res, `pushing manifest ${formatReference(ref)}`);
    await res.body?.cancel();
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && claimed !== desc.digest)
      throw new ImageError(
        'DigestMismatch',
        `registry stored manifest ${formatReference(ref)} as ${claimed}, expected ${desc.digest}`,
      );
    return desc.digest;
  }
}

/** Reads a response body, refusing (without buffering it) one larger than `max` bytes. */
async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const tooLarge = (): ImageError => new ImageError('TooLarge', `${what} is larger than ${max} bytes`);
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body ?? []) {
    n += chunk.byteLength;
    if (n > max) throw tooLarge(); // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}
