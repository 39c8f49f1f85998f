// The node gateway's cost on the request path: requests/s and p50/p99 latency at concurrency 64 on
// keep-alive connections, through the gateway (a `type: LoadBalancer` Service port served at L7, with its
// balancer, breakers, outlier tracking and retry budget in the path) on 1 thread and on 2 (workers.ts:
// SO_REUSEPORT listeners on worker threads), straight to the backend, through a plain Node
// `http-proxy`-style proxy (http.createServer + http.request with a keep-alive Agent, nothing else), and
// through Debian's nginx (reverse proxy with upstream keepalive, 1 and 2 worker processes: what any proxy
// achieves on this host) — all in one run, rounds interleaved, medians reported. The load generator is
// Debian's `wrk` in its own process; the backend is a Node HTTP server in its own process; a Node TCP
// pipe (L4: bytes relayed, no HTTP) is the floor of any Node proxy; the Node proxies run in this process (and its gateway worker threads), one at a time under load. The nginx rows
// are skipped, with the reason printed, when nginx is not installed (apt-get install -y nginx-light).
//
//   npm run bench -- gateway [SECONDS_PER_ROUND] [ROUNDS]
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { promisify } from 'node:util';
import http from 'node:http';
import net from 'node:net';
import { freePort } from '../src/lib/free-port.ts';
import { startBackend, startLbGateway } from './lib/gateway-fixture.ts';

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

/**
 * The floor of any proxy written in Node: each client connection piped to a backend connection of its
 * own, bytes relayed as they come (an L4 relay, no HTTP parsing, no balancing) — what the event loop and
 * the socket layer cost per request before any proxy logic.
 */
async function startNodePipe(port: number, backendPort: number): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, (client) => {
    const up = net.connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
    client.pipe(up);
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

/**
 * nginx as a reverse proxy to the backend: upstream keepalive (HTTP/1.1, Connection cleared), no access
 * log, `workers` worker processes; in a directory of its own, removed by the returned stop().
 */
async function startNginx(
  port: number,
  backendPort: number,
  workers: number,
): Promise<{ port: number; pids: () => number[]; stop: () => void } | string> {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
  } catch {
    return 'nginx is not installed (apt-get install -y nginx-light)';
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-bench-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port} reuseport;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Ready when the port answers.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) =>
      http
        .get({ host: '127.0.0.1', port, path: '/' }, (r) => {
          r.resume();
          resolve(r.statusCode === 200);
        })
        .on('error', () => resolve(false)),
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // The master and its workers: every process whose CPU a request costs.
  const pids = () => {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    return [child.pid!, ...kids.filter(Boolean).map(Number)];
  };
  return {
    port,
    pids,
    stop: () => {
      child.kill('SIGQUIT');
      setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500);
    },
  };
}

interface WrkResult {
  /** The host's 1-minute load average when the round ended. */
  load: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The errors by kind: non-2xx answers, and wrk's socket errors (connect, read, write, timeout). */
  errorKinds: Record<string, number>;
  /** CPU (user + system) the serving processes spent per request, in µs: the proxy's own cost, not
   *  the machine's load (throughput on this shared 2-core host swings with other work). */
  cpuUs: number;
  /** Cores the serving processes used while the round ran (CPU time / wall time). */
  cores: number;
  /** The backend's CPU per request (µs) on a proxied path (the proxy's cost is on top of it). */
  backendUs: number;
  /** wrk's own CPU per request (µs): the load generator's share of the machine. */
  wrkUs: number;
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

const cpuOf = (pids: number[]) => pids.reduce((a, p) => a + processCpuUs(p), 0);

// Asynchronous: the proxies under test run on this process's event loop.
/** CPU of this process's reaped children (cutime + cstime): each wrk run is waited for, nothing else is. */
function reapedChildrenCpuUs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10_000;
}

