// The API over real HTTPS: who is let in (client certificates of the cluster CA, tokens) and who is not
// (another CA's certificate, an expired one, nothing at all), and how a joining agent pins the CA.
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openSqliteStore } from '../store/sqlite.ts';
import { ObjectStore } from '../store/objects.ts';
import type { Store } from '../store/store.ts';
import { ensureDefaultNamespaces } from '../controllers/manager.ts';
import { loadOrCreateClusterPKI, type ClusterPKI } from '../auth/cluster-pki.ts';
import { createCA, issue, type KeyPair } from '../auth/pki.ts';
import { Client, ClientError } from '../client/client.ts';
import { fetchPinnedCA } from '../client/ca-bootstrap.ts';
import { buildServer } from './app.ts';
import { Authenticator } from './auth.ts';

let dir: string;
let store: Store;
let app: FastifyInstance;
let pki: ClusterPKI;
let url: string;
const token = 'a-token-that-is-long-enough-1234';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-tls-'));
  store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  pki = await loadOrCreateClusterPKI(dir);
  const auth = new Authenticator();
  auth.add(token, 'robot', ['bots']);
  app = buildServer({
    objects,
    auth,
    tls: { cert: pki.serving.cert, key: pki.serving.key, clientCA: pki.ca.cert },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const whoami = (c: Client) =>
  c.json('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });

async function status(c: Client, path = '/api/v1/namespaces'): Promise<{ code: number; message?: string }> {
  try {
    await c.json('GET', path);
    return { code: 200 };
  } catch (err) {
    if (err instanceof ClientError) return { code: err.code, message: err.message };
    throw err;
  }
}

describe('HTTPS authentication', () => {
  it('takes the user and groups from a client certificate of the cluster CA', async () => {
    const c = new Client({ server: url, tls: { ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key } });
    const r = await whoami(c);
    expect(r).toMatchObject({
      kind: 'SelfSubjectReview',
      status: { userInfo: { username: 'admin', groups: ['system:masters', 'system:authenticated'] } },
    });
    expect((await status(c)).code).toBe(200);
    c.close();
  });

  it('accepts a bearer token over TLS', async () => {
    const c = new Client({ server: url, token, tls: { ca: pki.ca.cert } });
    const r = await whoami(c);
    expect(r.status.userInfo).toEqual({ username: 'robot', groups: ['bots', 'system:authenticated'] });
    c.close();
  });

  it('answers 401 to a certificate from another CA, even beside a valid token', async () => {
    const other = await createCA('not-the-cluster-ca');
    const foreign = await issue(other, {
      commonName: 'admin',
      organizations: ['system:masters'],
      usage: 'client',
      days: 30,
    });
    const c = new Client({ server: url, token, tls: { ca: pki.ca.cert, ...foreign } });
    const s = await status(c);
    expect(s.code).toBe(401);
    expect(s.message).toMatch(/client certificate is not valid for this cluster/);
    c.close();
  });

  it('answers 401 to an expired certificate of the cluster CA', async () => {
    const expired: KeyPair = await issue(pki.ca, {
      commonName: 'admin',
      usage: 'client',
      days: 1,
      notBefore: new Date(Date.now() - 5 * 86_400_000),
    });
    const c = new Client({ server: url, tls: { ca: pki.ca.cert, ...expired } });
    const s = await status(c);
    expect(s.code).toBe(401);
    expect(s.message).toMatch(/CERT_HAS_EXPIRED/);
    c.close();
  });

  it('answers 401 without any credential, and 401 to a wrong token', async () => {
    expect((await status(new Client({ server: url, tls: { ca: pki.ca.cert } }))).code).toBe(401);
    expect(
      (await status(new Client({ server: url, token: 'wrong-token-wrong-token', tls: { ca: pki.ca.cert } })))
        .code,
    ).toBe(401);
  });

  it('is refused by a client that does not trust the CA', async () => {
    const other = await createCA('other');
    const c = new Client({ server: url, token, tls: { ca: other.cert } });
    await expect(c.json('GET', '/version')).rejects.toThrow(
      /cannot reach the Strata server .*(UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify)/i,
    );
  });
});

describe('plain HTTP (--insecure-http)', () => {
  it('takes tokens from loopback only', () => {
    const auth = new Authenticator();
    auth.add(token, 'robot');
    const fromAddr = (remoteAddress: string) =>
      ({
        socket: { encrypted: false, remoteAddress },
        headers: { authorization: `Bearer ${token}` },
      }) as unknown as IncomingMessage;
    expect(auth.authenticateRequest(fromAddr('127.0.0.1'))).toMatchObject({ ok: true });
    expect(auth.authenticateRequest(fromAddr('::1'))).toMatchObject({ ok: true });
    expect(auth.authenticateRequest(fromAddr('192.0.2.7'))).toEqual({
      ok: false,
      message: 'bearer tokens are accepted over plain HTTP only from loopback; use HTTPS',
    });
  });
});

describe('joining with a CA hash', () => {
  it('keeps the CA the server presents when its hash matches', async () => {
    expect(await fetchPinnedCA(url, pki.caHash)).toBe(pki.ca.cert.trim() + '\n');
  });

  it('refuses a server whose CA does not match the pin, naming both hashes', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(fetchPinnedCA(url, wrong)).rejects.toThrow(
      new RegExp(`presented no CA with hash ${wrong} \\(it presented .*${pki.caHash}`),
    );
  });
});
