// Registry behaviours the real docker-registry does not show on demand — dropped connections, servers
// that ignore Range, oversized or mislabelled manifests — served by a small real HTTP server.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from './content-store.ts';
import { sha256 } from './digest.ts';
import { MediaType } from './oci.ts';
import { parseReference } from './reference.ts';
import { RegistryClient, type TransferProgress } from './registry-client.ts';
import { tempDir } from './testing/fixtures.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('RegistryClient against misbehaving servers', () => {
  let server: Server;
  let host: string;
  let handler: Handler;
  let tmp: ReturnType<typeof tempDir>;
  let content: ContentStore;
  const blob = randomBytes(3 << 20);
  const desc = { mediaType: MediaType.ociLayerGzip, digest: sha256(blob), size: blob.length };

  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    tmp = tempDir();
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    tmp.cleanup();
  });
  beforeEach(() => {
    content = new ContentStore(`${tmp.path}/${Math.random().toString(36).slice(2)}`);
  });

  /** Serves `blob` honouring Range; the first `drops` responses stop after `cut` bytes. */
  const serveBlob = (opts: { drops?: number; cut?: number; range?: boolean }, log: string[]): Handler => {
    let drops = opts.drops ?? 0;
    return (req, res) => {
      log.push(req.headers.range ?? 'full');
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m && opts.range !== false ? Number(m[1]) : 0;
      const body = blob.subarray(start);
      res.writeHead(start > 0 ? 206 : 200, {
        'content-length': body.length,
        ...(start > 0 ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
      });
      if (drops-- > 0) {
        res.write(body.subarray(0, opts.cut ?? 1 << 20), () => res.destroy());
        return;
      }
      res.end(body);
    };
  };

  it('resumes after a dropped connection with a Range request', async () => {
    const log: string[] = [];
    handler = serveBlob({ drops: 2, cut: 1 << 20 }, log);
    const events: TransferProgress[] = [];
    const client = new RegistryClient();
    expect(
      await client.downloadBlob(parseReference(`${host}/a/b`), desc, content, (p) => events.push(p)),
    ).toBe('written');
    expect(log).toEqual(['full', `bytes=${1 << 20}-`, `bytes=${2 << 20}-`]);
    expect((await content.read(desc.digest, desc.size)).equals(blob)).toBe(true);
    expect(events.at(-1)).toMatchObject({ status: 'done', done: desc.size, total: desc.size });
  });

  it('starts over when the server ignores Range', async () => {
    const log: string[] = [];
    handler = serveBlob({ drops: 1, cut: 1 << 20, range: false }, log);
    await new RegistryClient().downloadBlob(parseReference(`${host}/a/b`), desc, content);
    expect(log).toEqual(['full', `bytes=${1 << 20}-`]);
    await content.verify(desc.digest, desc.size);
  });

  it('gives up after its retries with the cause', async () => {
    const log: string[] = [];
    handler = serveBlob({ drops: 99, cut: 1000 }, log);
    const err = await new RegistryClient({ retries: 1 })
      .downloadBlob(parseReference(`${host}/a/b`), desc, content)
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'Registry' });
    expect(log).toHaveLength(2);
    expect(await content.has(desc.digest)).toBe(false);
    expect(await content.partialSize(desc.digest)).toBe(2000); // kept for the next attempt
  });

  it('refuses a blob that is not what its digest says', async () => {
    handler = (_req, res) => res.end(Buffer.alloc(desc.size, 1));
    await expect(
      new RegistryClient().downloadBlob(parseReference(`${host}/a/b`), desc, content),
    ).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
    expect(await content.has(desc.digest)).toBe(false);
  });

  it('refuses oversized manifests without buffering them, and mislabelled ones', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociManifest }); // chunked: no content-length
      const piece = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 64 && res.write(piece)) sent++;
        if (sent < 64) res.once('drain', pump);
        else res.end();
      };
      pump();
    };
    const client = new RegistryClient();
    await expect(client.getManifest(parseReference(`${host}/a/b:1`), '1')).rejects.toMatchObject({
      code: 'TooLarge',
    });
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
    );
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociIndex, 'docker-content-digest': sha256('other') });
      res.end(manifest);
    };
    await expect(client.getManifest(parseReference(`${host}/a/b:1`), '1')).rejects.toThrow(
      /but the registry says sha256:/,
    );
    await expect(client.getManifest(parseReference(`${host}/a/b:1`), sha256('other'))).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.dockerSchema1Signed });
      res.end(JSON.stringify({ schemaVersion: 1, name: 'a/b' }));
    };
    await expect(client.getManifest(parseReference(`${host}/a/b:1`), '1')).rejects.toThrow(/Docker schema 1/);
  });

  it('speaks to the token realm only when challenged, and reports a 401 it cannot satisfy', async () => {
    handler = (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' });
      res.end();
    };
    await expect(new RegistryClient().getManifest(parseReference(`${host}/a/b:1`), '1')).rejects.toThrow(
      `registry ${host} requires a username and password (--creds)`,
    );
  });
});
