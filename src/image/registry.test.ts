// Pull and push against a real registry (Debian's docker-registry on 127.0.0.1), with skopeo on the other
// side of each exchange.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from './archive.ts';
import { sha256, type Digest } from './digest.ts';
import { ImageStore } from './image-store.ts';
import { MediaType } from './oci.ts';
import { parsePlatform } from './platform.ts';
import { pullImage } from './pull.ts';
import { pushImage } from './push.ts';
import { parseReference } from './reference.ts';
import { RegistryClient, type TransferProgress } from './registry-client.ts';
import {
  fakeImage,
  putIndex,
  tempDir,
  testImages,
  testImagesUnavailable,
  wasmArtifact,
  EMPTY_WASM,
} from './testing/fixtures.ts';
import { freePort } from '../lib/free-port.ts';
import {
  registryUnavailable,
  startLocalRegistry,
  startTokenServer,
  toolMissing,
  type LocalRegistry,
} from './testing/local-registry.ts';
import { resolveWasmModule } from './wasm.ts';

const skip = registryUnavailable() ?? testImagesUnavailable() ?? toolMissing('skopeo', 'skopeo');
if (skip) console.warn(`skipping registry tests: ${skip}`);
const noHtpasswd = toolMissing('htpasswd', 'apache2-utils');
const noOpenssl = toolMissing('openssl', 'openssl');

const run = promisify(execFile);
// Async: a token service in this process must keep answering while skopeo runs.
const skopeo = async (...args: string[]): Promise<string> =>
  (await run('skopeo', args, { encoding: 'utf8' })).stdout;
const layoutDigest = (dir: string): Digest =>
  JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests[0].digest;

