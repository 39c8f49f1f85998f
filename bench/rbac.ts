// Authorization cost: ConfigMap creates and gets per second through the real API server with RBAC on
// (a regular user, authorized by a RoleBinding among 2,000 bindings over 500 roles) beside the same server
// with no authorization, in the same run. Rounds alternate (off, on, off, on, …) so drift on a shared
// machine hits both; the table quotes per-request latency over all rounds and the median round's rate.
//
//   npm run bench -- rbac [REQUESTS_PER_PHASE] [ROUNDS]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, setGlobalDispatcher } from 'undici';
import { SharedInformers } from '../src/store/shared-informers.ts';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { ensureDefaultNamespaces } from '../src/controllers/manager.ts';
import { buildServer } from '../src/server/app.ts';
import { Authenticator } from '../src/server/auth.ts';
import { startAuthorization } from '../src/server/authorization.ts';
import { requestAttributes } from '../src/server/authorization-attributes.ts';
import { ADMIN_GROUP } from '../src/auth/identities.ts';
import { printTable, summarize } from './lib/stats.ts';

const TOTAL = Number(process.argv[2] ?? 2000);
// STRATA_BENCH_RBAC_DATA_BOTH=1: the server without authorization stores the same RBAC objects (isolates the check).
const DATA_BOTH = process.env.STRATA_BENCH_RBAC_DATA_BOTH === '1';
const ROUNDS = Number(process.argv[3] ?? 3);
const CONCURRENCY = 32;
const ROLES = 500;
const BINDINGS = 2000;
const NAMESPACES = 50;
const G = 'rbac.authorization.k8s.io';
const USER_TOKEN = 'bench-user-token-0123456789abcdef';
setGlobalDispatcher(new Agent({ connections: CONCURRENCY, pipelining: 1 }));

interface Server {
  url: string;
  /** With RBAC: decisions per second of the authorizer chain alone, for the bench user's get. */
  decisionsPerSec?: number;
  stop(): Promise<void>;
}

