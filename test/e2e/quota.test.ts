// ResourceQuota and LimitRange through the real kubectl and a real cluster: `kubectl create quota`,
// 50 concurrent pod creates against pods: 10 (exactly 10 admitted, used stays 10), kube's refusal
// message, pods that finish release their usage, and LimitRange defaults on the created pod.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, waitFor, wasm } from './harness.ts';

const PODS = kindFor('v1', 'Pod')!;
let c: Cluster;
const kubectl = (args: string[], input?: string) => c.kubectl(args, { input });
/** `kubectl run` refuses a wasm module's file path as an image name, so pods are applied. */
const runPod = (name: string, ns: string, image: string, restart = 'Always') =>
  kubectl(
    ['apply', '-n', ns, '-f', '-'],
    `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"${name}"},"spec":{"restartPolicy":"${restart}","containers":[{"name":"m","image":"${image}"}]}}`,
  );
const jsonpath = async (args: string[]) => (await kubectl([...args, '-o', 'jsonpath={.status.used}'])).stdout;

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
});
afterAll(async () => {
  await c?.stop();
});

describe('ResourceQuota and LimitRange with kubectl', () => {
  it('50 concurrent creates against pods=10: exactly 10 admitted, used stays exact, kube message', async () => {
    expect((await kubectl(['create', 'namespace', 'q'])).code).toBe(0);
    const created = await kubectl(['create', 'quota', 'count', '-n', 'q', '--hard=pods=10']);
    expect(created.stdout.trim()).toBe('resourcequota/count created');
    await waitFor(
      'quota counted',
      async () => (await jsonpath(['get', 'quota', 'count', '-n', 'q'])) === '{"pods":"0"}',
    );
    const pod = (i: number) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}` },
      spec: { containers: [{ name: 'm', image: wasm('ticker') }] },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => c.client.create(PODS, pod(i), 'q')),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(10);
    const refusals = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refusals.length).toBe(40);
    for (const r of refusals)
      expect(String(r.reason?.message ?? r.reason)).toContain('exceeded quota: count');
    expect(await jsonpath(['get', 'quota', 'count', '-n', 'q'])).toBe('{"pods":"10"}');
    const over = await runPod('over', 'q', wasm('ticker'));
    expect(over.code).not.toBe(0);
    expect(over.stderr.trim()).toBe(
      'Error from server (Forbidden): error when creating "STDIN": pods "over" is forbidden: exceeded quota: count, requested: pods=1, used: pods=10, limited: pods=10',
    );
    const table = await kubectl(['get', 'quota', '-n', 'q']);
    expect(table.stdout).toMatch(/^NAME\s+AGE\s+REQUEST\s+LIMIT\ncount\s+\S+\s+pods: 10\/10\s*\n$/);
  });

  it('pods that finish release their usage; LimitRange defaults appear on the created pod', async () => {
    expect((await kubectl(['create', 'namespace', 'lr'])).code).toBe(0);
    const applied = await kubectl(
      ['apply', '-n', 'lr', '-f', '-'],
      `
apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 200m, memory: 64Mi}
    defaultRequest: {cpu: 100m, memory: 32Mi}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute}
spec:
  hard: {requests.cpu: 250m, requests.memory: 1Gi}
`,
    );
    expect(applied.stdout).toContain('limitrange/defaults created');
    const run = await runPod('once', 'lr', wasm('hello'), 'Never');
    expect(run.stdout.trim()).toBe('pod/once created');
    const resources = await kubectl([
      'get',
      'pod',
      'once',
      '-n',
      'lr',
      '-o',
      'jsonpath={.spec.containers[0].resources}',
    ]);
    expect(JSON.parse(resources.stdout)).toEqual({
      limits: { cpu: '200m', memory: '64Mi' },
      requests: { cpu: '100m', memory: '32Mi' },
    });
    // Two pods' requests (200m) fit, a third (300m) does not — until `once` has finished.
    await waitFor(
      'once Succeeded',
      async () =>
        (await kubectl(['get', 'pod', 'once', '-n', 'lr', '-o', 'jsonpath={.status.phase}'])).stdout ===
        'Succeeded',
    );
    await waitFor(
      'usage released',
      async () =>
        (await jsonpath(['get', 'quota', 'compute', '-n', 'lr'])) ===
        '{"requests.cpu":"0","requests.memory":"0"}',
    );
    expect((await runPod('a', 'lr', wasm('ticker'))).code).toBe(0);
    expect((await runPod('b', 'lr', wasm('ticker'))).code).toBe(0);
    const third = await runPod('c', 'lr', wasm('ticker'));
    expect(third.stderr).toContain(
      'exceeded quota: compute, requested: requests.cpu=100m, used: requests.cpu=200m, limited: requests.cpu=250m',
    );
  });
});
