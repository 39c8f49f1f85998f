// Dashboard (issue 15): time from navigation until the overview's table of 1,000 pods has rendered, in
// Debian's Chromium headless, and the JS bundle size (gzip). Beside it, measured in the same run:
//  - baseline: the same 1,000 rows as a static HTML table from a bare node:http server (the browser's
//    floor: no script, no API, no watch);
//  - baseline: React + ReactDOM's production builds alone, gzipped (the floor of any React UI).
// A fresh browser context per round (cold cache: every asset is fetched), then a reload in the same
// context (warm: hashed assets come from the cache, index.html is revalidated). Goal: < 1 s headless.
//
//   npm run bench -- dashboard [ROUNDS]      (needs build/ui: npx vite build -c ui/vite.config.ts)
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type Page } from 'playwright-core';
import { startControlPlane } from '../src/server/control-plane.ts';
import { SESSION_COOKIE } from '../src/server/ui-session.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const PODS = 1000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ASSETS = join(ROOT, 'build/ui');
const CHROMIUM = '/usr/bin/chromium';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

if (!existsSync(join(ASSETS, 'index.html'))) {
  console.error('build/ui is missing: run `npx vite build -c ui/vite.config.ts` first');
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing (Debian package chromium)`);
  process.exit(1);
}

// --- bundle size -------------------------------------------------------------------------------------
const gz = (path: string): number => gzipSync(readFileSync(path), { level: 9 }).length;
const index = readFileSync(join(ASSETS, 'index.html'), 'utf8');
const scripts = readdirSync(join(ASSETS, 'assets')).filter((f) => f.endsWith('.js'));
const initial = scripts.filter((f) => index.includes(f));
const initialGz = initial.reduce((a, f) => a + gz(join(ASSETS, 'assets', f)), 0);
const totalGz = scripts.reduce((a, f) => a + gz(join(ASSETS, 'assets', f)), 0);
const reactGz =
  gz(join(ROOT, 'node_modules/react/cjs/react.production.js')) +
  gz(join(ROOT, 'node_modules/react-dom/cjs/react-dom-client.production.js'));

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

/** ms from the navigation's start until the pods table has `PODS` rows (the page's own clock). */
async function rendered(page: Page): Promise<number> {
  const handle = await page.waitForFunction(
    (n: number) => {
      const g = globalThis as any;
      const count = g.document.querySelectorAll('table.pods tbody tr').length;
      return count >= n ? g.performance.now() : false;
    },
    PODS,
    { polling: 'raf', timeout: 60_000 },
  );
  return (await handle.jsonValue()) as number;
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

const cold: number[] = [];
const warm: number[] = [];
const baseline: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // The session cookie comes from a login made here, so the page's first navigation starts with an empty cache.
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
  const page = await context.newPage();
  await page.goto(`${cp.url}/ui/`);
  cold.push(await rendered(page));
  await page.reload();
  warm.push(await rendered(page));
  await page.goto(bareUrl);
  baseline.push(await rendered(page));
  await context.close();
}

console.log(
  `\nDashboard overview with ${PODS} pods, Chromium headless (median of ${ROUNDS}; navigation start → table rendered)`,
);
console.log(`  baseline: static HTML table, no script   ${median(baseline).toFixed(0)} ms`);
console.log(
  `  strata /ui/ cold cache                   ${median(cold).toFixed(0)} ms   (${(median(cold) / median(baseline)).toFixed(1)}× baseline)`,
);
console.log(
  `  strata /ui/ warm (reload)                ${median(warm).toFixed(0)} ms   (${(median(warm) / median(baseline)).toFixed(1)}× baseline)`,
);
console.log(`\nJS bundle (gzip -9)`);
console.log(`  baseline: React + ReactDOM production    ${kib(reactGz)}`);
console.log(
  `  strata initial (${initial.join(', ')})  ${kib(initialGz)}   (${(initialGz / reactGz).toFixed(2)}× React alone)`,
);
console.log(`  strata all chunks (${scripts.length}, pages load theirs lazily)   ${kib(totalGz)}`);

await browser.close();
bare.close();
await cp.stop();
rmSync(dir, { recursive: true, force: true });