describe.skipIf(skip)('registry pull and push', () => {
  let reg: LocalRegistry;
  let tmp: ReturnType<typeof tempDir>;
  let images: string;
  let n = 0;
  const freshStore = (): ImageStore =>
    new ImageStore(join(tmp.path, `store-${n++}`), { platform: parsePlatform('linux/amd64') });

  beforeAll(async () => {
    images = testImages();
    tmp = tempDir();
    reg = await startLocalRegistry();
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
    tmp?.cleanup();
  });

  it('pulls an image skopeo pushed, verifying every blob, and reports progress per blob', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${images}/httpd:latest`,
      `docker://${reg.host}/test/httpd:v1`,
    );
    const store = freshStore();
    const events: TransferProgress[] = [];
    const r = await pullImage(store, `${reg.host}/test/httpd:v1`, { onProgress: (p) => events.push(p) });
    expect(r.name).toBe(`${reg.host}/test/httpd:v1`);
    expect(r.target.digest).toBe(layoutDigest(join(images, 'httpd')));
    expect(r.fetched).toBe(3); // config + 2 layers
    const img = await store.inspect(`${reg.host}/test/httpd:v1`);
    expect(img.config?.Cmd?.[0]).toBe('/bin/httpd');
    for (const b of await store.content.list()) await store.content.verify(b.digest, b.size);
    const finals = events
      .filter((e) => e.status === 'done')
      .map((e) => e.digest)
      .sort();
    expect(new Set(finals)).toEqual(
      new Set([...img.layers.map((l) => l.digest), (await store.resolve(r.name)).manifest.config.digest]),
    );
    // A second pull finds everything in place.
    const again: TransferProgress[] = [];
    const r2 = await pullImage(store, `${reg.host}/test/httpd:v1`, { onProgress: (p) => again.push(p) });
    expect(r2.fetched).toBe(0);
    expect(again.every((e) => e.status === 'exists')).toBe(true);
  });

  it('pulls Docker v2 schema 2 manifests', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      `oci:${images}/busybox:latest`,
      `docker://${reg.host}/test/docker-bb:v1`,
    );
    const store = freshStore();
    const r = await pullImage(store, `${reg.host}/test/docker-bb:v1`);
    expect(r.target.mediaType).toBe(MediaType.dockerManifest);
    const img = await store.resolve(r.name);
    expect(img.manifest.config.mediaType).toBe(MediaType.dockerConfig);
    expect(img.manifest.layers[0].mediaType).toBe(MediaType.dockerLayerGzip);
    expect(img.config?.config?.Cmd).toEqual(['/bin/sh']);
    expect(store.layersOf(img)).toHaveLength(1);
  });

  it('pushes an image that skopeo then reads and copies with the same digests (monolithic and chunked)', async () => {
    const store = freshStore();
    await importImage(store, join(images, 'layered'), { name: 'layered' });
    const want = layoutDigest(join(images, 'layered'));
    for (const [tag, chunkSize] of [
      ['mono', undefined],
      ['chunked', 64 * 1024],
    ] as const) {
      const r = await pushImage(store, 'layered', `${reg.host}/strata/layered:${tag}`, { chunkSize });
      expect(r).toMatchObject({ name: `${reg.host}/strata/layered:${tag}`, digest: want });
      const info = JSON.parse(
        await skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/strata/layered:${tag}`),
      );
      expect(info.Digest).toBe(want);
      expect(info.Layers).toHaveLength(3);
    }
    const out = join(tmp.path, 'skopeo-out');
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${reg.host}/strata/layered:chunked`,
      `oci:${out}:latest`,
    );
    expect(layoutDigest(out)).toBe(want);
    // Pushing again finds every blob in place (HEAD) and uploads nothing.
    const again = await pushImage(store, 'layered', `${reg.host}/strata/layered:mono`);
    expect(again).toMatchObject({ uploaded: 0, existed: 4 });
  });

  it('pushes a multi-platform index and pulls the platform asked for', async () => {
    const src = freshStore();
    const amd = await fakeImage(src, 'amd64');
    const arm = await fakeImage(src, 'arm64');
    await src.tag('multi:1', await putIndex(src, [amd, arm]));
    await pushImage(src, 'multi:1', `${reg.host}/test/multi:1`);
    const raw = JSON.parse(
      await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/test/multi:1`),
    );
    expect(raw.manifests.map((m: { digest: string }) => m.digest)).toEqual([amd.digest, arm.digest]);

    const store = freshStore();
    const def = await pullImage(store, `${reg.host}/test/multi:1`);
    expect(def.target.mediaType).toBe(MediaType.ociIndex);
    expect(def.manifest.digest).toBe(amd.digest);
    expect(def.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(await store.content.has(arm.digest)).toBe(false); // only the chosen platform is fetched
    const armStore = freshStore();
    const a = await pullImage(armStore, `${reg.host}/test/multi:1`, {
      platform: parsePlatform('linux/arm64'),
    });
    expect(a.manifest.digest).toBe(arm.digest);
    expect(
      (await armStore.resolve(`${reg.host}/test/multi:1`, parsePlatform('linux/arm64'))).config?.architecture,
    ).toBe('arm64');
    await expect(
      pullImage(freshStore(), `${reg.host}/test/multi:1`, { platform: parsePlatform('linux/s390x') }),
    ).rejects.toMatchObject({
      code: 'NoMatchingPlatform',
    });
    // A store holding one platform of an index pushes and exports that platform.
    const pushed = await pushImage(store, `${reg.host}/test/multi:1`, `${reg.host}/test/multi-amd:1`);
    expect(pushed.digest).toBe(amd.digest);
  });

  it('resumes an interrupted download with a Range request', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${images}/busybox:latest`,
      `docker://${reg.host}/test/resume:v1`,
    );
    const store = freshStore();
    const layerDesc = (await (async () => {
      const tmpStore = freshStore();
      await importImage(tmpStore, join(images, 'busybox'), { name: 'bb' });
      return (await tmpStore.resolve('bb')).manifest.layers[0];
    })())!;
    const whole = readFileSync(join(images, 'busybox/blobs/sha256', layerDesc.digest.slice(7)));
    const half = Math.floor(whole.length / 2);
    await store.content
      .ingestResumable({ digest: layerDesc.digest, size: layerDesc.size }, async (w) => {
        await w.write(whole.subarray(0, half));
        throw new Error('connection reset');
      })
      .catch(() => {});
    const requests: Array<{ url: string; range?: string; status: number }> = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const headers = (init?.headers ?? {}) as Record<string, string>;
      requests.push({ url: String(input), range: headers.range, status: res.status });
      return res;
    };
    const events: TransferProgress[] = [];
    await pullImage(store, `${reg.host}/test/resume:v1`, {
      client: new RegistryClient({ fetch: recording }),
      onProgress: (p) => events.push(p),
    });
    const blobReq = requests.filter((r) => r.url.endsWith(`/blobs/${layerDesc.digest}`));
    expect(blobReq).toEqual([expect.objectContaining({ range: `bytes=${half}-`, status: 206 })]);
    expect(events.find((e) => e.digest === layerDesc.digest && e.resumedFrom)?.resumedFrom).toBe(half);
    expect((await store.content.read(layerDesc.digest, layerDesc.size)).equals(whole)).toBe(true);

    // A partial with a wrong prefix does not verify: it is dropped and the blob fetched whole.
    const store2 = freshStore();
    await store2.content
      .ingestResumable({ digest: layerDesc.digest, size: layerDesc.size }, async (w) => {
        await w.write(Buffer.alloc(half, 0x55));
        throw new Error('connection reset');
      })
      .catch(() => {});
    requests.length = 0;
    await pullImage(store2, `${reg.host}/test/resume:v1`, {
      client: new RegistryClient({ fetch: recording }),
    });
    expect(requests.filter((r) => r.url.endsWith(`/blobs/${layerDesc.digest}`)).map((r) => r.range)).toEqual([
      `bytes=${half}-`,
      undefined,
    ]);
    await store2.content.verify(layerDesc.digest, layerDesc.size);
  });

  it('rejects a blob the registry serves corrupted, stores nothing and tags nothing', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${images}/true:latest`,
      `docker://${reg.host}/test/corrupt:v1`,
    );
    const digest = (await (async () => {
      const s = freshStore();
      await importImage(s, join(images, 'true'), { name: 't' });
      return (await s.resolve('t')).manifest.layers[0].digest;
    })())!;
    // distribution's filesystem layout: blobs/sha256/<2 hex>/<hex>/data
    const onDisk = join(
      reg.dir,
      'data/docker/registry/v2/blobs/sha256',
      digest.slice(7, 9),
      digest.slice(7),
      'data',
    );
    const good = readFileSync(onDisk);
    const bad = Buffer.from(good);
    bad[100] ^= 0xff;
    chmodSync(onDisk, 0o644);
    writeFileSync(onDisk, bad);
    try {
      const store = freshStore();
      const err = await pullImage(store, `${reg.host}/test/corrupt:v1`).catch((e) => e);
      expect(err).toMatchObject({ code: 'DigestMismatch' });
      expect(err.message).toContain(digest);
      expect(await store.content.has(digest)).toBe(false);
      expect(await store.list()).toEqual([]);
    } finally {
      writeFileSync(onDisk, good);
    }
  });

  it('pulls a wasm module artifact through the same store and resolves it to a verified file', async () => {
    const src = freshStore();
    await src.tag('mod:1', await wasmArtifact(src));
    await pushImage(src, 'mod:1', `${reg.host}/wasm/mod:1`);
    const store = freshStore();
    await expect(
      resolveWasmModule(store, `${reg.host}/wasm/mod:1`, { pullPolicy: 'Never' }),
    ).rejects.toMatchObject({ code: 'NotFound' });
    const path = await resolveWasmModule(store, `${reg.host}/wasm/mod:1`);
    expect(path).toBe(store.content.path(sha256(EMPTY_WASM)));
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm.validate(readFileSync(path))).toBe(true);
    expect(await resolveWasmModule(store, `${reg.host}/wasm/mod:1`, { pullPolicy: 'Never' })).toBe(path);
    // application/wasm layers work too, and a container image is not a module.
    await src.tag('mod:plain', await wasmArtifact(src, EMPTY_WASM, MediaType.wasm));
    await pushImage(src, 'mod:plain', `${reg.host}/wasm/mod:plain`);
    expect(await resolveWasmModule(store, `${reg.host}/wasm/mod:plain`)).toBe(path);
    await expect(store.prepare(`${reg.host}/wasm/mod:1`, 'not-a-container')).rejects.toMatchObject({
      code: 'Unsupported',
    });
    await importImage(store, join(images, 'true'), { name: 'true' });
    await expect(resolveWasmModule(store, 'true')).rejects.toThrow(/has no wasm layer/);
    // A module tampered with on disk is refused.
    chmodSync(path, 0o644);
    writeFileSync(path, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x01]));
    await expect(resolveWasmModule(store, `${reg.host}/wasm/mod:1`)).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
  });

  it('reports unknown images, unreachable registries and plain-http rules clearly', async () => {
    await expect(pullImage(freshStore(), `${reg.host}/test/nothing:here`)).rejects.toMatchObject({
      code: 'NotFound',
    });
    const closed = await freePort();
    await expect(pullImage(freshStore(), `127.0.0.1:${closed}/x:y`)).rejects.toThrow(
      new RegExp(`cannot reach registry 127.0.0.1:${closed}: ECONNREFUSED`),
    );
    const c = new RegistryClient();
    expect(c.baseUrl(parseReference('registry.example.com/a/b'))).toBe('https://registry.example.com/v2/a/b');
    expect(c.baseUrl(parseReference('localhost:5000/a'))).toBe('http://localhost:5000/v2/a');
    expect(c.baseUrl(parseReference('busybox'))).toBe('https://registry-1.docker.io/v2/library/busybox');
    expect(
      new RegistryClient({ insecure: ['registry.lan:5000'] }).baseUrl(parseReference('registry.lan:5000/a')),
    ).toBe('http://registry.lan:5000/v2/a');
  });

  describe.skipIf(noHtpasswd)('basic auth (htpasswd)', () => {
    it('pushes and pulls with credentials, and says what is wrong without them', async () => {
      const user = { username: 'strata', password: 's3cret' };
      const auth = await startLocalRegistry({ htpasswd: user });
      try {
        const src = freshStore();
        await importImage(src, join(images, 'true'), { name: 'true' });
        const dest = `${auth.host}/private/true:1`;
        await expect(pushImage(src, 'true', dest)).rejects.toThrow(/requires a username and password/);
        const wrong = new RegistryClient({ credentials: { [auth.host]: { ...user, password: 'nope' } } });
        await expect(pushImage(src, 'true', dest, { client: wrong })).rejects.toMatchObject({
          code: 'Unauthorized',
        });
        const client = new RegistryClient({ credentials: { [auth.host]: user } });
        const r = await pushImage(src, 'true', dest, { client });
        expect(r.digest).toBe(layoutDigest(join(images, 'true')));
        const info = JSON.parse(
          await skopeo('inspect', '--tls-verify=false', '--creds', 'strata:s3cret', `docker://${dest}`),
        );
        expect(info.Digest).toBe(r.digest);
        const pulled = await pullImage(freshStore(), dest, { client });
        expect(pulled.target.digest).toBe(r.digest);
      } finally {
        await auth.stop();
      }
    });
  });

  describe.skipIf(noOpenssl)('bearer token auth', () => {
    it('gets a scoped token from the realm with the credentials, then pushes and pulls', async () => {
      const user = { username: 'robot', password: 'token-pass' };
      const tokens = await startTokenServer(user);
      const auth = await startLocalRegistry({ token: tokens });
      try {
        const src = freshStore();
        await importImage(src, join(images, 'busybox'), { name: 'bb' });
        const dest = `${auth.host}/team/bb:1`;
        await expect(pushImage(src, 'bb', dest)).rejects.toThrow(/refused anonymous access/);
        const client = new RegistryClient({ credentials: { [auth.host]: user } });
        const r = await pushImage(src, 'bb', dest, { client });
        const pulled = await pullImage(freshStore(), dest, {
          client: new RegistryClient({ credentials: { [auth.host]: user } }),
        });
        expect(pulled.target.digest).toBe(r.digest);
        const asked = tokens.requests.filter((q) => q.user === 'robot');
        expect(asked.some((q) => q.scopes.includes('repository:team/bb:pull,push'))).toBe(true);
        expect(asked.some((q) => q.scopes.includes('repository:team/bb:pull'))).toBe(true);
        // Concurrent 401s share one token request per scope.
        expect(asked.filter((q) => q.scopes[0] === 'repository:team/bb:pull,push')).toHaveLength(1);
        const info = JSON.parse(
          await skopeo('inspect', '--tls-verify=false', '--creds', 'robot:token-pass', `docker://${dest}`),
        );
        expect(info.Digest).toBe(r.digest);
      } finally {
        await auth.stop();
        await tokens.stop();
      }
    });
  });
});
