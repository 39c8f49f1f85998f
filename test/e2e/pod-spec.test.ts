// End to end, the Pod spec as the Kubernetes documentation writes it, on the container tier (real runc
// containers from the busybox test image) and on wasm where a field applies: multi-container pods sharing
// an emptyDir, init containers, the downward API, ConfigMap volumes, and bad input with a clear status.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, ROOT, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the container tier needs root';
  for (const bin of ['runc', 'conmon', 'iptables']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `${bin} is not installed`;
    }
  }
  return undefined;
}

const why = missing();
if (why) console.warn(`skipping pod-spec e2e tests: ${why}`);

let c: Cluster;

async function apply(name: string, yaml: string): Promise<void> {
  const file = join(c.dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const r = await c.cli(['apply', '-f', file]);
  expect(r.code, r.stderr).toBe(0);
}

const statusOf = (p: any, name: string): any =>
  [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find(
    (s: any) => s.name === name,
  );

describe.skipIf(!!why)('the Pod spec end to end (container tier)', () => {
  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
    c = await new Cluster().up();
    const root = join(c.dir, 'data', 'agent', 'images');
    const busybox = await c.cli([
      'image',
      'import',
      '--root',
      root,
      join(ROOT, 'build/images/busybox'),
      '--name',
      'localhost/busybox:1.0',
    ]);
    expect(busybox.code, busybox.stderr).toBe(0);
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('two containers share an emptyDir; the one that exits is reported terminated while its sibling runs (issue 8)', async () => {
    await apply(
      'shared',
      `apiVersion: v1
kind: Pod
metadata: { name: two-containers }
spec:
  runtimeClassName: container
  restartPolicy: Never
  volumes:
    - name: shared-data
      emptyDir: {}
  containers:
    - name: nginx-container
      image: localhost/busybox:1.0
      command: [sh, -c, 'sleep 3600']
      volumeMounts: [{ name: shared-data, mountPath: /usr/share/nginx/html }]
    - name: debian-container
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo Hello from the debian container > /pod-data/index.html']
      volumeMounts: [{ name: shared-data, mountPath: /pod-data }]
`,
    );
    const p = await waitFor('debian-container terminated while nginx-container runs', async () => {
      const p = await c.client.get(pods, 'default', 'two-containers');
      const done = statusOf(p, 'debian-container')?.state?.terminated;
      return done && statusOf(p, 'nginx-container')?.state?.running ? p : undefined;
    });
    expect(statusOf(p, 'debian-container').state.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
    });
    expect(p.status.phase).toBe('Running');
    const read = await c.cli([
      'exec',
      'two-containers',
      '-c',
      'nginx-container',
      '--',
      'cat',
      '/usr/share/nginx/html/index.html',
    ]);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('Hello from the debian container');
    const ended = await c.cli(['exec', 'two-containers', '-c', 'debian-container', '--', 'true']);
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toContain('not running');
    await c.cli(['delete', 'pod', 'two-containers', '--grace-period', '1']);
  });
});
