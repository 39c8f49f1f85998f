import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../sqlite.ts';
import type { WatchEvent } from '../store.ts';
import { EncryptionConfigError, loadEncryptionConfig, parseEncryptionConfig } from './config.ts';
import { EncryptedStore } from './encrypted-store.ts';
import { reencrypt } from './reencrypt.ts';

const KEY1 = randomBytes(32).toString('base64');
const KEY2 = randomBytes(32).toString('base64');

function aesgcm(...keys: Array<[string, string]>): string {
  return `- aesgcm:\n            keys:\n${keys
    .map(([n, s]) => `              - name: ${n}\n                secret: ${s}\n`)
    .join('')}`;
}

function config(providers: string[], resources = ['secrets']): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [${resources.join(', ')}]
    providers:
${providers.map((p) => `        ${p}`).join('\n')}
`;
}

const IDENTITY = '- identity: {}';

function secret(name: string, value: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    data: { password: Buffer.from(value).toString('base64') },
  };
}

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-enc-'));
  store = openSqliteStore(join(dir, 'state.db'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every byte of the database and its WAL. */
function fileBytes(): Buffer {
  const parts = [readFileSync(join(dir, 'state.db'))];
  if (existsSync(join(dir, 'state.db-wal'))) parts.push(readFileSync(join(dir, 'state.db-wal')));
  return Buffer.concat(parts);
}

function onDisk(value: string): boolean {
  const b = fileBytes();
  return b.includes(value) || b.includes(Buffer.from(value).toString('base64'));
}

describe('EncryptedStore over sqlite', () => {
  it('secrets written before encryption are gone from the files after reencrypt; the API values stay', async () => {
    const plain = ['s3cr3t-alpha-0001', 's3cr3t-bravo-0002', 's3cr3t-delta-0003'];
    for (const [i, v] of plain.entries())
      await store.create(`/registry/core/secrets/default/s${i}`, secret(`s${i}`, v));
    // An old version overwritten and a deleted secret: history holds both.
    await store.update('/registry/core/secrets/default/s0', secret('s0', 'old-then-new-0000'));
    await store.update('/registry/core/secrets/default/s0', secret('s0', plain[0]));
    await store.create('/registry/core/secrets/default/gone', secret('gone', 'deleted-value-9999'));
    await store.delete('/registry/core/secrets/default/gone');
    await store.create('/registry/core/configmaps/default/cm', { data: { k: 'not-a-secret-cm' } });
    expect(onDisk(plain[1])).toBe(true); // the check below can fail

    const cfg = parseEncryptionConfig(config([aesgcm(['key1', KEY1]), IDENTITY]), 'enc.yaml');
    const enc = new EncryptedStore(store, cfg);
    // Readable before reencrypt through identity.
    expect((await enc.get<any>('/registry/core/secrets/default/s1'))!.value.data.password).toBe(
      Buffer.from(plain[1]).toString('base64'),
    );
    const r = await reencrypt(store, cfg, () => store.vacuum());
    expect(r.rewritten).toEqual({ secrets: 3 });
    for (const v of [...plain, 'old-then-new-0000', 'deleted-value-9999']) expect(onDisk(v)).toBe(false);
    expect(onDisk('not-a-secret-cm')).toBe(true); // not a configured resource: untouched
    expect(readFileSync(join(dir, 'state.db-wal')).length).toBe(0);

    const raw = await store.get<string>('/registry/core/secrets/default/s2');
    expect(raw!.value.startsWith('k8s:enc:aesgcm:v1:key1:')).toBe(true);
    const list = await enc.list<any>('/registry/core/secrets/');
    expect(list.items.map((kv) => Buffer.from(kv.value.data.password, 'base64').toString())).toEqual(plain);
  });

  it('writes with the first provider, reads with any; watch, list and delete see plain objects', async () => {
    const enc = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key1', KEY1])]), 'x'));
    const events: WatchEvent<any>[] = [];
    const w = await enc.watch<any>('/registry/', (ev) => events.push(ev));
    const created = await enc.create('/registry/core/secrets/ns/a', secret('a', 'watch-me-1111'));
    expect((created.value as any).metadata.name).toBe('a');
    await enc.update('/registry/core/secrets/ns/a', secret('a', 'watch-me-2222'));
    const deleted = await enc.delete<any>('/registry/core/secrets/ns/a');
    expect(deleted.value.metadata.name).toBe('a');
    await new Promise((r) => setImmediate(r));
    w.cancel();
    expect(events.map((e) => e.type)).toEqual(['PUT', 'PUT', 'DELETE']);
    expect(events[1].kv.value.data.password).toBe(Buffer.from('watch-me-2222').toString('base64'));
    expect(events[1].prevKv!.value.data.password).toBe(Buffer.from('watch-me-1111').toString('base64'));
    expect(events[2].kv.value.data.password).toBe(Buffer.from('watch-me-2222').toString('base64'));
    // The history the watch replays from the log is opened too.
    const replayed: WatchEvent<any>[] = [];
    const w2 = await enc.watch<any>('/registry/core/secrets/', (ev) => replayed.push(ev), {
      fromRevision: 1,
    });
    await new Promise((r) => setTimeout(r, 50));
    w2.cancel();
    expect(replayed[0].kv.value.metadata.name).toBe('a');
  });

  it('key rotation: new key first, old key still read; after reencrypt the old key can go', async () => {
    const old = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key1', KEY1])]), 'x'));
    await old.create('/registry/core/secrets/ns/r', secret('r', 'rotate-me-3333'));
    const both = parseEncryptionConfig(config([aesgcm(['key2', KEY2], ['key1', KEY1])]), 'x');
    const rotated = new EncryptedStore(store, both);
    expect(((await rotated.get<any>('/registry/core/secrets/ns/r'))!.value as any).metadata.name).toBe('r');
    const r = await reencrypt(store, both, () => store.vacuum());
    expect(r.alreadyCurrent).toBe(0);
    expect(
      (await store.get<string>('/registry/core/secrets/ns/r'))!.value.startsWith('k8s:enc:aesgcm:v1:key2:'),
    ).toBe(true);
    const onlyNew = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key2', KEY2])]), 'x'));
    expect(((await onlyNew.get<any>('/registry/core/secrets/ns/r'))!.value as any).metadata.name).toBe('r');
    // The old key alone cannot read it: the error names the object and the key, and carries no data.
    const onlyOld = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key1', KEY1])]), 'x'));
    const err = await onlyOld.get('/registry/core/secrets/ns/r').catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /cannot decrypt \/registry\/core\/secrets\/ns\/r: .*aesgcm:v1:key2/,
    );
    expect((err as Error).message).not.toContain(Buffer.from('rotate-me-3333').toString('base64'));
    // A different key under the same name does not authenticate it.
    const impostor = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key2', KEY1])]), 'x'));
    await expect(impostor.get('/registry/core/secrets/ns/r')).rejects.toThrow(
      /aesgcm key "key2" does not authenticate/,
    );
  });

  it('refuses plaintext when identity is not listed, and a ciphertext moved under another key', async () => {
    await store.create('/registry/core/secrets/ns/p', secret('p', 'plain-4444'));
    const enc = new EncryptedStore(store, parseEncryptionConfig(config([aesgcm(['key1', KEY1])]), 'x'));
    await expect(enc.get('/registry/core/secrets/ns/p')).rejects.toThrow(
      /cannot decrypt \/registry\/core\/secrets\/ns\/p: it is stored unencrypted and identity is not among its providers/,
    );
    await enc.create('/registry/core/secrets/ns/a', secret('a', 'moved-5555'));
    const sealed = (await store.get('/registry/core/secrets/ns/a'))!.value;
    await store.create('/registry/core/secrets/ns/b', sealed);
    await expect(enc.get('/registry/core/secrets/ns/b')).rejects.toThrow(
      /cannot decrypt \/registry\/core\/secrets\/ns\/b/,
    );
  });

  it('kms: per-object data keys wrapped by a KEK from a 0600 file', async () => {
    const kek = join(dir, 'kek');
    writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
    const kms = `- kms: {apiVersion: v2, name: local, endpoint: "file://${kek}"}`;
    const enc = new EncryptedStore(
      store,
      parseEncryptionConfig(config([kms], ['secrets', 'configmaps']), 'x'),
    );
    await enc.create('/registry/core/secrets/ns/k', secret('k', 'envelope-6666'));
    await enc.create('/registry/core/configmaps/ns/c', { data: { v: 'cm-envelope-7777' } });
    const a = (await store.get<string>('/registry/core/secrets/ns/k'))!.value;
    expect(a.startsWith('k8s:enc:kms:v2:local:')).toBe(true);
    expect(((await enc.get<any>('/registry/core/configmaps/ns/c'))!.value as any).data.v).toBe(
      'cm-envelope-7777',
    );
    // Another KEK in the file: the error names the file and both KEK ids.
    writeFileSync(kek, randomBytes(32).toString('base64'));
    const other = new EncryptedStore(store, parseEncryptionConfig(config([kms], ['secrets']), 'x'));
    await expect(other.get('/registry/core/secrets/ns/k')).rejects.toThrow(
      new RegExp(
        `cannot decrypt /registry/core/secrets/ns/k: its data key is wrapped under key-encryption key [0-9a-f]{16}, but ${kek} holds`,
      ),
    );
  });
});

describe('EncryptionConfiguration', () => {
  it('names the missing KEK file, a loose one, and bad fields without printing keys', () => {
    const kek = join(dir, 'missing-kek');
    const kms = `- kms: {name: local, endpoint: "file://${kek}"}`;
    expect(() => parseEncryptionConfig(config([kms]), 'enc.yaml')).toThrow(
      `enc.yaml: resources[0].providers[0].kms: key-encryption key file ${kek}: not found`,
    );
    writeFileSync(kek, randomBytes(32));
    chmodSync(kek, 0o644);
    expect(() => parseEncryptionConfig(config([kms]), 'enc.yaml')).toThrow(
      /readable by others \(mode 644\); chmod 600/,
    );
    const short = randomBytes(8).toString('base64');
    let err: Error | undefined;
    try {
      parseEncryptionConfig(config([aesgcm(['k', short])]), 'enc.yaml');
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(EncryptionConfigError);
    expect(err!.message).toBe(
      'enc.yaml: resources[0].providers[0].aesgcm.keys[0].secret: must be base64 of 16, 24 or 32 bytes, got 8',
    );
    expect(err!.message).not.toContain(short);
    expect(() => parseEncryptionConfig(config(['- secretbox: {keys: []}']), 'e')).toThrow(
      /secretbox: not supported by Strata/,
    );
    expect(() => parseEncryptionConfig(config([IDENTITY], ["'*'"]), 'e')).toThrow(
      /resources\[0\].resources\[0\]: "\*" is not a resource/,
    );
    expect(() => parseEncryptionConfig('kind: Nope', 'e')).toThrow(/^e: apiVersion: /);
    expect(() => loadEncryptionConfig(join(dir, 'nope.yaml'))).toThrow(
      /--encryption-provider-config .*nope.yaml: ENOENT/,
    );
  });

  it('matches resources as kube-apiserver does: first entry wins, *.group and *.*', () => {
    const cfg = parseEncryptionConfig(
      `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, deployments.apps]
    providers: [{aesgcm: {keys: [{name: a, secret: ${KEY1}}]}}]
  - resources: ['*.batch']
    providers: [{identity: {}}]
  - resources: ['*.*']
    providers: [{aesgcm: {keys: [{name: b, secret: ${KEY2}}]}}]
`,
      'e',
    );
    const writer = (key: string): string | undefined => cfg.transformerFor(key)?.providers[0].label;
    expect(writer('/registry/core/secrets/ns/x')).toBe('aesgcm key "a"');
    expect(writer('/registry/apps/deployments/ns/x')).toBe('aesgcm key "a"');
    expect(writer('/registry/batch/jobs/ns/x')).toBe('identity');
    expect(writer('/registry/core/configmaps/ns/x')).toBe('aesgcm key "b"');
    expect(writer('/other/thing')).toBeUndefined();
  });
});
