// Pod Security admission seen through the real kubectl (1.32): restricted refuses a root container with
// kube's message and admits the hardened one; the default config warns at baseline (hostPath, hostPort)
// and refuses nothing; raising a namespace's enforce level warns about the pods already there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, wasm } from './harness.ts';

let c: Cluster;
const kubectl = (args: string[], input?: string) => c.kubectl(args, { input });

const rootPod = `
apiVersion: v1
kind: Pod
metadata: {name: root}
spec:
  runtimeClassName: container
  containers:
  - name: app
    image: localhost/httpd:1.0
`;
const hardenedPod = `
apiVersion: v1
kind: Pod
metadata: {name: hardened}
spec:
  runtimeClassName: container
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: localhost/httpd:1.0
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
`;

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
});
afterAll(async () => {
  await c?.stop();
});

describe('Pod Security admission with kubectl', () => {
  it('enforce=restricted: a root container is refused with kube message, the hardened one is created', async () => {
    expect((await kubectl(['create', 'namespace', 'locked'])).code).toBe(0);
    const label = await kubectl([
      'label',
      'namespace',
      'locked',
      'pod-security.kubernetes.io/enforce=restricted',
    ]);
    expect(label.stdout).toContain('namespace/locked labeled');
    const refused = await kubectl(['apply', '-n', 'locked', '-f', '-'], rootPod);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toBe(
      'Error from server (Forbidden): error when creating "STDIN": pods "root" is forbidden: violates PodSecurity "restricted:latest": ' +
        'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ' +
        'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ' +
        'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ' +
        'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    expect((await kubectl(['get', 'pod', 'root', '-n', 'locked'])).code).not.toBe(0);
    const ok = await kubectl(['apply', '-n', 'locked', '-f', '-'], hardenedPod);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('pod/hardened created');
  });

  it('the default config warns at baseline and refuses nothing: hostPath and the tour hostPort pod', async () => {
    const hostPath = await kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  restartPolicy: Never
  containers:
  - name: m
    image: ${wasm('hello')}
    volumeMounts: [{name: host, mountPath: /host}]
  volumes:
  - name: host
    hostPath: {path: /tmp}
`,
    );
    expect(hostPath.stdout.trim()).toBe('pod/hp created');
    expect(hostPath.stderr.trim()).toBe(
      'Warning: would violate PodSecurity "baseline:latest": hostPath volumes (volume "host")',
    );
    const web = await kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  runtimeClassName: container
  containers:
  - name: web
    image: localhost/httpd:1.0
    ports: [{containerPort: 8080, hostPort: 18080}]
`,
    );
    expect(web.stdout.trim()).toBe('pod/web created');
    expect(web.stderr.trim()).toBe(
      'Warning: would violate PodSecurity "baseline:latest": hostPort (container "web" uses hostPort 18080)',
    );
  });

  it('raising enforce warns about existing pods; a bad level is refused naming the label', async () => {
    const res = await kubectl([
      'label',
      'namespace',
      'default',
      'pod-security.kubernetes.io/enforce=baseline',
    ]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(
      'Warning: existing pods in namespace "default" violate the new PodSecurity enforce level "baseline:latest"',
    );
    expect(res.stderr).toContain('Warning: hp: hostPath volumes');
    expect(res.stderr).toContain('Warning: web: hostPort');
    const refused = await kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: web2}
spec:
  runtimeClassName: container
  containers:
  - name: web
    image: localhost/httpd:1.0
    ports: [{containerPort: 8080, hostPort: 18081}]
`,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      'pods "web2" is forbidden: violates PodSecurity "baseline:latest": hostPort (container "web" uses hostPort 18081)',
    );
    const bad = await kubectl([
      'label',
      'namespace',
      'default',
      '--overwrite',
      'pod-security.kubernetes.io/enforce=strict',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      'metadata.labels[pod-security.kubernetes.io/enforce]: Unsupported value: "strict"',
    );
    expect(
      (await kubectl(['label', 'namespace', 'default', 'pod-security.kubernetes.io/enforce-'])).code,
    ).toBe(0);
  });
});