async function wrk(port: number, servingPids: number[]): Promise<WrkResult> {
  const cpu0 = cpuOf(servingPids);
  const backend0 = processCpuUs(backend.pid!);
  const wrk0 = reapedChildrenCpuUs();
  const t0 = performance.now();
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
  const errorKinds: Record<string, number> = { 'non-2xx': non2xx };
  ['connect', 'read', 'write', 'timeout'].forEach((k, i) => (errorKinds[k] = Number(sockErr?.[i + 1] ?? 0)));
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const spent = cpuOf(servingPids) - cpu0;
  const cpuUs = spent / Math.max(1, total);
  const cores = spent / 1000 / (performance.now() - t0);
  const backendUs = (processCpuUs(backend.pid!) - backend0) / Math.max(1, total);
  const wrkUs = (reapedChildrenCpuUs() - wrk0) / Math.max(1, total);
  return { rps, p50, p99, errors, errorKinds, cpuUs, cores, backendUs, wrkUs, load: os.loadavg()[0] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loadAtStart = os.loadavg()[0];
const backendPort = await freePort();
const backend = await startBackend(backendPort);
/** A gateway on `workers` threads serving one LoadBalancer Service port (L7) in front of the backend. */
const startGateway = (workers: number) =>
  startLbGateway({
    name: 'web',
    backendPorts: [backendPort],
    annotations: { 'strata.dev/load-balancer': 'least-request' },
    workers,
  });
const gw1 = await startGateway(1);
const gw2 = await startGateway(2);
const plainPort = await freePort();
const plain = await startPlainProxy(plainPort, backendPort);
const pipePort = await freePort();
const pipe = await startNodePipe(pipePort, backendPort);
const nginx1 = await startNginx(await freePort(), backendPort, 1);
const nginx2 = typeof nginx1 === 'string' ? nginx1 : await startNginx(await freePort(), backendPort, 2);

/** Each path: its port and whose CPU a request costs (the backend's when direct, the proxy's otherwise). */
const targets: Record<string, { port: number; pids: () => number[] }> = {
  direct: { port: backendPort, pids: () => [backend.pid!] },
  'gateway, 1 thread': { port: gw1.port, pids: () => [process.pid] },
  'gateway, 2 threads': { port: gw2.port, pids: () => [process.pid] },
  'plain Node proxy': { port: plainPort, pids: () => [process.pid] },
  'Node TCP pipe (L4, no HTTP)': { port: pipePort, pids: () => [process.pid] },
};
const skipped: string[] = [];
for (const [name, n] of [
  ['nginx, 1 worker', nginx1],
  ['nginx, 2 workers', nginx2],
] as const) {
  if (typeof n === 'string') skipped.push(`${name}: skipped, ${n}`);
  else targets[name] = n;
}
const results: Record<string, WrkResult[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
for (const [, t] of Object.entries(targets)) await wrk(t.port, t.pids()); // warm-up (JIT, pools)
for (let round = 0; round < ROUNDS; round++)
  for (const [name, t] of Object.entries(targets)) results[name].push(await wrk(t.port, t.pids()));

await gw1.gateway.stop();
await gw2.gateway.stop();
plain.close();
pipe.close();
for (const n of [nginx1, nginx2]) if (typeof n !== 'string') n.stop();
backend.kill();

const row = (name: string) => {
  const r = results[name];
  return {
    name,
    rps: median(r.map((x) => x.rps)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    cpuUs: median(r.map((x) => x.cpuUs)),
    cores: median(r.map((x) => x.cores)),
    backendUs: median(r.map((x) => x.backendUs)),
    wrkUs: median(r.map((x) => x.wrkUs)),
    errors: r.reduce((a, x) => a + x.errors, 0),
    errorKinds: Object.entries(
      r.reduce<Record<string, number>>((a, x) => {
        for (const [k, v] of Object.entries(x.errorKinds)) a[k] = (a[k] ?? 0) + v;
        return a;
      }, {}),
    )
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  };
};
const direct = row('direct');
const loads = Object.values(results).flatMap((r) => r.map((x) => x.load));
console.log(
  `\nhost: ${os.availableParallelism()} CPUs (nproc), load average ${loadAtStart.toFixed(1)} at start, ` +
    `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} over the rounds`,
);
console.log(
  `\n### Gateway (L7) vs direct, a plain Node proxy and nginx — wrk, concurrency ${CONCURRENCY}, keep-alive, ${ROUNDS} × ${SECONDS}s rounds (medians)\n`,
);
console.log(
  '| path | requests/s | p50 | p99 | vs direct | CPU per request (backend when direct, proxy otherwise) | cores used | backend CPU per request | wrk CPU per request | errors |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of Object.keys(targets)) {
  const r = row(name);
  console.log(
    `| ${name} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${(r.rps / direct.rps).toFixed(2)}× | ${r.cpuUs.toFixed(0)} µs | ${r.cores.toFixed(2)} | ${r.backendUs.toFixed(0)} µs | ${r.wrkUs.toFixed(0)} µs | ${r.errors}${r.errorKinds ? ` (${r.errorKinds})` : ''} |`,
  );
}
for (const s of skipped) console.log(`\n${s}`);
// What 0.8x direct leaves a proxy on this host: the cores, minus what the backend and wrk spend per
// request at that rate (their CPU per request as measured on the direct path).
const goalRps = 0.8 * direct.rps;
const budgetUs = (os.availableParallelism() * 1e6) / goalRps - direct.backendUs - direct.wrkUs;
console.log(
  `\nCPU budget of a proxy at 0.8× direct (${Math.round(goalRps)} requests/s) on ${os.availableParallelism()} cores: ` +
    `${budgetUs.toFixed(0)} µs per request (the cores' time per request minus the backend's ${direct.backendUs.toFixed(0)} µs and wrk's ${direct.wrkUs.toFixed(0)} µs); ` +
    Object.keys(targets)
      .filter((n) => n !== 'direct')
      .map((n) => `${n} ${row(n).cpuUs.toFixed(0)} µs`)
      .join(', '),
);
const p = row('plain Node proxy');
for (const name of ['gateway, 1 thread', 'gateway, 2 threads']) {
  const g = row(name);
  console.log(
    `\n${name} / plain Node proxy: ${(g.rps / p.rps).toFixed(2)}× throughput, ${(g.cpuUs / p.cpuUs).toFixed(2)}× CPU per request; ` +
      `per-round throughput ratios: ${results[name].map((x, i) => (x.rps / results['plain Node proxy'][i].rps).toFixed(2)).join(', ')}`,
  );
}
