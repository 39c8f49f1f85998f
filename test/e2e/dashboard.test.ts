// End to end, the web dashboard in a real browser: Debian's Chromium (headless, driven by playwright-core)
// against a real single-node cluster. The browser trusts the cluster CA through a launch flag naming the
// CA's public key (never ignoreHTTPSErrors). It logs in with a token, sees running wasm and container pods
// on the overview, reads a live log line, opens an exec terminal, scales a Deployment (checked through the
// API), gets a bad manifest's field error next to the field, logs out; screenshots are checked (not blank,
// expected text) and axe-core finds no serious or critical violation on the main pages.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, NODE, ROOT, wasm, waitFor, missingTools } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
// The platform notes' flags for headless Chromium on this machine.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

function why(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (Debian package chromium)`;
  return missingTools(['runc', 'conmon', 'kubectl'], 'the container tier needs root');
}
const skip = why();
if (skip) console.warn(`skipping dashboard e2e tests: ${skip}`);

/** Chromium's flag value for a certificate: base64 of the SHA-256 of its SubjectPublicKeyInfo. */
export function spkiHash(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

let c: Cluster;
let browser: Browser;
let page: Page;
let token: string;
let shots: string;

/** Draws a screenshot on a canvas in the browser and counts its colours: a blank page has one or two. */
async function distinctColours(png: Buffer): Promise<number> {
  const probe = await browser.newPage();
  try {
    return await probe.evaluate(async (b64: string) => {
      const g = globalThis as any;
      const img = new g.Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = g.document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data: Uint8ClampedArray = ctx.getImageData(0, 0, img.width, img.height).data;
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 4 * 7)
        seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return seen.size;
    }, png.toString('base64'));
  } finally {
    await probe.close();
  }
}

/** Saves a screenshot to the temp dir and checks it is not blank and the page shows `texts`. */
async function screenshot(name: string, texts: string[]): Promise<void> {
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(join(shots, `${name}.png`), png);
  expect(await distinctColours(png), `${name}.png looks blank`).toBeGreaterThan(8);
  const body = await page.locator('body').innerText();
  for (const t of texts) expect(body, `${name}: expected "${t}" on the page`).toContain(t);
}

/** axe-core in the page: no serious or critical violations. */
async function accessible(name: string): Promise<void> {
  // Evaluated through the DevTools protocol: the dashboard's CSP (script-src 'self') stays on, as users get it.
  await page.evaluate(readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8'));
  const violations = await page.evaluate(async () => {
    const r = await (globalThis as any).axe.run();
    return (r.violations as any[])
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map(
        (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`,
      );
  });
  expect(violations, `${name}: axe violations`).toEqual([]);
}

