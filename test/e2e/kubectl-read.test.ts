// The real kubectl (1.32) reading a Strata cluster: discovery (api-resources, aggregated discovery),
// OpenAPI v3 (explain, apply's field validation), and server-side Table output (get, -o wide, -A, -w).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allKinds, kindFor } from '../../src/api/index.ts';
import { Cluster, waitFor, wasm } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
let c: Cluster;
/** kubectl with a cache directory of this cluster's own (discovery and OpenAPI are cached on disk). */
const kubectl = (args: string[], input?: string) =>
  c.kubectl(['--cache-dir', join(c.dir, 'kube-cache'), ...args], { input });

const deployment = (replicas: number) => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: ${wasm('ticker')}
        ports:
        - containerPort: 8080
`;

/** The lines of a table, split on kubectl's column gaps (two or more spaces). */
const cells = (line: string) => line.trim().split(/\s{2,}/);

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
});
afterAll(async () => {
  await c?.stop();
});

describe('kubectl against Strata', () => {
  it('api-resources from aggregated discovery: two requests, kubectl’s columns, verbs and categories', async () => {
    const r = await kubectl(['api-resources', '-v=6']);
    expect(r.code).toBe(0);
    const requests = r.stderr.split('\n').filter((l) => /round_trippers.*GET /.test(l));
    expect(
      requests.map(
        (l) =>
          /GET (\S+)/
            .exec(l)![1]
            .replace(/^https:\/\/[^/]+/, '')
            .split('?')[0],
      ),
    ).toEqual(['/api', '/apis']);
    const lines = r.stdout.trim().split('\n');
    expect(cells(lines[0])).toEqual(['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND']);
    expect(lines.map(cells)).toContainEqual(['pods', 'po', 'v1', 'true', 'Pod']);
    expect(lines.map(cells)).toContainEqual(['deployments', 'deploy', 'apps/v1', 'true', 'Deployment']);
    expect(lines.map(cells)).toContainEqual([
      'selfsubjectreviews',
      'authentication.k8s.io/v1',
      'false',
      'SelfSubjectReview',
    ]);

    const wide = await kubectl(['api-resources', '-o', 'wide']);
    const podRow = wide.stdout.split('\n').find((l) => l.startsWith('pods '))!;
    expect(cells(podRow).slice(-2)).toEqual(['create,delete,get,list,patch,update,watch', 'all']);
    const all = await kubectl(['api-resources', '--categories=all', '-o', 'name']);
    // Kubernetes' "all" category, as far as Strata serves those kinds.
    const served = new Set(allKinds().map((k) => (k.group ? `${k.plural}.${k.group}` : k.plural)));
    const kubeAll = [
      'pods',
      'services',
      'replicationcontrollers',
      'deployments.apps',
      'daemonsets.apps',
      'replicasets.apps',
      'statefulsets.apps',
      'jobs.batch',
      'cronjobs.batch',
      'horizontalpodautoscalers.autoscaling',
    ];
    expect(all.stdout.trim().split('\n').sort()).toEqual(kubeAll.filter((r) => served.has(r)).sort());
    expect(all.stdout).toMatch(/^pods$/m);
  });

  it('explain reads the OpenAPI v3 documents', async () => {
    const ports = await kubectl(['explain', 'pod.spec.containers.ports']);
    expect(ports.code).toBe(0);
    expect(ports.stdout).toMatch(/KIND:\s+Pod/);
    expect(ports.stdout).toMatch(/FIELD:\s+ports <\[\]ContainerPort>/);
    expect(ports.stdout).toMatch(/containerPort\s+<integer> -required-/);
    expect(ports.stdout).toMatch(/protocol\s+<string>\s+enum: TCP, UDP/);

    const deploy = await kubectl(['explain', 'deployment', '--recursive']);
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toMatch(/GROUP:\s+apps/);
    expect(deploy.stdout).toMatch(/DESCRIPTION:\s+Deployment keeps a number of identical pods/);
    expect(deploy.stdout).toMatch(/metadata\s+<ObjectMeta>/);
    expect(deploy.stdout).toMatch(/strategy\s+<DeploymentStrategy>/);
    expect(deploy.stdout).toMatch(/maxSurge\s+<IntOrString>/);
    expect(deploy.stdout).toMatch(/containers\s+<\[\]Container> -required-/);

    const tier = await kubectl(['explain', 'pods.spec.runtimeClassName']);
    expect(tier.stdout).toMatch(/FIELD:\s+runtimeClassName <string>/);
    expect(tier.stdout).toMatch(/sandbox tier/);

    const missing = await kubectl(['explain', 'pod.spec.nosuchfield']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nosuchfield/);
  });

  it('apply validates through the server (fieldValidation from OpenAPI v3; no /openapi/v2)', async () => {
    const r = await kubectl(['apply', '-f', '-', '-v=6'], deployment(2));
    expect(r.stdout).toContain('deployment.apps/web created');
    expect(r.stderr).not.toContain('/openapi/v2');
    expect(r.stderr).toMatch(/fieldValidation=Strict/);
    const bad = await kubectl(
      ['apply', '-f', '-'],
      deployment(1).replace('containerPort:', 'containerPortX:'),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/containerPortX/);
    await waitFor('2 running web pods', async () => {
      const list = await c.client.list(pods, 'default', { labelSelector: 'app=web' });
      return list.items.filter((p) => p.status?.phase === 'Running').length === 2;
    });
  });

  it('get prints the same table as strata get, -o wide and -A like kubectl', async () => {
    const k = await kubectl(['get', 'pods', '-l', 'app=web']);
    const s = await c.cli(['get', 'pods', '-l', 'app=web']);
    expect(k.code).toBe(0);
    const kLines = k.stdout.trim().split('\n');
    expect(cells(kLines[0])).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    // Ages may tick between the two commands: compare everything else.
    const withoutAge = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => cells(l).slice(0, 4));
    expect(withoutAge(k.stdout)).toEqual(withoutAge(s.stdout));
    expect(kLines.slice(1).every((l) => /^web-\S+\s+1\/1\s+Running\s+0\s+\d+s$/.test(l))).toBe(true);

    const wide = await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'wide']);
    const header = cells(wide.stdout.split('\n')[0]);
    expect(header).toEqual([
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
      'RUNTIME',
    ]);
    expect(cells(wide.stdout.split('\n')[1]).slice(6)).toEqual(['node-a', '<none>', '<none>', 'wasm']);

    const all = await kubectl(['get', 'pods', '-A']);
    expect(cells(all.stdout.split('\n')[0])).toEqual([
      'NAMESPACE',
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
    ]);
    expect(all.stdout).toMatch(/^default\s+web-\S+\s+1\/1\s+Running/m);

    const deploy = await kubectl(['get', 'deployments', '-o', 'wide']);
    expect(cells(deploy.stdout.split('\n')[0])).toEqual([
      'NAME',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'STATUS',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR',
    ]);
    expect(deploy.stdout).toMatch(
      /^web\s+2\/2\s+2\s+2\s+Available\s+\S+\s+main\s+\S+ticker\.wasm\s+app=web$/m,
    );

    const nodes = await kubectl(['get', 'nodes']);
    expect(nodes.stdout).toMatch(/^node-a\s+Ready\s+wasm\s+/m);
    const everything = await kubectl(['get', 'all']);
    expect(everything.stdout).toMatch(/^pod\/web-\S+\s+1\/1\s+Running/m);
    expect(everything.stdout).toMatch(/^deployment\.apps\/web\s+2\/2/m);
  });

  it('get -w prints the table once, then one line per change', async () => {
    const args = [
      '--kubeconfig',
      c.kubeconfig,
      '--cache-dir',
      join(c.dir, 'kube-cache'),
      'get',
      'pods',
      '-w',
    ];
    const watcher = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d) => (out += d));
    try {
      await waitFor('the initial table', () => out.includes('NAME'), 20_000);
      const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"watched"},"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"${wasm('hello')}"}]}}`;
      const r = await kubectl(['create', '-f', '-'], pod);
      expect(r.code, r.stderr).toBe(0);
      await waitFor('the new pod in the watch', () => /^watched\s+\d\/1\s+\S+\s+0\s+\S+$/m.test(out), 20_000);
    } finally {
      watcher.kill('SIGTERM');
    }
    const lines = out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('NAME')).length).toBe(1);
    expect(cells(lines[0])).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
  });
});
