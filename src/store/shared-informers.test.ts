// A component's scoped view waits only for the kinds it uses: a Secret list that keeps failing (its value was
// encrypted under a key the server no longer has) must not hold up a controller that never reads Secrets.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { openSqliteStore, type SqliteStore } from './sqlite.ts';
import { parseEncryptionConfig } from './encryption/config.ts';
import { EncryptedStore } from './encryption/encrypted-store.ts';
import { ObjectStore } from './objects.ts';
import { SharedInformers } from './shared-informers.ts';

const SECRET = kindFor('v1', 'Secret')!;
const CONFIGMAP = kindFor('v1', 'ConfigMap')!;

function aesgcmOnly(key: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: k
              secret: ${key}
`;
}

let dir: string;
let sqlite: SqliteStore;
let informers: SharedInformers | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-informers-'));
  sqlite = openSqliteStore(join(dir, 'state.db'));
});
afterEach(async () => {
  informers?.stop();
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a scoped view syncs on its own kinds while another kind keeps failing to list', async () => {
  const oldKey = parseEncryptionConfig(aesgcmOnly(randomBytes(32).toString('base64')), 'old.yaml');
  const written = new ObjectStore(new EncryptedStore(sqlite, oldKey));
  await written.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await written.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'sealed', namespace: 'default' },
    data: { v: Buffer.from('x').toString('base64') },
  });
  await written.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'plain', namespace: 'default' },
    data: { k: 'v' },
  });

  // A server started with a new key only: the Secret cannot be decrypted, so every Secret list fails.
  const newKey = parseEncryptionConfig(aesgcmOnly(randomBytes(32).toString('base64')), 'new.yaml');
  const objects = new ObjectStore(new EncryptedStore(sqlite, newKey));
  await expect(objects.list(SECRET)).rejects.toThrow();
  informers = new SharedInformers(objects, { informer: { onError: () => {} } });
  informers.informerFor(SECRET);
  const component = informers.scoped();
  const configMaps = component.informerFor(CONFIGMAP);
  component.start();

  expect(await component.waitForSync()).toBe(true);
  expect(configMaps.list().map((c) => c.metadata.name)).toEqual(['plain']);
  // The whole factory still has not synced; it answers false once stopped instead of hanging.
  let whole: boolean | undefined;
  void informers.waitForSync().then((r) => (whole = r));
  await new Promise((r) => setTimeout(r, 50));
  expect(whole).toBeUndefined();
  // Stopping the component's view leaves the shared informers running.
  component.stop();
  expect(informers.informerFor(CONFIGMAP)).toBe(configMaps);
  informers.stop();
  expect(await informers.waitForSync()).toBe(false);
});
