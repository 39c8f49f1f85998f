// `kubectl debug` end to end on the container tier: an ephemeral container joins a running pod (its
// network and volumes), runs once, and its output and exit are read like any container's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, waitFor, missingTools } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables'], 'the container tier needs root');
}

const why = missing();
if (why) console.warn(`skipping kubectl debug e2e tests: ${why}`);

let c: Cluster;

describe.skipIf(!!why)('kubectl debug (ephemeral containers)', () => {
  beforeAll(async () => {
    c = await new Cluster().up(['--runtimes', 'container']);
    await c.importTestImages(['httpd', 'busybox']);
    const applied = await c.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: { name: web }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 1
  containers:
    - name: httpd
      image: localhost/httpd:1.0
      volumeMounts: [{ name: shared, mountPath: /shared }]
  initContainers:
    - name: seed
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo seeded > /shared/note']
      volumeMounts: [{ name: shared, mountPath: /shared }]
  volumes: [{ name: shared, emptyDir: {} }]
`,
    });
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      'web running',
      async () => (await c.client.get(pods, 'default', 'web')).status?.phase === 'Running',
    );
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('runs a debug container in the pod’s network, reports its exit, and never restarts it', async () => {
    const debug = await c.kubectl([
      'debug',
      'web',
      '-c',
      'dbg',
      '--image=localhost/busybox:1.0',
      '--',
      'sh',
      '-c',
      'echo from-debug; wget -qO- http://127.0.0.1:8080/; exit 7',
    ]);
    expect(debug.code, debug.stderr).toBe(0);
    const pod = await waitFor('dbg terminated', async () => {
      const p = await c.client.get(pods, 'default', 'web');
      const s = p.status?.ephemeralContainerStatuses?.find((x: any) => x.name === 'dbg');
      return s?.state?.terminated ? p : undefined;
    });
    const status = pod.status.ephemeralContainerStatuses.find((x: any) => x.name === 'dbg');
    expect(status.state.terminated.exitCode).toBe(7);
    expect(status.restartCount).toBe(0);
    // The pod itself is untouched: still running, still ready, its own container not restarted.
    expect(pod.status.phase).toBe('Running');
    expect(pod.status.containerStatuses[0].restartCount).toBe(0);
    // It reached the app container over the pod's loopback: the same network namespace.
    const logs = await c.kubectl(['logs', 'web', '-c', 'dbg']);
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toContain('from-debug');
    expect(logs.stdout).toContain('hello from strata httpd');
    const described = await c.kubectl([
      'get',
      'pod',
      'web',
      '-o',
      'jsonpath={.spec.ephemeralContainers[*].name}',
    ]);
    expect(described.stdout).toBe('dbg');
  });

  it('kubectl debug -i attaches to the debug container’s stdin', async () => {
    const r = await c.kubectl(
      ['debug', '-i', 'web', '-c', 'dbg-i', '--image=localhost/busybox:1.0', '--', 'sh'],
      { input: 'echo attached-$((6*7)); exit 0\n', timeoutMs: 60_000 },
    );
    expect(r.stdout).toContain('attached-42');
    expect(r.code, r.stderr).toBe(0);
  });

  it('an ephemeral container cannot be changed or removed, and a plain update cannot add one', async () => {
    const removed = await c.kubectl([
      'patch',
      'pod',
      'web',
      '--subresource=ephemeralcontainers',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]',
    ]);
    expect(removed.code).not.toBe(0);
    expect(removed.stderr).toContain('existing ephemeral containers "dbg" may not be removed');
    const added = await c.kubectl([
      'patch',
      'pod',
      'web',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"x","image":"localhost/busybox:1.0"}}]',
    ]);
    expect(added.code).not.toBe(0);
    expect(added.stderr).toContain('pod updates may not change fields of spec');
  });
});