/** A server over its own sqlite file; with RBAC, the policy objects are written before it listens. */
async function startServer(rbac: boolean): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `strata-bench-rbac-${rbac ? 'on' : 'off'}-`));
  const store = openSqliteStore(join(dir, 'state.db'));
  const objects = new ObjectStore(store);
  await ensureDefaultNamespaces(objects);
  const auth = new Authenticator();
  auth.add('bench-admin-token-0123456789abcdef', 'admin', [ADMIN_GROUP]);
  // The measured user: in a few groups, as real users are (each group is one more index lookup).
  auth.add(USER_TOKEN, 'bench-user', ['team-7', 'devs', 'oncall']);
  const informers = new SharedInformers(objects);
  informers.start();
  let decide: (() => Promise<number>) | undefined;
  let extensions: Parameters<typeof buildServer>[0]['extensions'] = [];
  if (rbac || DATA_BOTH) {
    for (let n = 0; n < NAMESPACES; n++)
      await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
    // 500 roles: 400 namespaced Roles spread over the namespaces, 100 ClusterRoles.
    for (let i = 0; i < ROLES; i++) {
      const rules = [
        { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'], resourceNames: [`pod-${i}`] },
      ];
      if (i < 400)
        await objects.create({
          apiVersion: `${G}/v1`,
          kind: 'Role',
          metadata: { name: `role-${i}`, namespace: `ns-${i % NAMESPACES}` },
          rules,
        });
      else
        await objects.create({
          apiVersion: `${G}/v1`,
          kind: 'ClusterRole',
          metadata: { name: `crole-${i}` },
          rules,
        });
    }
    // 2,000 bindings to other users and groups; the user's own grant is one RoleBinding in `default`.
    for (let i = 0; i < BINDINGS - 1; i++) {
      const cluster = i % 10 === 0;
      const subjects = [
        { kind: 'User', apiGroup: G, name: `user-${i}` },
        { kind: 'Group', apiGroup: G, name: `group-${i % 300}` },
        { kind: 'ServiceAccount', name: 'default', namespace: `ns-${i % NAMESPACES}` },
      ];
      if (cluster)
        await objects.create({
          apiVersion: `${G}/v1`,
          kind: 'ClusterRoleBinding',
          metadata: { name: `crb-${i}` },
          subjects,
          roleRef: { apiGroup: G, kind: 'ClusterRole', name: `crole-${400 + (i % 100)}` },
        });
      else
        await objects.create({
          apiVersion: `${G}/v1`,
          kind: 'RoleBinding',
          metadata: { name: `rb-${i}`, namespace: `ns-${i % NAMESPACES}` },
          subjects,
          roleRef: { apiGroup: G, kind: 'Role', name: `role-${(i % 8) * NAMESPACES + (i % NAMESPACES)}` },
        });
    }
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'Role',
      metadata: { name: 'configmap-writer', namespace: 'default' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get'] }],
    });
    await objects.create({
      apiVersion: `${G}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'bench-user', namespace: 'default' },
      subjects: [{ kind: 'User', apiGroup: G, name: 'bench-user' }],
      roleRef: { apiGroup: G, kind: 'Role', name: 'configmap-writer' },
    });
  }
  if (rbac) {
    const authz = await startAuthorization({ objects, informers });
    extensions = [authz.extension];
    decide = async () => {
      const user = {
        username: 'bench-user',
        groups: ['team-7', 'devs', 'oncall', 'system:authenticated'],
        via: 'token' as const,
      };
      const n = 50_000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const attrs = requestAttributes('GET', `/api/v1/namespaces/default/configmaps/cm-${i}`, user);
        if ((await authz.authorizer.authorize(attrs)).decision !== 'allow') throw new Error('denied');
      }
      return (n / (performance.now() - t0)) * 1000;
    };
  }
  const app = buildServer({ objects, auth, extensions });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  if (rbac) {
    // The binding reaches the informer cache a moment after the write.
    for (let i = 0; ; i++) {
      const r = await fetch(`${url}/api/v1/namespaces/default/configmaps/none`, {
        headers: { authorization: `Bearer ${USER_TOKEN}` },
      });
      if (r.status === 404) break;
      if (i > 200) throw new Error(`the bench user is not authorized: HTTP ${r.status}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  return {
    url,
    decisionsPerSec: await decide?.(),
    async stop() {
      await app.close();
      informers.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function load(
  n: number,
  one: (i: number) => Promise<Response>,
): Promise<{ lat: number[]; perSec: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = performance.now();
        const res = await one(i);
        if (!res.ok) throw new Error(`request ${i}: HTTP ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, perSec: (n / (performance.now() - t0)) * 1000 };
}

const headers = { authorization: `Bearer ${USER_TOKEN}`, 'content-type': 'application/json' };
const servers = { off: await startServer(false), on: await startServer(true) };
const results = {
  off: { create: [] as number[], get: [] as number[], createRates: [] as number[], getRates: [] as number[] },
  on: { create: [] as number[], get: [] as number[], createRates: [] as number[], getRates: [] as number[] },
};
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of ['off', 'on'] as const) {
    const base = `${servers[mode].url}/api/v1/namespaces/default/configmaps`;
    const name = (i: number) => `cm-${round}-${i}`;
    const c = await load(TOTAL, (i) =>
      fetch(base, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: name(i) },
          data: { k: `v${i}` },
        }),
      }),
    );
    const g = await load(TOTAL, (i) => fetch(`${base}/${name(i)}`, { headers }));
    results[mode].create.push(...c.lat);
    results[mode].get.push(...g.lat);
    results[mode].createRates.push(c.perSec);
    results[mode].getRates.push(g.perSec);
  }
}
const decisions = servers.on.decisionsPerSec ?? 0;
await servers.off.stop();
await servers.on.stop();

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const rate = (mode: 'off' | 'on', op: 'createRates' | 'getRates') => median(results[mode][op]);
const ratio = (op: 'createRates' | 'getRates') => (rate('on', op) / rate('off', op)).toFixed(2);
printTable(
  `RBAC cost at concurrency ${CONCURRENCY} (${ROLES} roles, ${BINDINGS} bindings; ${TOTAL} requests per phase, ${ROUNDS} rounds; rate = median round)`,
  [
    {
      name: 'baseline: no authorization, create',
      s: summarize(results.off.create),
      extra: `${Math.round(rate('off', 'createRates'))} req/s`,
    },
    {
      name: 'RBAC, create',
      s: summarize(results.on.create),
      extra: `${Math.round(rate('on', 'createRates'))} req/s (${ratio('createRates')}×)`,
    },
    {
      name: 'baseline: no authorization, get',
      s: summarize(results.off.get),
      extra: `${Math.round(rate('off', 'getRates'))} req/s`,
    },
    {
      name: 'RBAC, get',
      s: summarize(results.on.get),
      extra: `${Math.round(rate('on', 'getRates'))} req/s (${ratio('getRates')}×)`,
    },
  ],
);
console.log(
  `\nthe authorizer alone (request attributes + chain, 50,000 gets of the bench user): ${Math.round(decisions)} decisions/s (${(1e6 / decisions).toFixed(1)} µs each)`,
);
