// End to end, one process (`strata up`): the request path from CLI to a running WASI module and back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, ROOT, fixture, waitFor, wasm } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;
const jobs = kindFor('batch/v1', 'Job')!;

let c: Cluster;

beforeAll(async () => {
  wasm('hello');
  c = await new Cluster().up();
});

afterAll(async () => {
  await c?.stop();
});

describe('strata up (single process)', () => {
  it('run --rm returns the program output and exit code', async () => {
    const ok = await c.cli(['run', '--rm', 'wasm', wasm('hello'), '--', 'world']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('Hello from Strata wasm!');
    expect(ok.stdout).toContain('argv[1] = world');
    expect(ok.code).toBe(0);

    const failing = await c.cli(['run', '--rm', '-e', 'EXIT_CODE=3', 'wasm', wasm('hello')]);
    expect(failing.code).toBe(3);
    // --rm removed both pods
    const left = await c.client.list(pods, 'default', { labelSelector: 'strata.dev/run' });
    expect(left.items).toHaveLength(0);
  });

  it('a pod over its memory limit fails with reason OOMKilled', async () => {
    const r = await c.cli(['run', '--name', 'hog', '--memory', '16Mi', 'wasm', fixture('memory-hog')]);
    expect(r.code).not.toBe(0);
    const pod = await c.client.get(pods, 'default', 'hog');
    expect(pod.status.phase).toBe('Failed');
    const term = pod.status.containerStatuses[0].state.terminated;
    expect(term.reason).toBe('OOMKilled');
    expect(term.message).toMatch(/16 MiB/);
    const got = await c.cli(['get', 'pods', 'hog']);
    expect(got.stdout).toMatch(/hog\s+0\/1\s+OOMKilled/);
  });

  it('a Deployment of 3 wasm replicas keeps 3 running after one is deleted', async () => {
    const r = await c.cli(['apply', '-f', `${ROOT}/examples/ticker-deployment.yaml`]);
    expect(r.stdout).toContain('deployment.apps/ticker created');
    const running = async () => {
      const list = await c.client.list(pods, 'default', { labelSelector: 'app=ticker-fleet' });
      const live = list.items.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
      return live.length === 3 ? live : undefined;
    };
    const first = await waitFor('3 running replicas', running);
    const victim = first[0].metadata.name;
    const del = await c.cli(['delete', 'pod', victim]);
    expect(del.code).toBe(0);
    const second = await waitFor('3 running replicas again', async () => {
      const live = await running();
      return live && !live.some((p) => p.metadata.name === victim) ? live : undefined;
    });
    expect(second).toHaveLength(3);
    const d = await waitFor('deployment ready 3/3', async () => {
      const d = await c.client.get(deployments, 'default', 'ticker');
      return d.status?.readyReplicas === 3 ? d : undefined;
    });
    expect(d.status.replicas).toBe(3);
    // Re-applying the same manifest changes nothing (server-managed annotations are kept).
    const again = await c.cli(['apply', '-f', `${ROOT}/examples/ticker-deployment.yaml`]);
    expect(again.stdout).toContain('deployment.apps/ticker unchanged');
    // The replicas produce output that `strata logs` reads through the server and the agent.
    const logs = await waitFor('ticker output', async () => {
      const l = await c.cli(['logs', second[0].metadata.name]);
      return l.stdout.includes('tick 1') ? l : undefined;
    });
    expect(logs.code).toBe(0);
    await c.cli(['delete', 'deployment', 'ticker']);
    await waitFor('deployment pods gone', async () => {
      const list = await c.client.list(pods, 'default', { labelSelector: 'app=ticker-fleet' });
      return list.items.length === 0;
    });
  });

  it('a Job with completions 5 and parallelism 2 completes', async () => {
    const r = await c.cli(['apply', '-f', `${ROOT}/examples/hello-job.yaml`]);
    expect(r.code).toBe(0);
    let maxActive = 0;
    const job = await waitFor(
      'job complete',
      async () => {
        const j = await c.client.get(jobs, 'default', 'hello');
        maxActive = Math.max(maxActive, j.status?.active ?? 0);
        return j.status?.conditions?.some((x: any) => x.type === 'Complete' && x.status === 'True')
          ? j
          : undefined;
      },
      90_000,
    );
    expect(job.status.succeeded).toBe(5);
    expect(maxActive).toBeLessThanOrEqual(2);
    const list = await c.client.list(pods, 'default', { labelSelector: 'job-name=hello' });
    expect(list.items.filter((p) => p.status?.phase === 'Succeeded').length).toBe(5);
    const log = await c.cli(['logs', list.items[0].metadata.name]);
    expect(log.stdout).toContain('GREETING = hi from a ConfigMap');
    const got = await c.cli(['get', 'jobs']);
    expect(got.stdout).toMatch(/hello\s+Complete\s+5\/5/);
  });

  it('serves HTTPS and rejects requests without a credential with 401', async () => {
    expect(c.server).toMatch(/^https:\/\//);
    const res = await c.anonymous('/api/v1/namespaces/default/pods');
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    const wrong = await c.anonymous('/api/v1/namespaces/default/pods', { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect((await c.anonymous('/healthz')).status).toBe(200);
  });

  it('get, describe and version speak kubectl', async () => {
    const nodes = await c.cli(['get', 'nodes', '-o', 'wide']);
    expect(nodes.stdout).toMatch(/node-a\s+Ready\s+wasm/);
    const desc = await c.cli(['describe', 'node', 'node-a']);
    expect(desc.stdout).toContain('Runtime classes:  wasm');
    const v = await c.cli(['version']);
    expect(v.stdout).toMatch(/Server Version: v0\.1\.0 \(Kubernetes API v1\.32\.0\+strata\.0\.1\.0\)/);
    const bad = await c.cli(['get', 'widgets']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('doesn\'t have a resource type "widgets"');
  });
});
