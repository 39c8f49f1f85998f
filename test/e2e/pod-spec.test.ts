// End to end, the Pod spec as the Kubernetes documentation writes it, on the container tier (real runc
// containers from the busybox test image) and on wasm where a field applies: multi-container pods sharing
// an emptyDir, init containers, the downward API, ConfigMap volumes, and bad input with a clear status.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, fixture, waitFor, wasm, missingTools } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables'], 'the container tier needs root');
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
    c = await new Cluster().up();
    await c.importTestImages('busybox', { root: join(c.dir, 'data', 'agent', 'images') });
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

  it('subPath and subPathExpr mount part of a volume (documentation manifests)', async () => {
    await apply(
      'subpaths',
      `apiVersion: v1
kind: Pod
metadata: { name: pod1 }
spec:
  runtimeClassName: container
  restartPolicy: Never
  volumes: [{ name: workdir1, emptyDir: {} }]
  containers:
    - name: container1
      image: localhost/busybox:1.0
      env:
        - name: POD_NAME
          valueFrom: { fieldRef: { apiVersion: v1, fieldPath: metadata.name } }
      command: [sh, -c, 'echo logged > /logs/app.log; sleep 3600']
      volumeMounts: [{ name: workdir1, mountPath: /logs, subPathExpr: $(POD_NAME) }]
    - name: site
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo page > /var/www/html/index.html; sleep 3600']
      volumeMounts: [{ name: workdir1, mountPath: /var/www/html, subPath: html }]
    - name: reader
      image: localhost/busybox:1.0
      command: [sh, -c, 'sleep 3600']
      volumeMounts: [{ name: workdir1, mountPath: /all }]
`,
    );
    await waitFor('pod1 running', async () => {
      const p = await c.client.get(pods, 'default', 'pod1');
      return ['container1', 'site', 'reader'].every((n) => statusOf(p, n)?.state?.running);
    });
    // The reader sees the whole volume: each writer's part under its subPath.
    const read = await waitFor('both parts written', async () => {
      const r = await c.cli([
        'exec',
        'pod1',
        '-c',
        'reader',
        '--',
        'sh',
        '-c',
        'cat /all/pod1/app.log /all/html/index.html',
      ]);
      return r.code === 0 ? r : undefined;
    });
    expect(read.stdout).toBe('logged\npage\n');
    await c.cli(['delete', 'pod', 'pod1', '--grace-period', '1']);
  });

  it('init containers run in order before the app (documentation manifest); a sidecar runs beside it', async () => {
    await apply(
      'init',
      `apiVersion: v1
kind: Pod
metadata: { name: myapp-pod, labels: { app.kubernetes.io/name: MyApp } }
spec:
  runtimeClassName: container
  restartPolicy: Never
  volumes: [{ name: work, emptyDir: {} }]
  initContainers:
    - name: init-myservice
      image: localhost/busybox:1.0
      command: ['sh', '-c', 'echo first >> /work/order']
      volumeMounts: [{ name: work, mountPath: /work }]
    - name: logshipper
      image: localhost/busybox:1.0
      restartPolicy: Always
      command: ['sh', '-c', 'echo sidecar >> /work/order; exec sleep 3600']
      volumeMounts: [{ name: work, mountPath: /work }]
    - name: init-mydb
      image: localhost/busybox:1.0
      command: ['sh', '-c', 'echo second >> /work/order']
      volumeMounts: [{ name: work, mountPath: /work }]
  containers:
    - name: myapp-container
      image: localhost/busybox:1.0
      command: ['sh', '-c', 'echo app >> /work/order; cat /work/order']
      volumeMounts: [{ name: work, mountPath: /work }]
`,
    );
    const p = await waitFor('myapp-pod Succeeded', async () => {
      const p = await c.client.get(pods, 'default', 'myapp-pod');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    expect(p.status.initContainerStatuses.map((s: any) => s.name)).toEqual([
      'init-myservice',
      'logshipper',
      'init-mydb',
    ]);
    expect(statusOf(p, 'init-mydb').state.terminated.exitCode).toBe(0);
    // The sidecar was stopped once the app ended.
    expect(statusOf(p, 'logshipper').state.terminated).toBeDefined();
    const logs = await c.cli(['logs', 'myapp-pod', '-c', 'myapp-container']);
    expect(logs.stdout.trim().split('\n')).toEqual(['first', 'sidecar', 'second', 'app']);
  });

  it('an init container that fails with restartPolicy Never fails the pod: Init:Error', async () => {
    await apply(
      'init-fail',
      `apiVersion: v1
kind: Pod
metadata: { name: init-fails }
spec:
  runtimeClassName: container
  restartPolicy: Never
  initContainers:
    - { name: check, image: localhost/busybox:1.0, command: ['sh', '-c', 'echo no database; exit 3'] }
  containers:
    - { name: app, image: localhost/busybox:1.0, command: ['true'] }
`,
    );
    const p = await waitFor('init-fails Failed', async () => {
      const p = await c.client.get(pods, 'default', 'init-fails');
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(statusOf(p, 'check').state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(statusOf(p, 'app').state.waiting.reason).toBe('PodInitializing');
    const got = await c.cli(['get', 'pod', 'init-fails']);
    expect(got.stdout).toContain('Init:Error');
  });

  it('the downward API and a ConfigMap volume reach the container (documentation manifests)', async () => {
    await apply(
      'downward',
      `apiVersion: v1
kind: ConfigMap
metadata: { name: game-config }
data: { game.properties: "lives=3\\n" }
---
apiVersion: v1
kind: Pod
metadata:
  name: kubernetes-downwardapi-volume-example
  labels: { zone: us-est-coast, cluster: test-cluster1 }
  annotations: { build: two }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: client-container
      image: localhost/busybox:1.0
      workingDir: /etc/podinfo
      command: ['sh', '-c', 'pwd; cat labels; echo; cat annotations; echo; echo "$MY_POD_NAME $MY_POD_NAMESPACE $MY_NODE_NAME $MY_CPU_LIMIT"; cat /etc/config/game.properties']
      resources: { limits: { cpu: 250m, memory: 64Mi } }
      env:
        - { name: MY_POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
        - { name: MY_POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
        - { name: MY_NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
        - { name: MY_CPU_LIMIT, valueFrom: { resourceFieldRef: { containerName: client-container, resource: limits.cpu, divisor: 1m } } }
      volumeMounts:
        - { name: podinfo, mountPath: /etc/podinfo }
        - { name: config-volume, mountPath: /etc/config }
  volumes:
    - name: podinfo
      downwardAPI:
        items:
          - { path: labels, fieldRef: { fieldPath: metadata.labels } }
          - { path: annotations, fieldRef: { fieldPath: metadata.annotations } }
    - name: config-volume
      configMap: { name: game-config }
`,
    );
    await waitFor('downward pod Succeeded', async () => {
      const p = await c.client.get(pods, 'default', 'kubernetes-downwardapi-volume-example');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    const logs = await c.cli(['logs', 'kubernetes-downwardapi-volume-example']);
    expect(logs.stdout).toContain('/etc/podinfo');
    expect(logs.stdout).toContain('cluster="test-cluster1"\nzone="us-est-coast"');
    expect(logs.stdout).toContain('build="two"');
    expect(logs.stdout).toContain('kubernetes-downwardapi-volume-example default node-a 250');
    expect(logs.stdout).toContain('lives=3');
  });

  it('a hostPath that is not a directory when Directory is asked: a clear waiting reason', async () => {
    const file = join(c.dir, 'not-a-dir');
    writeFileSync(file, 'x');
    await apply(
      'hostpath',
      `apiVersion: v1
kind: Pod
metadata: { name: hostpath-bad }
spec:
  runtimeClassName: container
  containers:
    - name: app
      image: localhost/busybox:1.0
      command: ['sleep', '3600']
      volumeMounts: [{ name: data, mountPath: /data }]
  volumes:
    - name: data
      hostPath: { path: ${file}, type: Directory }
`,
    );
    const p = await waitFor('hostpath-bad waiting', async () => {
      const p = await c.client.get(pods, 'default', 'hostpath-bad');
      return statusOf(p, 'app')?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    });
    expect(statusOf(p, 'app').state.waiting.message).toBe(
      `hostPath volume data: type check failed: ${file} is not a directory`,
    );
    await c.cli(['delete', 'pod', 'hostpath-bad', '--grace-period', '0']);
  });

  it('termination messages, hooks, hostname and hostAliases, pod securityContext (documentation manifests)', async () => {
    await apply(
      'misc',
      `apiVersion: v1
kind: Pod
metadata: { name: msg-file }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: ['sh', '-c', 'echo "Sleep expired" > /dev/termination-log; exit 1']
---
apiVersion: v1
kind: Pod
metadata: { name: msg-logs }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      terminationMessagePolicy: FallbackToLogsOnError
      command: ['sh', '-c', 'echo "cannot open config"; exit 2']
---
apiVersion: v1
kind: Pod
metadata: { name: lifecycle-demo }
spec:
  runtimeClassName: container
  hostname: web-0
  subdomain: web
  hostAliases: [{ ip: 127.0.0.1, hostnames: [foo.local, bar.local] }]
  dnsPolicy: None
  dnsConfig: { nameservers: [192.0.2.53], searches: [ns1.svc.cluster-domain.example], options: [{ name: ndots, value: '2' }] }
  securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000 }
  volumes: [{ name: shared, emptyDir: {} }]
  containers:
    - name: lifecycle-demo-container
      image: localhost/busybox:1.0
      command: ['sh', '-c', 'sleep 3600']
      volumeMounts: [{ name: shared, mountPath: /shared }]
      lifecycle:
        postStart: { exec: { command: ['/bin/sh', '-c', 'echo Hello from the postStart handler > /shared/message'] } }
        preStop: { exec: { command: ['/bin/sh', '-c', 'echo bye > /shared/stopped'] } }
`,
    );
    const failed = async (name: string) =>
      waitFor(`${name} Failed`, async () => {
        const p = await c.client.get(pods, 'default', name);
        return p.status?.phase === 'Failed' ? p : undefined;
      });
    expect(statusOf(await failed('msg-file'), 'main').state.terminated.message).toBe('Sleep expired\n');
    expect(statusOf(await failed('msg-logs'), 'main').state.terminated.message).toBe('cannot open config\n');
    const p = await waitFor('lifecycle-demo running', async () => {
      const p = await c.client.get(pods, 'default', 'lifecycle-demo');
      return statusOf(p, 'lifecycle-demo-container')?.state?.running ? p : undefined;
    });
    const exec = (cmd: string) => c.cli(['exec', p.metadata.name, '--', 'sh', '-c', cmd]);
    expect((await exec('cat /shared/message')).stdout).toBe('Hello from the postStart handler\n');
    expect((await exec('hostname')).stdout.trim()).toBe('web-0');
    const resolv = (await exec('cat /etc/resolv.conf')).stdout;
    expect(resolv).toContain('nameserver 192.0.2.53\nsearch ns1.svc.cluster-domain.example\noptions ndots:2');
    expect((await exec('cat /etc/hosts')).stdout).toMatch(/127\.0\.0\.1\s+foo\.local\s+bar\.local/);
    expect((await exec('id -u; id -g; id -G')).stdout.split('\n').slice(0, 2)).toEqual(['1000', '3000']);
    expect((await exec('id -G')).stdout).toContain('2000');
    // preStop runs before the stop signal: its file is in the emptyDir the pod leaves behind.
    const dir = join(c.dir, 'data', 'agent', 'pods', p.metadata.uid, 'volumes', 'shared');
    const del = c.cli(['delete', 'pod', 'lifecycle-demo', '--grace-period', '5', '--wait=false']);
    const bye = await waitFor(
      'preStop ran',
      () => {
        try {
          return readFileSync(join(dir, 'stopped'), 'utf8');
        } catch {
          return undefined;
        }
      },
      20_000,
    );
    expect(bye).toBe('bye\n');
    await del;
  });
});

// The same manifests on the wasm tier, where the fields apply (no root needed): init containers in order,
// a failing one, the downward API in env; exec hooks are refused with the field named.
describe('the Pod spec end to end (wasm tier)', () => {
  let w: Cluster;
  beforeAll(async () => {
    wasm('hello');
    w = await new Cluster().up();
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function applyTo(name: string, yaml: string) {
    const file = join(w.dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return w.cli(['apply', '-f', file]);
  }

  it('init containers run to completion before the app; a failing one fails the pod; env from the downward API', async () => {
    const ok = await applyTo(
      'wasm-init',
      `apiVersion: v1
kind: Pod
metadata: { name: wasm-init, labels: { tier: edge } }
spec:
  restartPolicy: Never
  initContainers:
    - { name: prepare, image: ${fixture('exit-code')}, args: ['0'] }
  containers:
    - name: app
      image: ${wasm('hello')}
      env:
        - { name: GREETING, valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } }
---
apiVersion: v1
kind: Pod
metadata: { name: wasm-init-fails }
spec:
  restartPolicy: Never
  initContainers:
    - { name: prepare, image: ${fixture('exit-code')}, args: ['3'] }
  containers:
    - { name: app, image: ${wasm('hello')} }
`,
    );
    expect(ok.code, ok.stderr).toBe(0);
    const p = await waitFor('wasm-init Succeeded', async () => {
      const p = await w.client.get(pods, 'default', 'wasm-init');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    expect(p.spec.runtimeClassName).toBe('wasm');
    expect(statusOf(p, 'prepare').state.terminated.exitCode).toBe(0);
    expect((await w.cli(['logs', 'wasm-init'])).stdout).toContain('GREETING = edge');
    const f = await waitFor('wasm-init-fails Failed', async () => {
      const p = await w.client.get(pods, 'default', 'wasm-init-fails');
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(statusOf(f, 'prepare').state.terminated.exitCode).toBe(3);
    expect(statusOf(f, 'app').state.waiting.reason).toBe('PodInitializing');
    expect((await w.cli(['get', 'pod', 'wasm-init-fails'])).stdout).toContain('Init:Error');
  });

  it('exec hooks are refused on wasm with the field named', async () => {
    const r = await applyTo(
      'wasm-hook',
      `apiVersion: v1
kind: Pod
metadata: { name: wasm-hook }
spec:
  containers:
    - name: app
      image: ${wasm('hello')}
      lifecycle: { preStop: { exec: { command: [cleanup] } } }
`,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.containers[0].lifecycle.preStop.exec');
  });
});
