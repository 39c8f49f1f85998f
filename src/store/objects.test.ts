// ObjectStore semantics that depend on how objects were stored, not on the request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { ObjectStore, objectKey } from './objects.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

const POD = kindFor('v1', 'Pod')!;
let dir: string;
let store: Store;
let objects: ObjectStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'objects-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pod spec immutability', () => {
  it('a pod stored by an earlier version (without a default added since) still takes metadata updates', async () => {
    const created = await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'old', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: '/opt/app.wasm' }] },
    });
    // As an earlier version wrote it: a defaulted field absent from the stored spec.
    const key = objectKey(POD, 'default', 'old');
    const raw = structuredClone(created);
    delete raw.spec.terminationGracePeriodSeconds;
    await store.update(key, raw);
    const stored = await objects.get(POD, 'default', 'old');
    expect(stored.spec.terminationGracePeriodSeconds).toBeUndefined();

    const labeled = await objects.update({
      ...stored,
      metadata: { ...stored.metadata, labels: { tier: 'x' } },
    });
    expect(labeled.metadata.labels).toEqual({ tier: 'x' });
  });

  it('a real change of the spec is still refused', async () => {
    const p = await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'fixed', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: '/opt/app.wasm' }] },
    });
    p.spec.containers[0].image = '/opt/other.wasm';
    await expect(objects.update(p)).rejects.toMatchObject({ code: 422 });
  });
});
