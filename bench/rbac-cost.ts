// Authorization cost per request, measured quietly: the same API server code, the same store and data,
// once with RBAC (the authorizer chain `strata server` runs) and once with an AlwaysAllow authorizer in
// the same place — so the only difference is RBAC's decision. Requests go through Fastify's full request
// path in-process (inject: authentication, authorization, routing, the store read, serialization — no
// sockets, one at a time, so no queueing noise), A and B strictly interleaved (ABBA order, so neither
// side always runs first), many thousands each; the table quotes medians and their ratio. Done at 100
// and at 10,000 bindings: RBAC's caches index bindings by subject, so the count should not matter.
//
//   npm run bench -- rbac-cost [PAIRS_PER_SIZE] [BINDINGS…]     (default 20000 pairs; 100 and 10000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedInformers } from '../src/store/shared-informers.ts';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { ensureDefaultNamespaces } from '../src/controllers/manager.ts';
import { buildServer } from '../src/server/app.ts';
import { Authenticator } from '../src/server/auth.ts';
import { authorizationExtension, startAuthorization } from '../src/server/authorization.ts';
import { requestAttributes } from '../src/server/authorization-attributes.ts';
import type { Authorizer } from '../src/auth/authorizer.ts';
import { fmt, printTable, summarize } from './lib/stats.ts';

const PAIRS = Number(process.argv[2] ?? 20_000);
const SIZES = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [100, 10_000];
const NAMESPACES = 50;
const G = 'rbac.authorization.k8s.io';
const USER_TOKEN = 'bench-user-token-0123456789abcdef';
const URL = '/api/v1/namespaces/default/configmaps/cm';
const alwaysAllow: Authorizer = { authorize: () => ({ decision: 'allow' }) };

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** The data: 100 roles, `bindings` bindings to other users and groups, and the bench user's one grant. */
async function seed(objects: ObjectStore, bindings: number): Promise<void> {
  for (let n = 0; n < NAMESPACES; n++)
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  const rules = [
    { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'update'] },
  ];
  for (let i = 0; i < 50; i++) {
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'Role',
      metadata: { name: `role-${i}`, namespace: `ns-${i % NAMESPACES}` },
      rules,
    });
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'ClusterRole',
      metadata: { name: `crole-${i}` },
      rules,
    });
  }
  for (let i = 0; i < bindings - 1; i++) {
    const subjects = [
      { kind: 'User', apiGroup: G, name: `user-${i}` },
      { kind: 'Group', apiGroup: G, name: `group-${i % 300}` },
    ];
    if (i % 10 === 0)
      await objects.create({
        apiVersion: `${G}/v1`,
        kind: 'ClusterRoleBinding',
        metadata: { name: `crb-${i}` },
        subjects,
        roleRef: { apiGroup: G, kind: 'ClusterRole', name: `crole-${i % 50}` },
      });
    else
      await objects.create({
        apiVersion: `${G}/v1`,
        kind: 'RoleBinding',
        metadata: { name: `rb-${i}`, namespace: `ns-${i % NAMESPACES}` },
        subjects,
        roleRef: { apiGroup: G, kind: 'Role', name: `role-${i % NAMESPACES}` },
      });
  }
  await objects.create({
    apiVersion: `${G}/v1`,
    kind: 'Role',
    metadata: { name: 'configmap-reader', namespace: 'default' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
  });
  await objects.create({
    apiVersion: `${G}/v1`,
    kind: 'RoleBinding',
    metadata: { name: 'bench-user', namespace: 'default' },
    subjects: [{ kind: 'User', apiGroup: G, name: 'bench-user' }],
    roleRef: { apiGroup: G, kind: 'Role', name: 'configmap-reader' },
  });
  await objects.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cm', namespace: 'default' },
    data: { k: 'v' },
  });
}

interface SizeResult {
  bindings: number;
  off: number[];
  on: number[];
  decideOff: number[];
  decideOn: number[];
}

interface Setup {
  result: SizeResult;
  /** One request through each app (ms). */
  one(mode: 'on' | 'off'): Promise<number>;
  /** Per-decision time of 1,000 decisions (ms). */
  batch(mode: 'on' | 'off'): Promise<number>;
  close(): Promise<void>;
}

