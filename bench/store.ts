// Durable writes per second through the sqlite Store, beside raw node:sqlite measured in the same run.
//
//   npm run bench -- store [--scale=N]     (N multiplies the write counts; default 1, ~15 s)
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
const ROUNDS = 4;
const N_SEQ = ROUNDS * Math.round(2_500 * scale);
const N_CONC = ROUNDS * Math.round(20_480 * scale);
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

/** Samples of one measurement, accumulated over rounds. */
class Measure {
  readonly name: string;
  lat: number[] = [];
  writes = 0;
  wallMs = 0;
  constructor(name: string) {
    this.name = name;
  }
  get perSec(): number {
    return (this.writes / this.wallMs) * 1000;
  }
  get s(): Summary {
    return summarize(this.lat);
  }
}

function rawAutocommit(m: Measure, n: number): void {
  const db = openRaw(freshPath());
  const ins = db.prepare('INSERT INTO objects (key, value) VALUES (?, ?)');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    ins.run(`/pods/default/web-${i}`, JSON.stringify(pod(i)));
    m.lat.push(performance.now() - s);
  }
  m.wallMs += performance.now() - t0;
  m.writes += n;
  db.close();
}

function rawBatched(m: Measure, n: number, perTx: number): void {
  const db = openRaw(freshPath());
  const ins = db.prepare('INSERT INTO objects (key, value) VALUES (?, ?)');
  const t0 = performance.now();
  for (let i = 0; i < n; i += perTx) {
    // Latency of a write = from the start of its transaction to its COMMIT, like a group-committed write.
    const s = performance.now();
    db.exec('BEGIN');
    const end = Math.min(n, i + perTx);
    for (let j = i; j < end; j++) ins.run(`/pods/default/web-${j}`, JSON.stringify(pod(j)));
    db.exec('COMMIT');
    const d = performance.now() - s;
    for (let j = i; j < end; j++) m.lat.push(d);
  }
  m.wallMs += performance.now() - t0;
  m.writes += n;
  db.close();
}

async function strataSequential(m: Measure, n: number): Promise<void> {
  const store = openSqliteStore(freshPath());
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await store.create(`/pods/default/web-${i}`, pod(i));
    m.lat.push(performance.now() - s);
  }
  m.wallMs += performance.now() - t0;
  m.writes += n;
  await store.close();
}

/** IN_FLIGHT writers, each awaiting its own write before issuing the next. */
async function strataConcurrent(
  m: Measure,
  n: number,
  kind: 'create' | 'update',
  watchers: number,
): Promise<void> {
  const store = openSqliteStore(freshPath());
  const revs: number[] = new Array(n);
  if (kind === 'update') {
    for (let i = 0; i < n; i += 4_096) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 4_096); j++)
        batch.push(store.create(`/pods/default/web-${j}`, pod(j)));
      for (const [k, kv] of (await Promise.all(batch)).entries()) revs[i + k] = kv.modRevision;
    }
  }
  let seen = 0;
  for (let w = 0; w < watchers; w++) await store.watch('/pods/', () => void seen++);
  let next = 0;
  const writer = async () => {
    while (next < n) {
      const i = next++;
      const key = `/pods/default/web-${i}`;
      const s = performance.now();
      if (kind === 'create') await store.create(key, pod(i));
      else await store.update(key, pod(i), revs[i]); // compare-and-swap, like a scheduler binding a pod
      m.lat.push(performance.now() - s);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, writer));
  m.wallMs += performance.now() - t0;
  m.writes += n;
  await store.close();
  if (seen !== n * watchers) throw new Error(`watchers saw ${seen} events, expected ${n * watchers}`);
}

try {
  // Warm up JIT and the filesystem once, unmeasured.
  rawAutocommit(new Measure('warm-up'), 500);
  await strataSequential(new Measure('warm-up'), 500);

  const base = new Measure('baseline: raw INSERT, autocommit');
  const base64 = new Measure(`baseline: raw INSERT, ${IN_FLIGHT} per transaction`);
  const seq = new Measure('Strata: create, sequential awaited');
  const conc = new Measure(`Strata: create, ${IN_FLIGHT} in flight`);
  const upd = new Measure(`Strata: CAS update, ${IN_FLIGHT} in flight`);
  const watched = new Measure(`Strata: create, ${IN_FLIGHT} in flight, 4 watchers`);
  // Interleaved rounds, each on fresh files, so that the shared machine's fsync noise and drift land on
  // Strata and its baselines alike.
  for (let r = 0; r < ROUNDS; r++) {
    rawAutocommit(base, N_SEQ / ROUNDS);
    await strataSequential(seq, N_SEQ / ROUNDS);
    rawBatched(base64, N_CONC / ROUNDS, IN_FLIGHT);
    await strataConcurrent(conc, N_CONC / ROUNDS, 'create', 0);
    await strataConcurrent(upd, N_CONC / ROUNDS, 'update', 0);
    await strataConcurrent(watched, N_CONC / ROUNDS, 'create', 4);
  }

  const rate = (m: Measure) => `${Math.round(m.perSec).toLocaleString('en-US')} writes/s`;
  const vs = (m: Measure, b: Measure, label: string) => `${(m.perSec / b.perSec).toFixed(2)}× ${label}`;
  printTable(`Durable writes (WAL, synchronous=FULL), ${process.version}`, [
    { name: base.name, s: base.s, extra: rate(base) },
    { name: base64.name, s: base64.s, extra: rate(base64) },
    { name: seq.name, s: seq.s, extra: `${rate(seq)}; ${vs(seq, base, 'autocommit')}` },
    {
      name: conc.name,
      s: conc.s,
      extra: `${rate(conc)}; ${vs(conc, base, 'autocommit')}; ${vs(conc, base64, 'batched')}`,
    },
    {
      name: upd.name,
      s: upd.s,
      extra: `${rate(upd)}; ${vs(upd, base, 'autocommit')}; ${vs(upd, base64, 'batched')}`,
    },
    { name: watched.name, s: watched.s, extra: `${rate(watched)}; ${vs(watched, conc, 'without watchers')}` },
  ]);
  console.log(
    `\n${ROUNDS} interleaved rounds on fresh files. Latency is per write, from the call to its resolved promise` +
      ' (batched baseline: its whole transaction).',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
