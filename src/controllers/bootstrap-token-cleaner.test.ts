import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { BootstrapTokenCleaner } from './bootstrap-token-cleaner.ts';
import { type TestObjects, openTestObjects, until } from './testutil.ts';

const SECRET = kindFor('v1', 'Secret')!;
let t: TestObjects;
let objects: ObjectStore;
let cleaner: BootstrapTokenCleaner;

function tokenSecret(id: string, expiration?: string, type = 'bootstrap.kubernetes.io/token') {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
    type,
    stringData: {
      'token-id': id,
      'token-secret': '0123456789abcdef',
      ...(expiration ? { expiration } : {}),
    },
  };
}

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  await objects
    .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } })
    .catch(() => {});
  cleaner = new BootstrapTokenCleaner({ objects });
  await cleaner.start();
});

afterEach(async () => {
  await cleaner.stop();
  await t.close();
});

describe('bootstrap token cleaner', () => {
  it('deletes expired tokens, keeps live and never-expiring ones and other Secrets', async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await objects.create(tokenSecret('aaaaaa', past));
    await objects.create(tokenSecret('bbbbbb', future));
    await objects.create(tokenSecret('cccccc'));
    await objects.create(tokenSecret('dddddd', past, 'Opaque'));
    await until(
      async () => ((await objects.get(SECRET, 'kube-system', 'bootstrap-token-aaaaaa')) ? undefined : true),
      'the expired token deleted',
    );
    await cleaner.whenIdle();
    expect(await objects.get(SECRET, 'kube-system', 'bootstrap-token-bbbbbb')).toBeDefined();
    expect(await objects.get(SECRET, 'kube-system', 'bootstrap-token-cccccc')).toBeDefined();
    expect(await objects.get(SECRET, 'kube-system', 'bootstrap-token-dddddd')).toBeDefined();
  });

  it('deletes a token when its expiration arrives', async () => {
    await objects.create(tokenSecret('eeeeee', new Date(Date.now() + 1500).toISOString()));
    await until(
      async () => ((await objects.get(SECRET, 'kube-system', 'bootstrap-token-eeeeee')) ? undefined : true),
      'the token deleted at its expiry',
    );
  });
});
