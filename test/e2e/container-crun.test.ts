// The container tier on crun instead of runc (`strata up --container-runtime crun`): the node says which
// runtime it uses, a pod runs to completion with its output and exit code, a long-running one serves and
// stops within its grace period. On this kind of hybrid-cgroup host crun's create runs in a private mount
// namespace (src/sandbox/container/runtime.ts); the driver's own tests cover that wrapper, this one the
// flag's way from the command line to the driver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, missingTools, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const nodes = kindFor('v1', 'Node')!;

const why = missingTools(['crun', 'conmon', 'iptables'], 'the container tier needs root');
if (why) console.warn(`skipping the crun e2e tests: ${why}`);

let c: Cluster;

describe.skipIf(!!why)('the container tier on crun', () => {
  beforeAll(async () => {
    c = await new Cluster().up(['--runtimes', 'container', '--container-runtime', 'crun']);
    await c.importTestImages('busybox');
  }, 300_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('the node reports crun as its container runtime', async () => {
    const { items } = await c.client.list(nodes, undefined);
    expect(items).toHaveLength(1);
    expect((items[0] as any).metadata.annotations['strata.dev/container.runtime']).toBe('crun');
  });

  it('runs a pod to completion: its output, its exit code', async () => {
    const applied = await c.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: { name: once }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo "hello from crun, pid $$"; exit 3']
`,
    });
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      'once to finish',
      async () => (await c.client.get(pods, 'default', 'once')).status?.phase === 'Failed',
      120_000,
    );
    const pod: any = await c.client.get(pods, 'default', 'once');
    expect(pod.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    // A PID of its own PID namespace (the node's init is 1, the command 2), as with runc.
    const log = (await c.kubectl(['logs', 'once'])).stdout;
    expect(log).toMatch(/^hello from crun, pid \d+\n$/);
    expect(Number(/pid (\d+)/.exec(log)![1])).toBeLessThan(10);
  });

  it('stops a long-running pod within its grace period', async () => {
    const applied = await c.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: { name: sleeper }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sleep, '3600']
`,
    });
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      'sleeper running',
      async () => (await c.client.get(pods, 'default', 'sleeper')).status?.phase === 'Running',
      120_000,
    );
    const deleted = await c.kubectl(['delete', 'pod', 'sleeper', '--wait=true', '--timeout=60s'], {
      timeoutMs: 70_000,
    });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await c.client.find(pods, 'default', 'sleeper')).toBeUndefined();
  });
});
