// API throughput: creates and gets per second with p50/p99 at concurrency 64, through the real server
// (auth, validation, defaults, sqlite with fsync), beside a bare Fastify server that stores the same
// JSON in a Map — the HTTP + JSON floor on this machine, measured in the same run. Both plain HTTP (Strata
// with --insecure-http), so the ratio is the API's own cost; `npm run bench -- api-tls` measures TLS.
//
//   npm run bench -- api [REQUESTS_PER_PHASE]
import Fastify from 'fastify';
import { Agent, setGlobalDispatcher } from 'undici';
import { summarize, printTable } from './lib/stats.ts';
import { startBenchCluster } from './lib/cluster.ts';

const TOTAL = Number(process.argv[2] ?? 5000);
const CONCURRENCY = 64;
setGlobalDispatcher(new Agent({ connections: CONCURRENCY, pipelining: 1 }));

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

const cm = (i: number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: `cm-${i}`, labels: { bench: 'api' } },
  data: { key: `value-${i}` },
});

// Baseline: bare Fastify + Map.
const bare = Fastify();
const map = new Map<string, unknown>();
bare.post('/cm', async (req) => {
  const o = req.body as any;
  map.set(o.metadata.name, o);
  return o;
});
bare.get('/cm/:name', async (req) => map.get((req.params as any).name));
await bare.listen({ port: 0, host: '127.0.0.1' });
const bareUrl = `http://127.0.0.1:${(bare.server.address() as any).port}`;
const json = { 'content-type': 'application/json' };
const bCreate = await load(TOTAL, (i) =>
  fetch(`${bareUrl}/cm`, { method: 'POST', headers: json, body: JSON.stringify(cm(i)) }),
);
const bGet = await load(TOTAL, (i) => fetch(`${bareUrl}/cm/cm-${i}`));
await bare.close();

const cluster = await startBenchCluster({ agent: false, insecureHttp: true });
const auth = { authorization: `Bearer ${cluster.cp.adminToken}` };
const base = `${cluster.cp.url}/api/v1/namespaces/default/configmaps`;
const sCreate = await load(TOTAL, (i) =>
  fetch(base, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify(cm(i)) }),
);
const sGet = await load(TOTAL, (i) => fetch(`${base}/cm-${i}`, { headers: auth }));
await cluster.stop();

const row = (name: string, r: { lat: number[]; perSec: number }, extra = '') => ({
  name,
  s: summarize(r.lat),
  extra: `${Math.round(r.perSec)} req/s${extra}`,
});
printTable(`API at concurrency ${CONCURRENCY} (${TOTAL} requests per phase)`, [
  row('baseline: bare Fastify + Map, create', bCreate),
  row(
    'Strata create (validated, durable sqlite)',
    sCreate,
    `, ${(sCreate.perSec / bCreate.perSec).toFixed(2)}× baseline`,
  ),
  row('baseline: bare Fastify + Map, get', bGet),
  row('Strata get', sGet, `, ${(sGet.perSec / bGet.perSec).toFixed(2)}× baseline`),
]);
process.exit(0);
