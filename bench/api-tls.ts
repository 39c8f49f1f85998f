// What HTTPS costs the API: the same Strata control plane served over TLS (as users run it) and over plain
// HTTP (--insecure-http), measured in one run — requests/s and p50/p99 at concurrency 64 on keep-alive
// connections, and new connections per second (one TLS handshake, or one TCP connect, per request).
//
//   npm run bench -- api-tls [REQUESTS_PER_PHASE]
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Agent } from 'undici';
import { summarize, printTable } from './lib/stats.ts';
import { startBenchCluster, type BenchCluster } from './lib/cluster.ts';

const TOTAL = Number(process.argv[2] ?? 5000);
const CONCURRENCY = 64;
const HANDSHAKES = Math.max(200, Math.floor(TOTAL / 10));

type Result = { lat: number[]; perSec: number };

async function load(n: number, concurrency: number, one: (i: number) => Promise<void>): Promise<Result> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, perSec: (n / (performance.now() - t0)) * 1000 };
}

const cm = (i: number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: `cm-${i}`, labels: { bench: 'tls' } },
  data: { key: `value-${i}` },
});

async function measure(c: BenchCluster): Promise<{ create: Result; get: Result; connect: Result }> {
  const ca = c.cp.pki?.ca.cert;
  const dispatcher = new Agent({ connections: CONCURRENCY, pipelining: 1, connect: ca ? { ca } : {} });
  const headers = { authorization: `Bearer ${c.cp.adminToken}`, 'content-type': 'application/json' };
  const base = `${c.cp.url}/api/v1/namespaces/default/configmaps`;
  const call = async (url: string, init: { method?: string; body?: string } = {}) => {
    const res = await fetch(url, { ...init, headers, dispatcher } as RequestInit);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  // Warm-up: connections open, routes compiled.
  await load(200, CONCURRENCY, () => call(`${c.cp.url}/api/v1/namespaces`));
  const create = await load(TOTAL, CONCURRENCY, (i) =>
    call(base, { method: 'POST', body: JSON.stringify(cm(i)) }),
  );
  const get = await load(TOTAL, CONCURRENCY, (i) => call(`${base}/cm-${i}`));
  await dispatcher.close();
  // A new connection for every request: the handshake is the cost.
  const url = new URL(`${c.cp.url}/healthz`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const connect = await load(
    HANDSHAKES,
    8,
    () =>
      new Promise<void>((resolve, reject) => {
        const req = send(url, { agent: false, ca, headers: { connection: 'close' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      }),
  );
  return { create, get, connect };
}

const tls = await startBenchCluster({ agent: false });
const tlsR = await measure(tls);
await tls.stop();
const plain = await startBenchCluster({ agent: false, insecureHttp: true });
const plainR = await measure(plain);
await plain.stop();

const row = (name: string, r: Result, base?: Result) => ({
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
