// What HTTPS costs the API: the same Strata control plane served over TLS (as users run it) and over plain
// HTTP (--insecure-http), measured in one run — requests/s and p50/p99 at concurrency 64 on keep-alive
// connections, and new connections per second (one TLS handshake, or one TCP connect, per request). The
// load runs on its own thread (bench/lib/http-load.ts) so client-side TLS does not slow the server's loop.
//
//   npm run bench -- api-tls [REQUESTS_PER_PHASE]
import { summarize, printTable } from './lib/stats.ts';
import { startBenchCluster, type BenchCluster } from './lib/cluster.ts';
import { runLoad, type LoadResult } from './lib/http-load.ts';

const TOTAL = Number(process.argv[2] ?? 5000);
const CONCURRENCY = 64;
const HANDSHAKES = Math.max(200, Math.floor(TOTAL / 10));

async function measure(
  c: BenchCluster,
): Promise<{ create: LoadResult; get: LoadResult; connect: LoadResult }> {
  const ca = c.cp.pki?.ca.cert;
  const headers = { authorization: `Bearer ${c.cp.adminToken}`, 'content-type': 'application/json' };
  const base = `${c.cp.url}/api/v1/namespaces/default/configmaps`;
  const common = { headers, ca, concurrency: CONCURRENCY, connections: 'keepAlive' as const };
  // Warm-up: routes compiled, caches filled.
  await runLoad({ ...common, url: `${c.cp.url}/api/v1/namespaces`, method: 'GET', n: 500 });
  const body = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cm-{i}', labels: { bench: 'tls' } },
    data: { key: 'value-{i}' },
  });
  const create = await runLoad({ ...common, url: base, method: 'POST', body, n: TOTAL });
  const get = await runLoad({ ...common, url: `${base}/cm-{i}`, method: 'GET', n: TOTAL });
  const connect = await runLoad({
    ...common,
    url: `${c.cp.url}/healthz`,
    method: 'GET',
    n: HANDSHAKES,
    concurrency: 8,
    connections: 'fresh',
  });
  return { create, get, connect };
}

const tls = await startBenchCluster({ agent: false });
const tlsR = await measure(tls);
await tls.stop();
const plain = await startBenchCluster({ agent: false, insecureHttp: true });
const plainR = await measure(plain);
await plain.stop();

const row = (name: string, r: LoadResult, base?: LoadResult) => ({
  name,
  s: summarize(r.lat),
  extra: `${Math.round(r.perSec)}/s${base ? `, ${(r.perSec / base.perSec).toFixed(2)}× plain HTTP` : ''}`,
});
printTable(
  `API over TLS vs plain HTTP, concurrency ${CONCURRENCY}, keep-alive (${TOTAL} requests per phase)`,
  [
    row('plain HTTP create', plainR.create),
    row('HTTPS create', tlsR.create, plainR.create),
    row('plain HTTP get', plainR.get),
    row('HTTPS get', tlsR.get, plainR.get),
  ],
);
printTable(`New connections (${HANDSHAKES}, 8 at a time, GET /healthz each)`, [
  row('plain HTTP: TCP connect per request', plainR.connect),
  row('HTTPS: TLS handshake (ECDSA P-256) per request', tlsR.connect, plainR.connect),
]);
process.exit(0);
