// End to end with the control plane and the node agent as two processes (`strata server` +
// `strata agent --server URL --token-file F`): the same paths as `strata up`, over the network.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, fixture, waitFor, wasm } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const leases = kindFor('coordination.k8s.io/v1', 'Lease')!;
let c: Cluster;

beforeAll(async () => {
  wasm('hello');
  c = await new Cluster().serverAndAgent();
});

afterAll(async () => {
  await c?.stop();
});

describe('strata server + strata agent (two processes)', () => {
  it('the agent registers its node and renews its lease', async () => {
    const lease = await c.client.get(leases, 'kube-node-lease', 'node-b');
    expect(lease.spec.holderIdentity).toBe('node-b');
    const nodes = await c.cli(['get', 'nodes']);
    expect(nodes.stdout).toMatch(/node-b\s+Ready\s+wasm/);
  });

  it('runs a wasm pod and streams its logs through the server', async () => {
    const r = await c.cli(['run', '--rm', 'wasm', wasm('hello'), '--', 'two', 'procs']);
    expect(r.stdout).toContain('argv[2] = procs');
    expect(r.code).toBe(0);
  });

  it('mounts ConfigMap, Secret and emptyDir volumes and resolves env references', async () => {
    const manifest = `
apiVersion: v1
kind: ConfigMap
metadata: { name: app-config }
data: { greeting.txt: "hello from a configmap\\n", mode: fast }
---
apiVersion: v1
kind: Secret
metadata: { name: app-secret }
stringData: { token: s3cr3t }
---
apiVersion: v1
kind: Pod
metadata: { name: volumes }
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: ${fixture('fs-tool')}
      args: [cat, /config/greeting.txt, ',', cat, /secret/token, ',', write, /scratch/out.txt, written, ',', write, /config/nope, x]
      env:
        - { name: MODE, valueFrom: { configMapKeyRef: { name: app-config, key: mode } } }
      volumeMounts:
        - { name: config, mountPath: /config }
        - { name: secret, mountPath: /secret }
        - { name: scratch, mountPath: /scratch }
  volumes:
    - { name: config, configMap: { name: app-config } }
    - { name: secret, secret: { secretName: app-secret } }
    - { name: scratch, emptyDir: {} }
`;
    const file = join(c.dir, 'volumes.yaml');
    writeFileSync(file, manifest);
    const applied = await c.cli(['apply', '-f', file]);
    expect(applied.stdout).toContain('pod/volumes created');
    const pod = await waitFor('volumes pod finished', async () => {
      const p = await c.client.get(pods, 'default', 'volumes');
      return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p : undefined;
    });
    const logs = await c.cli(['logs', 'volumes']);
    expect(logs.stdout).toContain('hello from a configmap');
    expect(logs.stdout).toContain('s3cr3t');
    expect(logs.stdout).toContain('OK write');
    // configMap volumes are read-only: the one failed write is the exit code
    expect(logs.stdout).toMatch(/ERR write \/config\/nope/);
    expect(pod.status.containerStatuses[0].state.terminated.exitCode).toBe(1);
  });

  it('a pod referencing a missing ConfigMap waits with CreateContainerConfigError', async () => {
    const r = await c.cli(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: { name: missing-ref }
spec:
  containers:
    - name: main
      image: ${wasm('hello')}
      env: [{ name: X, valueFrom: { configMapKeyRef: { name: does-not-exist, key: k } } }]
`,
    });
    expect(r.code).toBe(0);
    const waiting = await waitFor('config error reported', async () => {
      const p = await c.client.get(pods, 'default', 'missing-ref');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError'
        ? p
        : undefined;
    });
    expect(waiting.status.containerStatuses[0].state.waiting.message).toContain(
      'configmap "does-not-exist" not found',
    );
    const got = await c.cli(['get', 'pod', 'missing-ref']);
    expect(got.stdout).toContain('CreateContainerConfigError');
    await c.cli(['delete', 'pod', 'missing-ref']);
  });

  it('restarts a failing container with back-off and keeps the previous log', async () => {
    const r = await c.cli([
      'run',
      '-d',
      '--name',
      'crasher',
      '--restart',
      'Always',
      '-e',
      'EXIT_CODE=2',
      'wasm',
      wasm('hello'),
    ]);
    expect(r.code).toBe(0);
    const pod = await waitFor('a restart', async () => {
      const p = await c.client.get(pods, 'default', 'crasher');
      return p.status?.containerStatuses?.[0]?.restartCount >= 1 ? p : undefined;
    });
    const cs = pod.status.containerStatuses[0];
    expect(cs.lastState.terminated.exitCode).toBe(2);
    const prev = await c.cli(['logs', '--previous', 'crasher']);
    expect(prev.stdout).toContain('Hello from Strata wasm!');
    await waitFor('CrashLoopBackOff shown', async () =>
      (await c.cli(['get', 'pod', 'crasher'])).stdout.includes('CrashLoopBackOff'),
    );
    await c.cli(['delete', 'pod', 'crasher']);
  });

  it('bad manifests get one clear error line and change nothing', async () => {
    const before = await c.client.list(pods, 'default');
    const malformed = await c.cli(['apply', '-f', '-'], {
      input: 'apiVersion: v1\nkind: Pod\nmetadata: { name: x\n',
    });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/invalid YAML/);
    expect(malformed.stderr.trim().split('\n')).toHaveLength(1);
    const unknown = await c.cli(['apply', '-f', '-'], {
      input:
        'apiVersion: v1\nkind: Pod\nmetadata: { name: y }\nspec:\n  containers: [{ name: a, image: /x.wasm, bogus: 1 }]\n',
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('spec.containers[0].bogus');
    const after = await c.client.list(pods, 'default');
    expect(after.items.map((p) => p.metadata.name).sort()).toEqual(
      before.items.map((p) => p.metadata.name).sort(),
    );
  });
});
