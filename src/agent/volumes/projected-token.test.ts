// The node's half of projected service-account tokens, against a real API server (HTTP on loopback) with
// the TokenRequest routes and the token verifier, through the agent's own Client.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { loadOrCreateSigningKey } from '../../auth/serviceaccount/signing-key.ts';
import { ServiceAccountTokens } from '../../auth/serviceaccount/tokens.ts';
import { Client } from '../../client/client.ts';
import { buildServer } from '../../server/app.ts';
import { Authenticator } from '../../server/auth.ts';
import { serviceAccountTokenRoutes } from '../../server/routes/serviceaccount-token.ts';
import { ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import type { Store } from '../../store/store.ts';
import {
  projectServiceAccountToken,
  resumeServiceAccountTokens,
  stopTokenRotations,
  tokenRotationCount,
} from './projected-token.ts';

const POD = kindFor('v1', 'Pod')!;
const NODE_TOKEN = 'node-agent-token-for-this-test-0123';
let dir: string;
let store: Store;
let objects: ObjectStore;
let tokens: ServiceAccountTokens;
let app: FastifyInstance;
let client: Client;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-projected-token-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await objects.create(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
    'default',
  );
  const auth = new Authenticator();
  auth.add(NODE_TOKEN, 'system:node:n1', ['system:nodes']);
  tokens = new ServiceAccountTokens({ key: await loadOrCreateSigningKey(dir), objects });
  auth.addVerifier(tokens);
  app = buildServer({ objects, auth, extensions: [serviceAccountTokenRoutes(objects, tokens)] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  client = new Client({ server: `http://127.0.0.1:${port}`, token: NODE_TOKEN });
});

afterEach(async () => {
  stopTokenRotations(dir);
  client.close();
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > 15_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function makePod() {
  return objects.create(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'c', image: 'x.wasm' }] },
    },
    'default',
  );
}

describe('projected service-account token', () => {
  it('writes a pod-bound token the API accepts, with the volume mode', async () => {
    const pod = await makePod();
    const vol = join(dir, 'vol');
    mkdirSync(vol);
    await projectServiceAccountToken(client, pod, vol, { path: 'token', expirationSeconds: 3607 }, 0o644);
    const token = readFileSync(join(vol, 'token'), 'utf8');
    expect(statSync(join(vol, 'token')).mode & 0o777).toBe(0o644);
    const review = await tokens.review(token);
    expect(review).toMatchObject({
      ok: true,
      user: { username: 'system:serviceaccount:default:default' },
      claim: { pod: { name: 'web', uid: pod.metadata.uid } },
    });
    // No temporary files left beside it.
    expect(readdirSync(vol)).toEqual(['token']);
  });

  it('rewrites the token before it expires, and stops once the pod is gone', async () => {
    const pod = await makePod();
    const vol = join(dir, 'vol');
    mkdirSync(vol);
    // Refresh at once (instead of at 80 % of an hour) to see the rotation happen.
    const refreshes: string[] = [];
    await projectServiceAccountToken(client, pod, vol, { path: 'token', audience: 'vault' }, 0o600, {
      refreshAt: () => Date.now() + 50,
      log: { warn: (_o, m) => refreshes.push(m) },
    });
    const first = readFileSync(join(vol, 'token'), 'utf8');
    const second = await until(() => {
      const t = readFileSync(join(vol, 'token'), 'utf8');
      return t !== first ? t : undefined;
    }, 'a rewritten token');
    expect(statSync(join(vol, 'token')).mode & 0o777).toBe(0o600);
    // Both are for the audience asked; the API itself does not accept them.
    expect(await tokens.review(second)).toMatchObject({ ok: false, reason: expect.stringMatching(/aud/) });
    expect(tokenRotationCount()).toBe(1);
    await objects.delete(POD, 'default', 'web', { gracePeriodSeconds: 0 });
    await until(() => tokenRotationCount() === 0, 'the rotation to stop');
    expect(refreshes).toContain('service account token: rotation stopped');
    expect(existsSync(join(vol, 'token'))).toBe(true);
  });

  it('resumes rotation after an agent restart, into the directory the sandbox still mounts', async () => {
    const pod = await makePod();
    pod.spec.volumes = [
      {
        name: 'kube-api-access-abcde',
        projected: {
          defaultMode: 0o644,
          sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }],
        },
      },
      { name: 'scratch', emptyDir: {} },
    ];
    const vol = join(dir, 'pod', 'volumes', 'kube-api-access-abcde');
    mkdirSync(vol, { recursive: true });
    await projectServiceAccountToken(client, pod, vol, { path: 'token', expirationSeconds: 3607 }, 0o644);
    const before = readFileSync(join(vol, 'token'), 'utf8');
    const inode = statSync(vol).ino;
    // The agent restarts: its timers are gone.
    stopTokenRotations(dir);
    expect(tokenRotationCount()).toBe(0);
    await resumeServiceAccountTokens(client, pod, join(dir, 'pod'));
    expect(tokenRotationCount()).toBe(1);
    const after = readFileSync(join(vol, 'token'), 'utf8');
    expect(after).not.toBe(before);
    expect(statSync(vol).ino).toBe(inode);
    expect((await tokens.review(after)).ok).toBe(true);
  });

  it('fails the start with a clear reason when no token can be had', async () => {
    const pod = await makePod();
    pod.spec.serviceAccountName = 'ghost';
    await expect(
      projectServiceAccountToken(client, pod, dir, { path: 'token' }, 0o644),
    ).rejects.toMatchObject({
      reason: 'CreateContainerConfigError',
      message: expect.stringContaining('serviceaccounts "ghost" not found'),
    });
  });
});
