// Dashboard (issue 15): time from navigation until the overview's table of 1,000 pods has rendered, in
// Debian's Chromium headless, and the JS bundle size (gzip). Beside it, measured in the same run:
//  - baseline: the same 1,000 rows as a static HTML table from a bare node:http server (the browser's
//    floor: no script, no API, no watch);
//  - baseline: a minimal React app (one paragraph) built by the same Vite, gzipped (the floor of a React UI).
// A fresh browser context per round (cold cache: every asset is fetched), then a reload in the same
// context (warm: hashed assets come from the cache, index.html is revalidated). Goal: < 1 s headless.
//
//   npm run bench -- dashboard [ROUNDS]      (needs build/ui: npx vite build -c web/vite.config.ts)
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type BrowserContext } from 'playwright-core';
import { startControlPlane } from '../src/node/assemble-control-plane.ts';
import { SESSION_COOKIE } from '../src/server/ui-session.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const PODS = 1000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ASSETS = join(ROOT, 'build/ui');
const CHROMIUM = '/usr/bin/chromium';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

if (!existsSync(join(ASSETS, 'index.html'))) {
  console.error('build/ui is missing: run `npx vite build -c web/vite.config.ts` first');
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing (Debian package chromium)`);
  process.exit(1);
}

/** gzip size of the JS Vite builds for a React app that renders one paragraph: the floor of a React UI. */
async function minimalReactBundle(): Promise<number> {
  const { build } = await import('vite');
  const src = mkdtempSync(join(ROOT, 'build/.bench-react-'));
  try {
    writeFileSync(
      join(src, 'index.html'),
      '<!doctype html><div id="r"></div><script type="module" src="./main.js"></script>',
    );
    writeFileSync(
      join(src, 'main.js'),
      "import { createElement } from 'react';\nimport { createRoot } from 'react-dom/client';\ncreateRoot(document.getElementById('r')).render(createElement('p', null, 'hello'));\n",
    );
    await build({ root: src, logLevel: 'silent', build: { outDir: join(src, 'dist') } });
    const out = join(src, 'dist/assets');
    return readdirSync(out)
      .filter((f) => f.endsWith('.js'))
      .reduce((a, f) => a + gz(join(out, f)), 0);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

// --- bundle size -------------------------------------------------------------------------------------
const gz = (path: string): number => gzipSync(readFileSync(path), { level: 9 }).length;
const index = readFileSync(join(ASSETS, 'index.html'), 'utf8');
const scripts = readdirSync(join(ASSETS, 'assets')).filter((f) => f.endsWith('.js'));
const initial = scripts.filter((f) => index.includes(f));
const initialGz = initial.reduce((a, f) => a + gz(join(ASSETS, 'assets', f)), 0);
const totalGz = scripts.reduce((a, f) => a + gz(join(ASSETS, 'assets', f)), 0);
const reactGz = await minimalReactBundle();

// --- a control plane with 1,000 pods ---------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'strata-bench-dashboard-'));
const cp = await startControlPlane({ dataDir: join(dir, 'data'), port: 0, advertiseAddress: 'none' });
await cp.objects.create({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name: 'bench-node',
    labels: { 'strata.dev/runtime-wasm': 'true', 'strata.dev/runtime-container': 'true' },
  },
  spec: {},
  status: {
    allocatable: { cpu: '2', memory: '8Gi', pods: '2000' },
    capacity: { cpu: '2', memory: '8Gi', pods: '2000' },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Bench', lastHeartbeatTime: new Date().toISOString() },
    ],
  },
});
const rows: string[] = [];
for (let i = 0; i < PODS; i++) {
  const tier = i % 2 ? 'wasm' : 'container';
  await cp.objects.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${String(i).padStart(4, '0')}`, namespace: 'default' },
    spec: {
      nodeName: 'bench-node',
      runtimeClassName: tier,
      containers: [
        { name: 'main', image: 'localhost/app:1', resources: { requests: { cpu: '10m', memory: '8Mi' } } },
      ],
    },
  });
  rows.push(
    `<tr><td>default</td><th><a href="#">pod-${String(i).padStart(4, '0')}</a></th><td>${tier}</td><td>Pending</td><td>0</td><td>bench-node</td><td>1s</td></tr>`,
  );
}

