// Encryption at rest: Secret creates per second through the real API server (plain HTTP, admin token,
// validation, sqlite with fsync) with no encryption, with aesgcm and with the local KMS envelope (a fresh
// AES-256-GCM data key per object, wrapped by the KEK), measured in the same run: the three control
// planes run side by side and take turns, round after round, and each row is the median of its rounds.
// A second table measures the same without HTTP (ObjectStore straight into sqlite), where the cipher's
// share of the work is larger.
// Goal (issue 13): encrypted ≥ 0.8× plain.
//
//   npm run bench -- encryption [SECRETS_PER_ROUND] [ROUNDS]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, setGlobalDispatcher } from 'undici';
import { startControlPlane, type ControlPlane } from '../src/node/assemble-control-plane.ts';
import { loadEncryptionConfig } from '../src/store/encryption/config.ts';
import { EncryptedStore } from '../src/store/encryption/encrypted-store.ts';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

const PER_ROUND = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CONCURRENCY = 64;
setGlobalDispatcher(new Agent({ connections: CONCURRENCY, pipelining: 1 }));

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-enc-'));
const kek = join(dir, 'kek');
writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
function config(name: string, provider: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - ${provider}\n`,
  );
  return path;
}

const variants: Array<{ name: string; encryption?: string }> = [
  { name: 'no encryption (baseline)' },
  {
    name: 'aesgcm',
    encryption: config(
      'aesgcm',
      `aesgcm: {keys: [{name: k1, secret: ${randomBytes(32).toString('base64')}}]}`,
    ),
  },
  {
    name: 'kms envelope (local KEK)',
    encryption: config('kms', `kms: {name: local, endpoint: "file://${kek}"}`),
  },
];

const planes: ControlPlane[] = [];
for (const [i, v] of variants.entries()) {
  planes.push(
    await startControlPlane({
      dataDir: join(dir, `cp-${i}`),
      port: 0,
      insecureHttp: true,
      advertiseAddress: 'none',
      encryptionProviderConfig: v.encryption,
    }),
  );
}

async function createSecrets(cp: ControlPlane, round: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < PER_ROUND; i = next++) {
        const res = await fetch(`${cp.url}/api/v1/namespaces/default/secrets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: `s-${round}-${i}` },
            data: {
              password: randomBytes(24).toString('base64'),
              user: Buffer.from(`user-${i}`).toString('base64'),
            },
          }),
        });
        if (res.status !== 201) throw new Error(`create ${i}: HTTP ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  return (PER_ROUND / (performance.now() - t0)) * 1000;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rates: number[][] = variants.map(() => []);
await createSecrets(planes[0], -1).catch(() => 0); // warm-up (JIT, connections)
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order each round so no variant always runs first (page cache, CPU frequency).
  for (let k = 0; k < planes.length; k++) {
    const i = (r + k) % planes.length;
    rates[i].push(await createSecrets(planes[i], r));
  }
}

const base = median(rates[0]);
console.log(
  `\n### Secret creates/s, concurrency ${CONCURRENCY}, ${PER_ROUND} per round, median of ${ROUNDS} rounds\n`,
);
console.log('| variant | creates/s (median) | rounds | × baseline |');
console.log('| --- | --- | --- | --- |');
for (const [i, v] of variants.entries()) {
  const m = median(rates[i]);
  console.log(
    `| ${v.name} | ${m.toFixed(0)} | ${rates[i].map((x) => x.toFixed(0)).join(', ')} | ${(m / base).toFixed(2)}× |`,
  );
}
for (const cp of planes) await cp.stop();

// The same comparison without HTTP: ObjectStore creates of Secrets straight into sqlite (validation,
// defaults, fsync'd group commit), 64 in flight, raw store vs the EncryptedStore wrapper over it.
const stores = variants.map((v, i) => {
  const raw = openSqliteStore(join(dir, `store-${i}.db`));
  const cfg = v.encryption ? loadEncryptionConfig(v.encryption) : undefined;
  return { raw, objects: new ObjectStore(cfg ? new EncryptedStore(raw, cfg) : raw) };
});
for (const s of stores)
  await s.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
async function storeCreates(objects: ObjectStore, round: number): Promise<number> {
  let next = 0;
  const n = PER_ROUND * 5;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        await objects.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `s-${round}-${i}`, namespace: 'default' },
          data: { password: randomBytes(24).toString('base64') },
        });
      }
    }),
  );
  return (n / (performance.now() - t0)) * 1000;
}
const storeRates: number[][] = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < stores.length; k++) {
    const i = (r + k) % stores.length;
    storeRates[i].push(await storeCreates(stores[i].objects, r));
  }
}
const storeBase = median(storeRates[0]);
console.log(
  `\n### ObjectStore Secret creates/s (no HTTP), ${PER_ROUND * 5} per round, median of ${ROUNDS} rounds\n`,
);
console.log('| variant | creates/s (median) | rounds | × baseline |');
console.log('| --- | --- | --- | --- |');
for (const [i, v] of variants.entries()) {
  const m = median(storeRates[i]);
  console.log(
    `| ${v.name} | ${m.toFixed(0)} | ${storeRates[i].map((x) => x.toFixed(0)).join(', ')} | ${(m / storeBase).toFixed(2)}× |`,
  );
}
for (const s of stores) await s.raw.close();
rmSync(dir, { recursive: true, force: true });
