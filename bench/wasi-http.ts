// wasi:http on the wasm tier: the example hello component (examples/wasi-http-hello, componentize-js)
// served through the node's handler listeners (HandlerListeners on loopback, as a pod's address would
// be) beside a plain Node `http` server returning the same bytes, all measured in this run:
// - requests/s and latency at concurrency 64 (keep-alive): Strata's default (an instance per thread,
//   reset between requests: component-reset.ts) on 2 threads and on 1, and the pod that asks for an
//   instance per request (strata.dev/wasi-http-instances: per-request, a pool of 8 made ahead; fewer
//   requests: it is ~50x slower); two interleaved rounds of the first three, as the load here moves;
// - one request at a time: a reset instance vs a fresh instance made for it (per-request, pool 0),
//   which is what an instance-per-request host without a pool pays.
//
//   npm run bench -- wasi-http [requests at c64, default 1000] [sequential requests, default 30]
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureLog, spec } from '../src/sandbox/wasm/test-support.ts';
import { HandlerListeners } from '../src/sandbox/http-handlers.ts';
import { ComponentSandboxes } from '../src/sandbox/wasm/component-sandbox.ts';
import { ModuleSource } from '../src/sandbox/wasm/module-source.ts';
import { runLoad } from './lib/http-load.ts';
import { fmt, printTable, summarize } from './lib/stats.ts';

const N = Number(process.argv[2] ?? 1000);
const SEQ = Number(process.argv[3] ?? 30);
const C = 64;
const root = fileURLToPath(new URL('..', import.meta.url));
const component = join(root, 'build/components/wasi-http-hello.wasm');
const BODY = 'hello from a wasi:http component\n';

const cacheDir = mkdtempSync(join(tmpdir(), 'strata-bench-wasi-http-'));
const source = new ModuleSource({ cacheDir });
const loopback = {
  claimHostAddress: async () => '127.0.0.1',
  teardown: async () => {},
  publish: async () => {},
  reconcileHostAddresses: async () => [],
};
const listeners = new HandlerListeners(loopback);

async function freePort(): Promise<number> {
  const s = http.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

type Mode = { instances: 'reset' | 'per-request'; poolSize?: number; threads?: number };

/** The component served on a loopback port by a ComponentSandboxes of its own. */
async function serveComponent(mode: Mode, id: string) {
  const sandboxes = new ComponentSandboxes({
    cacheDir,
    source,
    handlerHost: () => listeners,
    poolSize: mode.poolSize,
    threadsPerPod: mode.threads,
  });
  const port = await freePort();
  const s = spec(component, {
    id,
    podUid: id,
    args: [],
    log: captureLog(),
    limits: { memoryBytes: 256 << 20 },
    options: { wasiHttpInstances: mode.instances },
  });
  const resolved = await sandboxes.match(s);
  if (!resolved) throw new Error(`${component} is not a component`);
  const t0 = performance.now();
  await sandboxes.start(s, resolved, [port]);
  return { sandboxes, id, url: `http://127.0.0.1:${port}/`, startMs: performance.now() - t0 };
}

async function sequential(url: string, n: number, pauseMs: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    // The pause lets a pool refill between requests (what an idle-then-busy handler sees).
    await new Promise((r) => setTimeout(r, pauseMs));
    const t = performance.now();
    const res = await fetch(url);
    const text = await res.text();
    if (text !== BODY) throw new Error(`unexpected answer ${res.status}: ${text}`);
    lat.push(performance.now() - t);
  }
  return lat;
}

console.log(`wasi:http bench: ${component}`);
console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
// Transpile (first start of this digest) and core-module compile, reported but not in the tables.
const reset2 = await serveComponent({ instances: 'reset', threads: 2 }, 'reset2');
console.log(`first start (transpile + compile + 2 threads with an instance each): ${fmt(reset2.startMs)}`);
const reset1 = await serveComponent({ instances: 'reset', threads: 1 }, 'reset1');
const perRequest = await serveComponent({ instances: 'per-request', poolSize: 8 }, 'per-request');
console.log(
  `start, cached digest: reset, 1 thread ${fmt(reset1.startMs)}; per-request pool 8 ${fmt(perRequest.startMs)}`,
);

const plain = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-served-by': 'wasi-http-hello' });
  res.end(BODY);
});
plain.listen(0, '127.0.0.1');
await new Promise((r) => plain.once('listening', r));
const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;

const load = (url: string, n = N) =>
  runLoad({ url, method: 'GET', headers: {}, n, concurrency: C, connections: 'keepAlive' });
// Warm each (connections, JIT, V8's tier-up of the guest's code) with a short run first.
for (const url of [reset2.url, reset1.url, plainUrl]) await load(url, 200);
await load(perRequest.url, C);

async function checked(url: string, n = N) {
  const r = await load(url, n);
  const check = await fetch(url);
  if ((await check.text()) !== BODY) throw new Error(`${url} answers something else`);
  return r;
}
const rows: Array<{ name: string; r: Awaited<ReturnType<typeof load>>; counts?: string }> = [];
const counted = async (name: string, served: Awaited<ReturnType<typeof serveComponent>>, n = N) => {
  const before = await served.sandboxes.counts(served.id);
  const r = await checked(served.url, n);
  const after = await served.sandboxes.counts(served.id);
  rows.push({ name, r, counts: `${after.instances - before.instances} instances made` });
};
// Two interleaved rounds: on a machine shared with other work the load moves within seconds.
for (const round of [1, 2]) {
  await counted(`Strata wasi:http, instance reset per request, 2 threads (round ${round})`, reset2);
  rows.push({ name: `plain Node http server (round ${round})`, r: await checked(plainUrl) });
  await counted(`Strata wasi:http, instance reset per request, 1 thread (round ${round})`, reset1);
}
await counted(
  'Strata wasi:http, new instance per request (pool 8)',
  perRequest,
  Math.max(C, Math.floor(N / 5)),
);
const plainRate = (rows[1].r.perSec + rows[4].r.perSec) / 2;
printTable(
  `GET at concurrency ${C}, keep-alive (${N} requests; per-request: ${Math.max(C, Math.floor(N / 5))})`,
  rows.map(({ name, r, counts }) => ({
    name,
    s: summarize(r.lat),
    extra: `${r.perSec.toFixed(0)} req/s, ${(r.perSec / plainRate).toFixed(3)}x Node (mean of rounds)${counts ? `, ${counts}` : ''}`,
  })),
);
const ratio = (a: number, b: number) => (rows[a].r.perSec / rows[b].r.perSec).toFixed(3);
console.log(
  `\nratio (Strata default, 2 threads / Node, same round) requests/s: ${ratio(0, 1)}x, ${ratio(3, 4)}x; ` +
    `1 thread: ${ratio(2, 1)}x, ${ratio(5, 4)}x`,
);

const fresh = await serveComponent({ instances: 'per-request', poolSize: 0 }, 'fresh');
const resetSeq = await sequential(reset1.url, SEQ, 100);
const freshSeq = await sequential(fresh.url, SEQ, 100);
printTable(`one request at a time (${SEQ}), 100 ms apart`, [
  { name: 'instance reset between requests', s: summarize(resetSeq) },
  { name: 'fresh instance per request', s: summarize(freshSeq) },
]);
console.log(
  `\nratio (fresh / reset) p50: ${(summarize(freshSeq).p50 / summarize(resetSeq).p50).toFixed(1)}x`,
);
console.log(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

for (const s of [reset2, reset1, perRequest, fresh]) await s.sandboxes.shutdown();
await new Promise((r) => plain.close(r));
rmSync(cacheDir, { recursive: true, force: true });
