// The container tier across an agent crash, and images that come from a registry: an image pushed to a
// local registry by skopeo is pulled by Strata and runs; `kill -9` of the agent leaves its containers
// running (hostPort and a NodePort Service still answer by node port and cluster IP: the kernel rules
// stay, output still logged), and a restarted agent re-adopts them with their logs instead of restarting
// them and reconciles the Service table from the API without a duplicate rule or element.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { ImageStore, RegistryClient, pushImage } from '../../src/image/index.ts';
import { wasmArtifact } from '../../src/image/testing/fixtures.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { startLocalRegistry, type LocalRegistry } from '../../src/image/testing/local-registry.ts';
import { networkNames } from '../../src/net/network-names.ts';
import { nftListElements, nftListTable } from '../../src/net/services/nft.ts';
import { buildTestImages, Cluster, missingTools, ROOT, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const services = kindFor('v1', 'Service')!;

/** What the node's Service table holds: chains, sets, maps, rules per chain and elements per map. */
async function serviceTable(table: string) {
  const t = await nftListTable('ip', table);
  if (!t) return undefined;
  const maps = [...t.maps].sort();
  const elements = await Promise.all(
    maps.map(async (m) => [m, (await nftListElements('ip', table, 'map', m)).length] as const),
  );
  return {
    chains: [...t.chains].sort(),
    sets: [...t.sets].sort(),
    rules: [...t.rules.entries()].sort(),
    elements,
  };
}

function missing(): string | undefined {
  return missingTools(
    ['runc', 'conmon', 'iptables', 'nft', 'skopeo', 'docker-registry'],
    'the container tier needs root',
  );
}

const why = missing();
if (why) console.warn(`skipping container agent-restart e2e tests: ${why}`);

let c: Cluster;
let registry: LocalRegistry;

describe.skipIf(!!why)('container tier: registry images and agent crashes', () => {
  it('runs a wasm module published as an OCI artifact, pulled through the node image store', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'strata-wasm-artifact-'));
    try {
      const src = new ImageStore(tmp);
      await src.tag('hello:1', await wasmArtifact(src, readFileSync(join(ROOT, 'build/wasm/hello.wasm'))));
      await pushImage(src, 'hello:1', `${registry.host}/wasm/hello:1.0`, {
        client: new RegistryClient({ insecure: true }),
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const r = await c.cli(['run', '--rm', 'wasm', `${registry.host}/wasm/hello:1.0`, '--', 'from-oci']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('argv[1] = from-oci');
    expect(r.code).toBe(0);
  });

  beforeAll(async () => {
    buildTestImages();
    registry = await startLocalRegistry();
    for (const name of ['httpd', 'busybox']) {
      execFileSync('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${join(ROOT, 'build/images', name)}:latest`,
        `docker://${registry.host}/${name}:1.0`,
      ]);
    }
    c = await new Cluster().serverOnly();
    await c.addAgent('node-c', ['--runtimes', 'wasm,container']);
  });

  afterAll(async () => {
    await c?.stop();
    await registry?.stop();
  });

  it('runs an image pushed by skopeo, and re-adopts its containers after kill -9 of the agent', async () => {
    const port = await freePort();
    const file = join(c.dir, 'apps.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      runtimeClassName: container
      containers:
        - name: httpd
          image: ${registry.host}/httpd:1.0
          ports: [{ name: http, containerPort: 8080, hostPort: ${port} }]
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ port: 80, targetPort: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: counter }
spec:
  runtimeClassName: container
  containers:
    - name: counter
      image: ${registry.host}/busybox:1.0
      command: [sh, -c, 'i=0; while true; do echo "count $i"; i=$((i+1)); sleep 0.3; done']
`,
    );
    const applied = await c.cli(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const running = async () => {
      const list = await c.client.list(pods, 'default');
      const live = list.items.filter((p) => p.status?.phase === 'Running');
      return live.length === 2 ? live : undefined;
    };
    const before = await waitFor('both pods running', running, 90_000);
    const answer = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    };
    expect(await waitFor('hostPort answer', answer)).toContain('hello from strata httpd');
    const logged = async () =>
      Number(/count (\d+)\s*$/.exec((await c.cli(['logs', 'counter'])).stdout)?.[1] ?? -1);
    await waitFor('counter output', async () => (await logged()) >= 1);

    // The Service, by its node port and its cluster IP, from this host (the node).
    const svc = await c.client.get(services, 'default', 'web');
    const viaService = async () => {
      const texts = await Promise.all(
        [`127.0.0.1:${svc.spec.ports[0].nodePort}`, svc.spec.clusterIP].map((a) =>
          fetch(`http://${a}/`).then(
            (r) => (r.ok ? r.text() : ''),
            () => '',
          ),
        ),
      );
      return texts.every((t) => t.includes('hello from strata httpd')) && texts;
    };
    await waitFor('the Service answering by node port and cluster IP', viaService, 60_000);
    const table = networkNames(c.podBridge).serviceTable;
    const rulesBefore = await serviceTable(table);
    expect(
      rulesBefore?.elements.some(([, n]) => n > 0),
      `the Service's elements in ${table}`,
    ).toBe(true);

    await c.killAgent('node-c');
    // The containers outlive their agent: the hostPort and the Service still answer (kernel rules stay).
    expect(await answer()).toContain('hello from strata httpd');
    expect(await viaService(), 'the Service with its agent dead').toBeTruthy();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await viaService(), 'the Service with its agent dead').toBeTruthy();

    await c.restartAgent('node-c');
    const atRestart = await logged();
    // Output written while the agent was away reaches the log once the new agent re-adopts the container,
    // and it keeps coming.
    await waitFor('new counter output after re-adoption', async () => (await logged()) > atRestart + 2);
    const after = await running();
    expect(after?.map((p) => p.metadata.uid).sort()).toEqual(before.map((p) => p.metadata.uid).sort());
    for (const p of after!) expect(p.status.containerStatuses[0].restartCount).toBe(0);
    expect(await answer()).toContain('hello from strata httpd');
    // The restarted agent reconciled the Service table from the API: the same chains, rules and map
    // elements as before the crash, none twice; and the Service still answers.
    await waitFor(
      'the Service table as before the crash',
      async () => {
        const now = await serviceTable(table);
        return JSON.stringify(now) === JSON.stringify(rulesBefore);
      },
      30_000,
    ).catch(async (err) => {
      throw new Error(
        `${(err as Error).message}\nbefore: ${JSON.stringify(rulesBefore)}\nafter: ${JSON.stringify(await serviceTable(table))}`,
      );
    });
    expect(await viaService()).toBeTruthy();

    await c.cli(['delete', '-f', file]);
    // Containers outlive an agent that stops: remove them through the API before the cluster goes.
    await waitFor('pods gone', async () => (await c.client.list(pods, 'default')).items.length === 0, 60_000);
  });
});
