// The node gateway's cost on the request path: requests/s and p50/p99 latency at concurrency 64 on
// keep-alive connections, through the gateway (a `type: LoadBalancer` Service port served at L7, with its
// balancer, breakers, outlier tracking and retry budget in the path), straight to the backend, and through a
// plain Node `http-proxy`-style proxy (http.createServer + http.request with a keep-alive Agent, nothing
// else) — all in one run, rounds interleaved, medians reported. The load generator is Debian's `wrk` in its
// own process; the backend is a Node HTTP server in its own process; the proxies run in this process, one
// at a time.
//
//   npm run bench -- gateway [SECONDS_PER_ROUND] [ROUNDS]
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import http from 'node:http';
import { selfSignedServing } from '../src/auth/pki.ts';
import type { ListWatch } from '../src/lib/informer.ts';
import { NodeGateway } from '../src/net/gateway/index.ts';
import { freePort } from '../src/lib/free-port.ts';

const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 3);
const CONCURRENCY = 64;

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (err) {
  // wrk --version exits 1 but prints; only a missing binary is fatal.
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error('bench gateway: needs wrk (apt-get install -y wrk)');
    process.exit(2);
  }
}

/** The backend: a small keep-alive HTTP server in its own process. */
async function startBackend(port: number) {
  const code = `require('node:http').createServer((q, s) => { q.resume(); s.setHeader('content-type', 'text/plain'); s.end('hello from the backend\\n'); }).listen(${port}, '127.0.0.1', () => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return child;
}

/** A fixed collection as the API would list it (never changes). */
function fixed<T>(items: T[]): ListWatch<T> {
  return {
    list: async () => ({ items, resourceVersion: '1' }),
    watch: async () => ({ cancel() {} }),
  };
}

/** The baseline: what a minimal Node reverse proxy does (node-http-proxy's core path). */
async function startPlainProxy(port: number, backendPort: number): Promise<http.Server> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        host: '127.0.0.1',
        port: backendPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

interface WrkResult {
  /** The host's 1-minute load average when the round ended. */
  load: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU (user + system) the serving process spent per request, in µs: the gateway's own cost, not
   *  the machine's load (throughput on this shared 2-core host swings with other work). */
  cpuUs: number;
}

/** CPU time of a process in µs (utime + stime from /proc, clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
}

// Asynchronous: the proxies under test run on this process's event loop.
async function wrk(port: number, servingPid = process.pid): Promise<WrkResult> {
  const cpu0 = processCpuUs(servingPid);
  const { stdout: out } = await promisify(execFile)(
    'wrk',
    ['-t2', `-c${CONCURRENCY}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (!rps || process.env.BENCH_DEBUG) console.error(out);
  const p50 = ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const cpuUs = (processCpuUs(servingPid) - cpu0) / Math.max(1, total);
  return { rps, p50, p99, errors, cpuUs, load: os.loadavg()[0] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loadAtStart = os.loadavg()[0];
const backendPort = await freePort();
const backend = await startBackend(backendPort);
const lbPort = await freePort();
const gateway = new NodeGateway({
  nodeName: 'bench',
  listenAddress: '127.0.0.1',
  addresses: ['127.0.0.1'],
  defaultCertificate: await selfSignedServing('bench', ['localhost']),
  log: { debug() {}, info() {}, warn: console.warn, error: console.error },
});
await gateway.start({
  services: fixed([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'default',
        annotations: { 'strata.dev/load-balancer': 'least-request' },
      },
      spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: lbPort, protocol: 'TCP' }] },
    } as any,
  ]),
  endpointSlices: fixed([
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    } as any,
  ]),
  ingresses: fixed([]),
  ingressClasses: fixed([]),
  secrets: fixed([]),
});
const plainPort = await freePort();
const plain = await startPlainProxy(plainPort, backendPort);

const targets = { direct: backendPort, gateway: lbPort, 'plain Node proxy': plainPort } as const;
const results: Record<string, WrkResult[]> = { direct: [], gateway: [], 'plain Node proxy': [] };
// Whose CPU a request costs: the backend's process when direct, this process (the proxy) otherwise.
const servingPid = (name: string) => (name === 'direct' ? backend.pid! : process.pid);
for (const [name, port] of Object.entries(targets)) await wrk(port, servingPid(name)); // warm-up (JIT, pools)
for (let round = 0; round < ROUNDS; round++)
  for (const [name, port] of Object.entries(targets)) results[name].push(await wrk(port, servingPid(name)));

await gateway.stop();
plain.close();
backend.kill();

const row = (name: string) => {
  const r = results[name];
  return {
    name,
    rps: median(r.map((x) => x.rps)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    cpuUs: median(r.map((x) => x.cpuUs)),
    errors: r.reduce((a, x) => a + x.errors, 0),
  };
};
const direct = row('direct');
const loads = Object.values(results).flatMap((r) => r.map((x) => x.load));
console.log(
  `\nhost: ${os.availableParallelism()} CPUs (nproc), load average ${loadAtStart.toFixed(1)} at start, ` +
    `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} over the rounds`,
);
console.log(
  `\n### Gateway (L7) vs direct vs a plain Node proxy — wrk, concurrency ${CONCURRENCY}, keep-alive, ${ROUNDS} × ${SECONDS}s rounds (medians)\n`,
);
console.log(
  '| path | requests/s | p50 | p99 | vs direct | CPU per request (backend when direct, proxy otherwise) | errors |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of Object.keys(targets)) {
  const r = row(name);
  console.log(
    `| ${name} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${(r.rps / direct.rps).toFixed(2)}× | ${r.cpuUs.toFixed(0)} µs | ${r.errors} |`,
  );
}
const g = row('gateway');
const p = row('plain Node proxy');
console.log(
  `\ngateway / plain Node proxy: ${(g.rps / p.rps).toFixed(2)}× throughput, ${(g.cpuUs / p.cpuUs).toFixed(2)}× CPU per request; ` +
    `per-round throughput ratios: ${results.gateway.map((x, i) => (x.rps / results['plain Node proxy'][i].rps).toFixed(2)).join(', ')}`,
);
