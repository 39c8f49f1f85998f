import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { defaultIngressClassAdmission, ensureStrataIngressClass } from './ingress-admission.ts';

let dir: string;
let store: Store;
let objects: ObjectStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ingress-admission-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  objects.addCreateHook(defaultIngressClassAdmission(objects));
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ingress = (name: string, extra: object = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'default' },
  spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } }, ...extra },
});

describe('DefaultIngressClass admission', () => {
  it('gives an Ingress without a class the default class; a named class or the legacy annotation stays', async () => {
    const before = await objects.create(ingress('early'));
    expect(before.spec.ingressClassName).toBeUndefined(); // no default class yet
    await ensureStrataIngressClass(objects);
    await ensureStrataIngressClass(objects); // idempotent
    expect((await objects.create(ingress('plain'))).spec.ingressClassName).toBe('strata');
    expect(
      (await objects.create(ingress('named', { ingressClassName: 'other' }))).spec.ingressClassName,
    ).toBe('other');
    const legacy = await objects.create({
      ...ingress('legacy'),
      metadata: {
        name: 'legacy',
        namespace: 'default',
        annotations: { 'kubernetes.io/ingress.class': 'nginx' },
      },
    });
    expect(legacy.spec.ingressClassName).toBeUndefined();
  });
});