describe.skipIf(!!skip)('dashboard in a real browser', () => {
  beforeAll(async () => {
    // Always from the current ui/ sources (setup builds the same; a few seconds), with the pinned Node.
    execFileSync(
      NODE,
      [
        join(ROOT, 'node_modules/vite/bin/vite.js'),
        'build',
        '-c',
        'web/vite.config.ts',
        '--logLevel',
        'warn',
      ],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
    c = await new Cluster().up();
    token = readFileSync(c.tokenFile, 'utf8').trim();
    await c.importTestImages('busybox');
    const manifest = `apiVersion: v1
kind: Pod
metadata: { name: tick }
spec:
  runtimeClassName: wasm
  containers:
  - name: main
    image: ${wasm('ticker')}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: counter }
spec:
  replicas: 1
  selector: { matchLabels: { app: counter } }
  template:
    metadata: { labels: { app: counter } }
    spec:
      runtimeClassName: container
      containers:
      - name: count
        image: localhost/busybox:1.0
        command: [sh, -c, 'i=0; while :; do i=$((i+1)); echo "count $i"; sleep 1; done']
        resources: { requests: { cpu: 20m, memory: 8Mi }, limits: { memory: 32Mi } }
`;
    const applied = await c.kubectl(['apply', '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    for (const target of ['pod/tick', 'deployment/counter']) {
      const cond = target.startsWith('pod') ? 'condition=Ready' : 'condition=Available';
      const w = await c.kubectl(['wait', `--for=${cond}`, target, '--timeout=120s'], { timeoutMs: 130_000 });
      expect(w.code, w.stderr).toBe(0);
    }
    shots = mkdtempSync(join(tmpdir(), 'strata-dashboard-shots-'));
    console.log(`dashboard screenshots in ${shots}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Trust the cluster CA: certificates chaining to this key are accepted, nothing else is.
      args: [...FLAGS, `--ignore-certificate-errors-spki-list=${spkiHash(c.ca)}`],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await c?.stop();
  });

  it('logs in with a token and the overview shows running pods of each tier', async () => {
    await page.goto(`${c.server}/ui/`);
    await page.getByLabel('Bearer token').waitFor();
    await accessible('login');
    await screenshot('login', ['Strata dashboard', 'Bearer token']);
    await page.getByLabel('Bearer token').fill('wrong-token-0123456789');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await page.getByLabel('Bearer token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Cluster overview' }).waitFor();
    // The cookie is HttpOnly: the page's scripts cannot read it.
    expect(await page.evaluate(() => (globalThis as any).document.cookie)).not.toContain('strata-session');
    const pods = page.getByRole('table', { name: 'Pods', exact: true });
    await pods.getByRole('row').filter({ hasText: 'tick' }).filter({ hasText: 'Running' }).waitFor();
    await pods.getByRole('row').filter({ hasText: 'counter-' }).filter({ hasText: 'Running' }).waitFor();
    const tiers = page.getByRole('list', { name: 'Pods by tier' });
    await tiers.getByText(/1\s*running wasm pod/).waitFor();
    await tiers.getByText(/1\s*running container pod/).waitFor();
    const node = page.getByRole('table', { name: 'Nodes' }).getByRole('row').filter({ hasText: 'node-a' });
    await node.filter({ hasText: 'Ready' }).waitFor();
    expect(await node.innerText()).toContain('wasm');
    await screenshot('overview', ['Cluster overview', 'node-a', 'tick', 'wasm', 'container']);
    await accessible('overview');
  }, 120_000);

  it('shows a live log line of a container pod, its events, and an exec terminal', async () => {
    const pod = (await c.client.list(kindFor('v1', 'Pod')!, 'default')).items.find((p: any) =>
      p.metadata.name.startsWith('counter-'),
    )!;
    await page.goto(`${c.server}/ui/#/pods/default/${pod.metadata.name}`);
    const logs = page.getByLabel(`Logs of ${pod.metadata.name}/count`);
    const countNow = async () =>
      Math.max(0, ...[...(await logs.innerText()).matchAll(/count (\d+)/g)].map((m) => Number(m[1])));
    const first = await waitFor('a log line', async () => (await countNow()) || undefined, 30_000);
    // A line printed after the page opened arrives on the followed stream.
    await waitFor('a newer log line', async () => (await countNow()) > first, 30_000);
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.getByText('Scheduled').first().waitFor();
    await screenshot('pod', [pod.metadata.name, 'Logs', 'container', 'Usage over time']);
    await accessible('pod detail');

    await page.getByRole('button', { name: /Open a shell/ }).click();
    await page.getByText('Terminal: connected').waitFor({ timeout: 30_000 });
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('echo from-ui-$((6*7))\n');
    await waitFor(
      'the shell output',
      async () => (await page.locator('.xterm-rows').innerText()).includes('from-ui-42'),
      30_000,
    );
    await page.getByRole('button', { name: 'Close terminal' }).click();

    // The node's page: its conditions, tiers and charts over time.
    await page.getByRole('link', { name: 'node-a' }).first().click();
    await page.getByRole('heading', { name: 'Node node-a' }).waitFor();
    await page.getByRole('table', { name: 'Conditions' }).getByText('Ready').first().waitFor();
    await page.getByText('CPU (cores)').first().waitFor();
    await accessible('node detail');
  }, 120_000);

  it('scales a Deployment from the UI; the API sees it', async () => {
    await page.goto(`${c.server}/ui/#/workloads/container`);
    const input = page.getByLabel('Replicas for default/counter');
    await input.fill('2');
    await page.getByRole('row').filter({ has: input }).getByRole('button', { name: 'Scale' }).click();
    await page.getByText('scaled to 2').waitFor();
    const d = await c.client.get(kindFor('apps/v1', 'Deployment')!, 'default', 'counter');
    expect(d.spec.replicas).toBe(2);
    await waitFor('two counter pods in the table', async () => {
      const rows = page
        .getByRole('table', { name: 'Pods on container' })
        .getByRole('row')
        .filter({ hasText: 'counter-' });
      return (await rows.count()) === 2;
    });
    await screenshot('workloads', ['Workloads on the container tier', 'counter']);
    await accessible('workloads');
  }, 120_000);

  it('shows the server field error of a bad manifest next to the field, and changes nothing', async () => {
    await page.goto(`${c.server}/ui/#/apply`);
    const bad = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: -1
  selector:
    matchLabels: { app: broken }
  template:
    metadata:
      labels: { app: broken }
    spec:
      containers:
        - name: main
          image: localhost/busybox:1.0
`;
    await page.getByLabel('Manifest (YAML)').fill(bad);
    await page.getByRole('button', { name: 'Apply' }).click();
    const marker = page.locator('.field-error[data-field="spec.replicas"]');
    await marker.waitFor();
    expect(await marker.innerText()).toMatch(/spec\.replicas: .*Invalid value/);
    // Drawn on the line of `replicas:` (line 6).
    expect(await marker.getAttribute('data-line')).toBe('6');
    await page.getByRole('alert').filter({ hasText: 'line 6' }).waitFor();
    expect(await c.client.find(kindFor('apps/v1', 'Deployment')!, 'default', 'broken')).toBeUndefined();
    await screenshot('apply-error', ['spec.replicas', 'line 6']);
    await accessible('apply');

    // The same editor applies a good manifest (server-side apply).
    await page.getByLabel('Manifest (YAML)').fill(bad.replace('replicas: -1', 'replicas: 0'));
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Deployment/broken applied').waitFor();
    const made = await c.client.get(kindFor('apps/v1', 'Deployment')!, 'default', 'broken');
    expect(made.spec.replicas).toBe(0);
  }, 60_000);

  it('shows alerts (or says they are unavailable) and events; logout ends the session', async () => {
    await page.goto(`${c.server}/ui/#/alerts`);
    await page.getByRole('heading', { name: 'Alerts and policy violations' }).waitFor();
    await page
      .getByText(/Alerts unavailable|No alerts are firing|\(\d+\)/)
      .first()
      .waitFor();
    await page
      .getByText(/policy violations reported|Policy reports unavailable|\(\d+\)/)
      .first()
      .waitFor();
    await accessible('alerts');
    await page.goto(`${c.server}/ui/#/events`);
    await page.getByRole('table', { name: 'Events' }).getByText('Scheduled').first().waitFor();
    await accessible('events');

    // Keyboard: the navigation is reachable and works with Tab and Enter.
    await page.goto(`${c.server}/ui/#/events`);
    await page.getByRole('table', { name: 'Events' }).waitFor();
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab'); // first navigation link
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Cluster overview' }).waitFor();

    const cookies = await page.context().cookies();
    const session = cookies.find((k) => k.name === '__Host-strata-session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Bearer token').waitFor();
    // The old cookie is worth nothing now, even from the dashboard's own origin.
    const status = await page.evaluate(async () => (await fetch('/api/v1/namespaces')).status);
    expect(status).toBe(401);
  }, 60_000);
});
