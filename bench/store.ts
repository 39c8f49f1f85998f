// Durable writes per second through the sqlite Store, beside raw node:sqlite measured in the same run.
//
//   npm run bench -- store [--scale=N]     (N multiplies the write counts; default 1, ~10 s)
//
// Every database uses the store's settings: WAL, synchronous=FULL, locking_mode=EXCLUSIVE, a fresh file
// in a temp dir. A "write" is JSON.stringify of a ~1.3 KB pod-like document plus its durable commit.
// Baselines: (1) autocommit INSERT into a plain table, one fsync per write — what a naive embedded store
// costs; (2) the same INSERTs 64 per transaction — the ceiling for group commit of 64 writers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { printTable, summarize, type Summary } from './lib/stats.ts';

const scaleArg = process.argv.find((a) => a.startsWith('--scale='));
const scale = scaleArg ? Number(scaleArg.slice('--scale='.length)) : 1;
const N_SEQ = Math.round(5_000 * scale);
const N_CONC = Math.round(40_000 * scale);
const IN_FLIGHT = 64;

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-store-'));
let dbSeq = 0;
const freshPath = () => join(dir, `db-${++dbSeq}.sqlite`);

function pod(i: number): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `web-${i}`,
      namespace: 'default',
      uid: `4b1c0c5e-${String(i).padStart(12, '0')}`,
      labels: { app: 'web', tier: 'frontend', 'pod-template-hash': '7d9f8c6b5' },
      annotations: { 'strata.dev/created-by': 'deployment-controller' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c6b5', uid: 'abc' }],
      creationTimestamp: '2025-01-01T00:00:00Z',
    },
    spec: {
      runtimeClassName: 'wasm',
      containers: [
        {
          name: 'web',
          image: 'registry.local/web:1.0',
          args: ['--port', '8080', '--log-level', 'info'],
          env: [
            { name: 'MODE', value: 'production' },
            { name: 'REPLICA', value: String(i) },
          ],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
          readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 },
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      tolerations: [{ key: 'node.strata.dev/unreachable', operator: 'Exists', effect: 'NoExecute' }],
    },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Pending' }] },
  };
}

function openRaw(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: 5_000 });
  db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  db.exec('CREATE TABLE objects (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  return db;
}

interface Result {
  name: string;
  s: Summary;
  perSec: number;
}

function rawAutocommit(n: number): Result {
  const db = openRaw(freshPath());
  const ins = db.prepare('INSERT INTO objects (key, value) VALUES (?, ?)');
  const lat: number[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    ins.run(`/pods/default/web-${i}`, JSON.stringify(pod(i)));
    lat[i] = performance.now() - s;
  }
  const wall = performance.now() - t0;
  db.close();
  return { name: 'baseline: raw INSERT, autocommit', s: summarize(lat), perSec: (n / wall) * 1000 };
}

function rawBatched(n: number, perTx: number): Result {
  const db = openRaw(freshPath());
  const ins = db.prepare('INSERT INTO objects (key, value) VALUES (?, ?)');
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i += perTx) {
    // Latency of a write = from the start of its transaction to its COMMIT, like a group-committed write.
    const s = performance.now();
    db.exec('BEGIN');
    const end = Math.min(n, i + perTx);
    for (let j = i; j < end; j++) ins.run(`/pods/default/web-${j}`, JSON.stringify(pod(j)));
    db.exec('COMMIT');
    const d = performance.now() - s;
    for (let j = i; j < end; j++) lat.push(d);
  }
  const wall = performance.now() - t0;
  db.close();
  return { name: `baseline: raw INSERT, ${perTx} per transaction`, s: summarize(lat), perSec: (n / wall) * 1000 };
}

async function strataSequential(n: number): Promise<Result> {
  const store = openSqliteStore(freshPath());
  const lat: number[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await store.create(`/pods/default/web-${i}`, pod(i));
    lat[i] = performance.now() - s;
  }
  const wall = performance.now() - t0;
  await store.close();
  return { name: 'Strata: create, sequential awaited', s: summarize(lat), perSec: (n / wall) * 1000 };
}

/** IN_FLIGHT writers, each awaiting its own write before issuing the next. */
async function strataConcurrent(n: number, kind: 'create' | 'update', watchers: number): Promise<Result> {
  const store = openSqliteStore(freshPath());
  const revs: number[] = new Array(n);
  if (kind === 'update') {
    for (let i = 0; i < n; i += 4_096) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 4_096); j++) batch.push(store.create(`/pods/default/web-${j}`, pod(j)));
      for (const [k, kv] of (await Promise.all(batch)).entries()) revs[i + k] = kv.modRevision;
    }
  }
  let seen = 0;
  for (let w = 0; w < watchers; w++) await store.watch('/pods/', () => void seen++);
  const lat: number[] = new Array(n);
  let next = 0;
  const writer = async () => {
    while (next < n) {
      const i = next++;
      const key = `/pods/default/web-${i}`;
      const s = performance.now();
      if (kind === 'create') await store.create(key, pod(i));
      else await store.update(key, pod(i), revs[i]); // compare-and-swap, like a scheduler binding a pod
      lat[i] = performance.now() - s;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, writer));
  const wall = performance.now() - t0;
  await store.close();
  if (seen !== n * watchers) throw new Error(`watchers saw ${seen} events, expected ${n * watchers}`);
  const name =
    `Strata: ${kind === 'update' ? 'CAS update' : 'create'}, ${IN_FLIGHT} in flight` +
    (watchers ? `, ${watchers} watchers` : '');
  return { name, s: summarize(lat), perSec: (n / wall) * 1000 };
}

try {
  // Warm up JIT and the filesystem once, unmeasured.
  rawAutocommit(500);
  await strataSequential(500);

  const base = rawAutocommit(N_SEQ);
  const base64 = rawBatched(N_CONC, IN_FLIGHT);
  const seq = await strataSequential(N_SEQ);
  const conc = await strataConcurrent(N_CONC, 'create', 0);
  const upd = await strataConcurrent(N_CONC, 'update', 0);
  const watched = await strataConcurrent(N_CONC, 'create', 4);

  const note = (r: Result, vs?: Result) =>
    `${Math.round(r.perSec).toLocaleString('en-US')} writes/s` +
    (vs ? `; ${(r.perSec / vs.perSec).toFixed(2)}× ${vs === base ? 'autocommit' : 'batched'} baseline` : '');
  printTable(`Durable writes (WAL, synchronous=FULL), ${process.version}`, [
    { name: base.name, s: base.s, extra: note(base) },
    { name: base64.name, s: base64.s, extra: note(base64) },
    { name: seq.name, s: seq.s, extra: note(seq, base) },
    { name: conc.name, s: conc.s, extra: `${note(conc, base)}; ${(conc.perSec / base64.perSec).toFixed(2)}× batched` },
    { name: upd.name, s: upd.s, extra: `${note(upd, base)}; ${(upd.perSec / base64.perSec).toFixed(2)}× batched` },
    { name: watched.name, s: watched.s, extra: `${note(watched, base)}` },
  ]);
  console.log(
    `\nn per row: sequential ${N_SEQ}, concurrent ${N_CONC}. Latency is per write, call to resolved promise` +
      ' (batched baseline: its transaction).',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