async function setUp(bindings: number): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-rbac-cost-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  await seed(objects, bindings);
  const auth = new Authenticator();
  auth.add(USER_TOKEN, 'bench-user', ['team-7', 'devs', 'oncall']);
  const informers = new SharedInformers(objects);
  informers.start();
  const authz = await startAuthorization({ objects, informers });
  const apps = {
    on: buildServer({ objects, auth, extensions: [authz.extension] }),
    off: buildServer({ objects, auth, extensions: [authorizationExtension(alwaysAllow)] }),
  };
  await Promise.all([apps.on.ready(), apps.off.ready()]);
  const headers = { authorization: `Bearer ${USER_TOKEN}` };
  const one = async (mode: 'on' | 'off'): Promise<number> => {
    const t0 = performance.now();
    const res = await apps[mode].inject({ method: 'GET', url: URL, headers });
    const t = performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`${mode}: HTTP ${res.statusCode} ${res.body}`);
    return t;
  };
  // The binding reaches RBAC's informer cache a moment after the write.
  for (let i = 0; ; i++) {
    const r = await apps.on.inject({ method: 'GET', url: URL, headers });
    if (r.statusCode === 200) break;
    if (i > 400) throw new Error(`the bench user is not authorized: HTTP ${r.statusCode}`);
    await new Promise((res) => setTimeout(res, 25));
  }
  const user = {
    username: 'bench-user',
    groups: ['team-7', 'devs', 'oncall', 'system:authenticated'],
    via: 'token' as const,
  };
  const authorizers = { on: authz.authorizer, off: alwaysAllow };
  const batch = async (mode: 'on' | 'off'): Promise<number> => {
    const a = authorizers[mode];
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const attrs = requestAttributes('GET', URL, user);
      if ((await a.authorize(attrs)).decision !== 'allow') throw new Error('denied');
    }
    return (performance.now() - t0) / 1000;
  };
  return {
    result: { bindings, off: [], on: [], decideOff: [], decideOn: [] },
    one,
    batch,
    async close() {
      await apps.on.close();
      await apps.off.close();
      informers.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Every size's data first; then the sizes and modes interleaved, so drift on a shared machine hits all.
const setups: Setup[] = [];
for (const size of SIZES) setups.push(await setUp(size));
for (let i = 0; i < 2000; i++) for (const s of setups) await s.one(i % 2 ? 'on' : 'off');
for (let i = 0; i < PAIRS; i++) {
  for (const s of setups) {
    // ABBA: off-on, on-off, …
    const order: ('on' | 'off')[] = i % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) s.result[mode].push(await s.one(mode));
  }
}
for (let i = 0; i < 200; i++) {
  for (const s of setups) {
    s.result.decideOff.push(await s.batch('off'));
    s.result.decideOn.push(await s.batch('on'));
  }
}
for (const s of setups) await s.close();
const results = setups.map((s) => s.result);

for (const r of results) {
  const mOff = median(r.off);
  const mOn = median(r.on);
  // Per-pair differences: the drift both requests of a pair share cancels out.
  const diff = median(r.on.map((v, i) => v - r.off[i]!));
  printTable(
    `RBAC cost per request at ${r.bindings.toLocaleString('en')} bindings (GET of a ConfigMap through the whole request path, in-process, ${PAIRS.toLocaleString('en')} interleaved pairs)`,
    [
      { name: 'baseline: AlwaysAllow authorizer', s: summarize(r.off) },
      {
        name: 'RBAC (superuser → RBAC chain)',
        s: summarize(r.on),
        extra: `throughput ${(mOff / mOn).toFixed(2)}× (ratio of medians); median paired difference ${fmt(diff)} → ${(mOff / (mOff + diff)).toFixed(2)}×`,
      },
    ],
  );
  console.log(
    `decision alone (attributes + chain, 200 batches of 1,000, interleaved): AlwaysAllow ${fmt(median(r.decideOff))}, RBAC ${fmt(median(r.decideOn))} per decision`,
  );
}
