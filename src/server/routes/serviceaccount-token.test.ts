import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { loadOrCreateSigningKey } from '../../auth/serviceaccount/signing-key.ts';
import { ServiceAccountTokens } from '../../auth/serviceaccount/tokens.ts';
import { ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import type { Store } from '../../store/store.ts';
import { buildServer } from '../app.ts';
import { Authenticator } from '../auth.ts';
import { serviceAccountTokenRoutes } from './serviceaccount-token.ts';

const POD = kindFor('v1', 'Pod')!;
const ADMIN = 'admin-token-for-the-test-0123456789';

let dir: string;
let store: Store;
let objects: ObjectStore;
let app: FastifyInstance;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-tokenrequest-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await objects.create(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
    'default',
  );
  await objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci' } }, 'default');
  const auth = new Authenticator();
  auth.add(ADMIN, 'admin', ['system:masters']);
  const tokens = new ServiceAccountTokens({ key: await loadOrCreateSigningKey(dir), objects });
  auth.addVerifier(tokens);
  app = buildServer({ objects, auth, extensions: [serviceAccountTokenRoutes(objects, tokens)] });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const tokenRequest = (name: string, spec: unknown, auth = `Bearer ${ADMIN}`) =>
  app.inject({
    method: 'POST',
    url: `/api/v1/namespaces/default/serviceaccounts/${name}/token`,
    headers: { authorization: auth, 'content-type': 'application/json' },
    payload: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }),
  });

const whoami = (token: string) =>
  app.inject({
    method: 'POST',
    url: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
  });

async function makePod(name: string, serviceAccountName = 'default') {
  return objects.create(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { serviceAccountName, containers: [{ name: 'c', image: 'x.wasm' }] },
    },
    'default',
  );
}

describe('TokenRequest', () => {
  it('issues a token the API accepts as the service account (kubectl create token default)', async () => {
    const res = await tokenRequest('default', {});
    expect(res.statusCode).toBe(201);
    const tr = res.json();
    expect(tr).toMatchObject({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: 'default', namespace: 'default' },
      spec: {
        audiences: ['https://kubernetes.default.svc.cluster.local'],
        expirationSeconds: 3600,
        boundObjectRef: null,
      },
    });
    const claims = decodeJwt(tr.status.token);
    expect(Date.parse(tr.status.expirationTimestamp)).toBe(claims.exp! * 1000);
    const me = await whoami(tr.status.token);
    expect(me.statusCode).toBe(201);
    expect(me.json().status.userInfo).toMatchObject({
      username: 'system:serviceaccount:default:default',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
    });
  });

  it('binds to a pod: the token names it, and deleting the pod makes it a 401', async () => {
    const pod = await makePod('web');
    const res = await tokenRequest('default', {
      expirationSeconds: 600,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: pod.metadata.uid },
    });
    expect(res.statusCode).toBe(201);
    const token = res.json().status.token;
    const me = await whoami(token);
    expect(me.json().status.userInfo.extra).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['web'],
      'authentication.kubernetes.io/pod-uid': [pod.metadata.uid],
    });
    await objects.delete(POD, 'default', 'web', { gracePeriodSeconds: 0 });
    const after = await whoami(token);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
  });

  it('gives a token for another audience that the API itself refuses', async () => {
    const res = await tokenRequest('default', { audiences: ['vault'] });
    expect(res.json().spec.audiences).toEqual(['vault']);
    expect(decodeJwt(res.json().status.token).aud).toEqual(['vault']);
    expect((await whoami(res.json().status.token)).statusCode).toBe(401);
  });

  it('refuses bad requests with the field named, and issues nothing', async () => {
    const short = await tokenRequest('default', { expirationSeconds: 599 });
    expect(short.statusCode).toBe(422);
    expect(short.json().message).toContain('spec.expirationSeconds');
    expect(short.json().message).toContain('may not specify a duration less than 10 minutes');
    expect(short.json().details.causes[0].field).toBe('spec.expirationSeconds');

    const kind = await tokenRequest('default', { boundObjectRef: { kind: 'Node', name: 'n1' } });
    expect(kind.statusCode).toBe(422);
    expect(kind.json().details.causes[0].field).toBe('spec.boundObjectRef.kind');

    const missing = await tokenRequest('default', { boundObjectRef: { kind: 'Pod', name: 'nope' } });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().details.causes[0].field).toBe('spec.boundObjectRef.name');

    await makePod('ci-runner', 'ci');
    const other = await tokenRequest('default', { boundObjectRef: { kind: 'Pod', name: 'ci-runner' } });
    expect(other.statusCode).toBe(422);
    expect(other.json().message).toContain('runs as service account ci');

    const wrongUid = await tokenRequest('ci', {
      boundObjectRef: { kind: 'Pod', name: 'ci-runner', uid: 'x' },
    });
    expect(wrongUid.statusCode).toBe(422);
    expect(wrongUid.json().details.causes[0].field).toBe('spec.boundObjectRef.uid');

    const noAccount = await tokenRequest('ghost', {});
    expect(noAccount.statusCode).toBe(404);
    expect(noAccount.json().message).toBe('serviceaccounts "ghost" not found');

    const anonymous = await tokenRequest('default', {}, '');
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('service-account issuer discovery', () => {
  it('serves the OIDC configuration and the JWKS without credentials, and the JWKS verifies tokens', async () => {
    const conf = await app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(conf.statusCode).toBe(200);
    expect(conf.json()).toEqual({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      jwks_uri: 'https://kubernetes.default.svc.cluster.local/openid/v1/jwks',
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const jwks = await app.inject({ method: 'GET', url: '/openid/v1/jwks' });
    expect(jwks.statusCode).toBe(200);
    expect(jwks.headers['content-type']).toContain('application/jwk-set+json');
    const set = jwks.json();
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).not.toHaveProperty('d');
    // A relying party elsewhere: verifies offline with nothing but the JWKS.
    const token = (await tokenRequest('ci', { audiences: ['vault'] })).json().status.token;
    const { payload } = await jwtVerify(token, createLocalJWKSet(set), {
      issuer: 'https://kubernetes.default.svc.cluster.local',
      audience: 'vault',
    });
    expect(payload.sub).toBe('system:serviceaccount:default:ci');
  });
});
