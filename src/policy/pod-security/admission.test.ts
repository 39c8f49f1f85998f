// Pod Security admission through the real HTTP API (Fastify + sqlite store), as kubectl reaches it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestServer, startTestServer } from '../../server/testing.ts';
import { installPodSecurity } from './admission.ts';
import { parsePodSecurityConfig } from './config.ts';

let ts: TestServer;
const podBody = (name: string, spec: any) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec });
const rootPod = (name = 'root') =>
  podBody(name, { containers: [{ name: 'app', image: 'localhost/httpd:1.0' }] });
const hostPortPod = podBody('web', {
  containers: [
    { name: 'web', image: 'localhost/httpd:1.0', ports: [{ containerPort: 8080, hostPort: 18080 }] },
  ],
});
const namespace = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

beforeEach(async () => {
  ts = await startTestServer();
});
afterEach(async () => {
  await ts.close();
});

describe('Pod Security admission', () => {
  it('default config: a hostPort pod is created with a baseline Warning header', async () => {
    installPodSecurity(ts.objects);
    const res = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: hostPortPod });
    expect(res.statusCode).toBe(201);
    expect(String(res.headers.warning)).toContain(
      'would violate PodSecurity \\"baseline:latest\\": hostPort (container \\"web\\" uses hostPort 18080)',
    );
  });

  it('enforce=restricted refuses a root container with 403 and admits the hardened one', async () => {
    installPodSecurity(ts.objects);
    await ts.req('POST', '/api/v1/namespaces', {
      body: namespace('locked', { 'pod-security.kubernetes.io/enforce': 'restricted' }),
    });
    const refused = await ts.req('POST', '/api/v1/namespaces/locked/pods', { body: rootPod() });
    expect(refused.statusCode).toBe(403);
    const status = refused.json();
    expect(status.reason).toBe('Forbidden');
    expect(status.message).toMatch(
      /^pods "root" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/,
    );
    expect((await ts.req('GET', '/api/v1/namespaces/locked/pods/root')).statusCode).toBe(404);
    const hardened = podBody('hard', {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'localhost/httpd:1.0',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    });
    const ok = await ts.req('POST', '/api/v1/namespaces/locked/pods', { body: hardened });
    expect(ok.statusCode).toBe(201);
    expect(ok.headers.warning).toBeUndefined();
  });

  it('workload templates are warned about, never refused', async () => {
    installPodSecurity(ts.objects);
    await ts.req('POST', '/api/v1/namespaces', {
      body: namespace('locked', { 'pod-security.kubernetes.io/enforce': 'restricted' }),
    });
    const res = await ts.req('POST', '/apis/apps/v1/namespaces/locked/deployments', {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: rootPod().spec },
        },
      },
    });
    expect(res.statusCode).toBe(201);
    // Namespace labels name only enforce: warn keeps the cluster default (baseline), which the pod meets.
    expect(res.headers.warning).toBeUndefined();
    await ts.req('PATCH', '/api/v1/namespaces/locked', {
      body: { metadata: { labels: { 'pod-security.kubernetes.io/warn': 'restricted' } } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    const again = await ts.req('POST', '/apis/apps/v1/namespaces/locked/deployments', {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'e' },
        spec: {
          selector: { matchLabels: { app: 'e' } },
          template: { metadata: { labels: { app: 'e' } }, spec: rootPod().spec },
        },
      },
    });
    expect(again.statusCode).toBe(201);
    expect(String(again.headers.warning)).toContain('would violate PodSecurity \\"restricted:latest\\"');
  });

  it('a bad label value is refused naming the label; raising enforce warns about existing pods', async () => {
    installPodSecurity(ts.objects);
    const bad = await ts.req('POST', '/api/v1/namespaces', {
      body: namespace('odd', { 'pod-security.kubernetes.io/enforce': 'strict' }),
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().details.causes[0].field).toBe('metadata.labels[pod-security.kubernetes.io/enforce]');
    expect((await ts.req('GET', '/api/v1/namespaces/odd')).statusCode).toBe(404);

    await ts.req('POST', '/api/v1/namespaces/default/pods', { body: rootPod('old') });
    const res = await ts.req('PATCH', '/api/v1/namespaces/default', {
      body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(res.statusCode).toBe(200);
    const warning = String(res.headers.warning);
    expect(warning).toContain(
      'existing pods in namespace \\"default\\" violate the new PodSecurity enforce level \\"restricted:latest\\"',
    );
    expect(warning).toContain('old: allowPrivilegeEscalation != false, unrestricted capabilities');
    expect((await ts.req('GET', '/api/v1/namespaces/default/pods/old')).statusCode).toBe(200);
  });

  it('a config file enforces a cluster default; exempt namespaces and runtime classes pass', async () => {
    installPodSecurity(
      ts.objects,
      parsePodSecurityConfig(`
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline, enforce-version: latest}
    exemptions: {namespaces: [kube-system], runtimeClasses: [microvm]}
`),
    );
    const refused = await ts.req('POST', '/api/v1/namespaces/default/pods', { body: hostPortPod });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toBe(
      'pods "web" is forbidden: violates PodSecurity "baseline:latest": hostPort (container "web" uses hostPort 18080)',
    );
    const vm = structuredClone(hostPortPod) as any;
    vm.spec.runtimeClassName = 'microvm';
    expect((await ts.req('POST', '/api/v1/namespaces/default/pods', { body: vm })).statusCode).toBe(201);
  });

  it('a config file with a wrong level names the field', () => {
    expect(() =>
      parsePodSecurityConfig(
        'apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n',
        'ps.yaml',
      ),
    ).toThrow(/^ps\.yaml: defaults\.enforce: /);
  });
});
