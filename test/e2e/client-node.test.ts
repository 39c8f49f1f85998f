// The official JavaScript client (@kubernetes/client-node) drives Strata unchanged over HTTPS with the
// kubeconfig `strata up` writes: list, watch, create, patch, logs and exec, as an application would.
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables'], 'the container tier needs root');
}
const why = missing();
if (why) console.warn(`skipping the client-node e2e tests: ${why}`);

let c: Cluster;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;

const busyboxPod = (name: string, script: string): k8s.V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'client-node' } },
  spec: {
    runtimeClassName: 'container',
    restartPolicy: 'Never',
    containers: [{ name: 'main', image: 'localhost/busybox:1.0', command: ['sh', '-c', script] }],
  },
});

describe.skipIf(!!why)('@kubernetes/client-node against Strata', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
    kc = new k8s.KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('uses the HTTPS server and the admin certificate from the kubeconfig', () => {
    const cluster = kc.getCurrentCluster()!;
    expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cluster.caData).toBeTruthy();
    expect(kc.getCurrentUser()!.certData).toBeTruthy();
  });

  it('lists, creates, patches and reads ConfigMaps', async () => {
    const ns = await core.listNamespace();
    expect(ns.items.map((n) => n.metadata!.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const created = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'settings' }, data: { mode: 'fast' } },
    });
    expect(created.metadata!.uid).toBeTruthy();
    await core.patchNamespacedConfigMap(
      { name: 'settings', namespace: 'default', body: { data: { level: '3' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const got = await core.readNamespacedConfigMap({ name: 'settings', namespace: 'default' });
    expect(got.data).toEqual({ mode: 'fast', level: '3' });
    await expect(
      core.readNamespacedConfigMap({ name: 'absent', namespace: 'default' }),
    ).rejects.toMatchObject({
      code: 404,
    });
  });

  it('watches a pod from creation to Succeeded and reads its log', async () => {
    const seen: string[] = [];
    let phase = '';
    const watch = new k8s.Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/default/pods',
      { labelSelector: 'app=client-node' },
      (type: string, obj: k8s.V1Pod) => {
        if (obj.metadata?.name !== 'greeter') return;
        seen.push(type);
        phase = obj.status?.phase ?? phase;
      },
      () => {},
    );
    await core.createNamespacedPod({
      namespace: 'default',
      body: busyboxPod('greeter', 'echo one; echo two'),
    });
    await waitFor('greeter Succeeded on the watch', () => phase === 'Succeeded');
    req.abort();
    expect(seen[0]).toBe('ADDED');
    expect(seen).toContain('MODIFIED');
    const log = await core.readNamespacedPodLog({ name: 'greeter', namespace: 'default' });
    expect(log).toBe('one\ntwo\n');
    const tail = await core.readNamespacedPodLog({ name: 'greeter', namespace: 'default', tailLines: 1 });
    expect(tail).toBe('two\n');
  });

  it('execs a command in a running container and gets its output and exit code', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: busyboxPod('shell', 'sleep 600') });
    await waitFor('shell Running', async () => {
      const p = await core.readNamespacedPod({ name: 'shell', namespace: 'default' });
      return p.status?.phase === 'Running';
    });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    const status = await new Promise<k8s.V1Status>((resolve, reject) => {
      new k8s.Exec(kc)
        .exec(
          'default',
          'shell',
          'main',
          ['sh', '-c', 'echo out; echo err >&2; exit 3'],
          stdout,
          stderr,
          null,
          false,
          (s) => resolve(s),
        )
        .catch(reject);
    });
    expect(out).toBe('out\n');
    expect(err).toBe('err\n');
    expect(status.status).toBe('Failure');
    expect(status.reason).toBe('NonZeroExitCode');
    expect(status.details?.causes).toEqual([{ reason: 'ExitCode', message: '3' }]);
    await core.deleteNamespacedPod({ name: 'shell', namespace: 'default', gracePeriodSeconds: 0 });
  });

  it('creates a Deployment through AppsV1Api and sees it become available', async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'sleepers' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'sleepers' } },
          template: {
            metadata: { labels: { app: 'sleepers' } },
            spec: {
              runtimeClassName: 'container',
              containers: [{ name: 'main', image: 'localhost/busybox:1.0', command: ['sleep', '600'] }],
            },
          },
        },
      },
    });
    const d = await waitFor('sleepers available', async () => {
      const x = await apps.readNamespacedDeployment({ name: 'sleepers', namespace: 'default' });
      return x.status?.availableReplicas === 2 ? x : undefined;
    });
    expect(d.status?.replicas).toBe(2);
  });
});