// The baseline page: the same table, static.
const staticPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>static</title></head><body><table aria-label="Pods" class="pods"><thead><tr><th>Namespace</th><th>Pod</th><th>Tier</th><th>Status</th><th>Restarts</th><th>Node</th><th>Age</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
const bare = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(staticPage));
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}/`;

// --- the browser ------------------------------------------------------------------------------------------
const spki = createHash('sha256')
  .update(new X509Certificate(cp.pki!.ca.cert).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
});

interface Measure {
  /** ms from the navigation's start until the pods table has `PODS` rows (the page's own clock). */
  wall: number;
  /** ms the renderer's main thread was busy meanwhile (CDP Performance TaskDuration): less sensitive to a loaded host. */
  busy: number;
}

/** Opens `url` in a new page of `context` and measures until the table of `PODS` rows is rendered. */
async function measure(context: BrowserContext, url: string): Promise<Measure> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto(url, { waitUntil: 'commit' });
  const handle = await page.waitForFunction(
    (n: number) => {
      const g = globalThis as any;
      const count = g.document.querySelectorAll('table.pods tbody tr').length;
      return count >= n ? g.performance.now() : false;
    },
    PODS,
    { polling: 'raf', timeout: 120_000 },
  );
  const wall = (await handle.jsonValue()) as number;
  const { metrics } = await cdp.send('Performance.getMetrics');
  const busy = (metrics.find((m) => m.name === 'TaskDuration')?.value ?? NaN) * 1000;
  await page.close();
  return { wall, busy };
}

/** POST /ui/login from Node (trusting the cluster CA): the session id its Set-Cookie carries. */
function loginSession(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${cp.url}/ui/login`,
      {
        method: 'POST',
        ca: cp.pki!.ca.cert,
        headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      },
      (res) => {
        res.resume();
        const set = String(res.headers['set-cookie'] ?? '');
        const m = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(set);
        if (res.statusCode !== 200 || !m) reject(new Error(`login: HTTP ${res.statusCode}`));
        else resolve(m[1]);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ token: cp.adminToken }));
  });
}

const cold: Measure[] = [];
const warm: Measure[] = [];
const baseline: Measure[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // The session cookie comes from a login made here, so the first navigation starts with an empty cache.
  const { hostname } = new URL(cp.url);
  await context.addCookies([
    {
      name: SESSION_COOKIE,
      value: await loginSession(),
      domain: hostname,
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
    },
  ]);
  cold.push(await measure(context, `${cp.url}/ui/`));
  warm.push(await measure(context, `${cp.url}/ui/`));
  baseline.push(await measure(context, bareUrl));
  await context.close();
}

const row = (name: string, ms: Measure[]): string => {
  const wall = median(ms.map((m) => m.wall));
  const busy = median(ms.map((m) => m.busy));
  const bw = median(baseline.map((m) => m.wall));
  const bb = median(baseline.map((m) => m.busy));
  const ratio =
    ms === baseline ? '' : `   (${(wall / bw).toFixed(1)}× / ${(busy / bb).toFixed(1)}× baseline)`;
  return `  ${name.padEnd(40)} ${wall.toFixed(0).padStart(6)} ms wall  ${busy.toFixed(0).padStart(6)} ms main thread${ratio}`;
};
console.log(
  `\nDashboard overview with ${PODS} pods, Chromium headless (median of ${ROUNDS}; navigation start → table rendered)`,
);
console.log(row('baseline: static HTML table, no script', baseline));
console.log(row('strata /ui/ cold cache', cold));
console.log(row('strata /ui/ warm cache (new page)', warm));
console.log(`\nJS bundle (gzip -9)`);
console.log(`  baseline: minimal React app (Vite)       ${kib(reactGz)}`);
console.log(
  `  strata initial (${initial.join(', ')})  ${kib(initialGz)}   (${(initialGz / reactGz).toFixed(2)}× the minimal React app)`,
);
console.log(`  strata all chunks (${scripts.length}, pages load theirs lazily)   ${kib(totalGz)}`);

await browser.close();
bare.close();
await cp.stop();
rmSync(dir, { recursive: true, force: true });
