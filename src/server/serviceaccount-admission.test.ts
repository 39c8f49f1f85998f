import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { ObjectStore } from '../store/objects.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { SERVICE_ACCOUNT_MOUNT_PATH, serviceAccountAdmission } from './serviceaccount-admission.ts';

const POD = kindFor('v1', 'Pod')!;
let dir: string;
let store: Store;
let objects: ObjectStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-sa-admission-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  objects.addCreateHook(serviceAccountAdmission(objects));
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await objects.create(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
    'default',
  );
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'main', image: 'localhost/httpd:1.0' }], ...spec },
});

describe('ServiceAccount admission', () => {
  it('runs a pod as default and mounts the kube-api-access volume in every container, init ones too', async () => {
    const created = await objects.create(
      pod('web', {
        initContainers: [{ name: 'init', image: 'localhost/httpd:1.0' }],
        containers: [
          { name: 'main', image: 'localhost/httpd:1.0' },
          {
            name: 'own',
            image: 'localhost/httpd:1.0',
            volumeMounts: [{ name: 'mine', mountPath: `${SERVICE_ACCOUNT_MOUNT_PATH}/` }],
          },
        ],
        volumes: [{ name: 'mine', emptyDir: {} }],
      }),
    );
    expect(created.spec.serviceAccountName).toBe('default');
    const vol = created.spec.volumes.find((v: any) => v.name.startsWith('kube-api-access-'));
    expect(vol.name).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(vol.projected).toEqual({
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    });
    const mount = { name: vol.name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
    expect(created.spec.initContainers[0].volumeMounts).toEqual([mount]);
    expect(created.spec.containers[0].volumeMounts).toEqual([mount]);
    // A container that mounts its own volume there keeps it.
    expect(created.spec.containers[1].volumeMounts).toHaveLength(1);
    expect(created.spec.containers[1].volumeMounts[0].name).toBe('mine');
    // The stored pod passes validation again (an update of it is accepted).
    const again = structuredClone(created);
    again.metadata.labels = { touched: 'yes' };
    await objects.update(again, 'default');
    // Re-created from its own spec (get -o yaml | create): the volume is reused, not doubled.
    const copy = pod('copy', { containers: created.spec.containers, volumes: created.spec.volumes });
    const second = await objects.create(copy);
    expect(second.spec.volumes.filter((v: any) => v.name.startsWith('kube-api-access-'))).toHaveLength(1);
    expect(second.spec.containers[0].volumeMounts).toHaveLength(1);
  });

  it('mounts nothing when automountServiceAccountToken is false on the pod or on its account', async () => {
    const off = await objects.create(pod('off', { automountServiceAccountToken: false }));
    expect(off.spec.volumes ?? []).toEqual([]);
    expect(off.spec.containers[0].volumeMounts ?? []).toEqual([]);
    await objects.create(
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'quiet' },
        automountServiceAccountToken: false,
      },
      'default',
    );
    const quiet = await objects.create(pod('quiet', { serviceAccountName: 'quiet' }));
    expect(quiet.spec.volumes ?? []).toEqual([]);
    // The pod's own setting wins over the account's.
    const loud = await objects.create(
      pod('loud', { serviceAccountName: 'quiet', automountServiceAccountToken: true }),
    );
    expect(loud.spec.volumes).toHaveLength(1);
  });

  it('refuses a pod naming a ServiceAccount that does not exist, and creates nothing', async () => {
    await expect(objects.create(pod('ghostly', { serviceAccountName: 'ghost' }))).rejects.toMatchObject({
      code: 403,
      status: {
        reason: 'Forbidden',
        message:
          'pods "ghostly" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
      },
    });
    expect(await objects.get(POD, 'default', 'ghostly')).toBeUndefined();
  });

  it('refuses a projected token shorter than 10 minutes, naming the field', async () => {
    const bad = pod('short', {
      automountServiceAccountToken: false,
      volumes: [
        {
          name: 't',
          projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 60 } }] },
        },
      ],
    });
    await expect(objects.create(bad)).rejects.toMatchObject({
      code: 422,
      status: {
        details: {
          causes: [
            expect.objectContaining({
              field: 'spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds',
            }),
          ],
        },
      },
    });
    const ok = await objects.create(
      pod('custom', {
        automountServiceAccountToken: false,
        volumes: [
          {
            name: 't',
            projected: { sources: [{ serviceAccountToken: { path: 'vault-token', audience: 'vault' } }] },
          },
        ],
      }),
    );
    expect(ok.spec.volumes[0].projected.sources[0].serviceAccountToken).toEqual({
      path: 'vault-token',
      audience: 'vault',
      expirationSeconds: 3600,
    });
  });
});
