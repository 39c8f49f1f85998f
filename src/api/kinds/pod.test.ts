import { describe, expect, it } from 'vitest';
import { invalid, podWith, valid } from './testing.ts';

const causes = (spec: Record<string, unknown>, image?: string) => invalid(podWith(spec, image));
const fields = (spec: Record<string, unknown>, image?: string) => causes(spec, image).map((c) => c.field);

describe('Pod spec: the fields documentation manifests use', () => {
  it('accepts init containers, a native sidecar, lifecycle hooks and the downward API', () => {
    const p = valid(
      podWith({
        initContainers: [
          { name: 'init-myservice', image: 'busybox:1.28', command: ['sh', '-c', 'true'] },
          {
            name: 'logshipper',
            image: 'busybox:1.28',
            restartPolicy: 'Always',
            readinessProbe: { exec: { command: ['true'] } },
          },
        ],
        containers: [
          {
            name: 'app',
            image: 'nginx:1.27',
            workingDir: '/srv',
            terminationMessagePolicy: 'FallbackToLogsOnError',
            stdin: true,
            tty: true,
            lifecycle: {
              postStart: { exec: { command: ['/bin/sh', '-c', 'echo hi > /tmp/started'] } },
              preStop: { sleep: { seconds: 5 } },
            },
            env: [
              { name: 'MY_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
              {
                name: 'MEM',
                valueFrom: { resourceFieldRef: { containerName: 'app', resource: 'limits.memory' } },
              },
            ],
          },
        ],
        volumes: [
          {
            name: 'podinfo',
            downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] },
          },
          {
            name: 'all-in-one',
            projected: {
              sources: [
                { configMap: { name: 'cm' } },
                { secret: { name: 's' } },
                { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
              ],
            },
          },
          { name: 'logs', hostPath: { path: '/var/log', type: 'Directory' } },
        ],
        serviceAccountName: 'builder',
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        hostname: 'web-0',
        subdomain: 'web',
        hostAliases: [{ ip: '127.0.0.1', hostnames: ['foo.local'] }],
        dnsPolicy: 'None',
        dnsConfig: {
          nameservers: ['1.1.1.1'],
          searches: ['a.example'],
          options: [{ name: 'ndots', value: '2' }],
        },
        readinessGates: [{ conditionType: 'example.com/feature-1' }],
        schedulingGates: [{ name: 'example.com/foo' }],
        shareProcessNamespace: true,
        securityContext: {
          runAsUser: 1000,
          runAsGroup: 3000,
          fsGroup: 2000,
          supplementalGroups: [4000],
          sysctls: [{ name: 'net.ipv4.ip_local_port_range', value: '32768 60999' }],
        },
        imagePullSecrets: [{ name: 'regcred' }],
      }),
    );
    expect(p.spec.initContainers).toHaveLength(2);
    expect(p.spec.volumes[0].downwardAPI.defaultMode).toBe(0o644);
  });

  it('refuses what Kubernetes refuses, naming the field', () => {
    expect(
      fields({
        initContainers: [{ name: 'i', image: 'busybox', readinessProbe: { exec: { command: ['true'] } } }],
      }),
    ).toEqual(['spec.initContainers[0].readinessProbe']);
    expect(fields({ containers: [{ name: 'app', image: 'nginx', restartPolicy: 'Always' }] })).toEqual([
      'spec.containers[0].restartPolicy',
    ]);
    expect(
      fields({
        initContainers: [{ name: 'app', image: 'busybox' }],
      }),
    ).toEqual(['spec.containers[0].name']);
    expect(
      fields({
        containers: [
          {
            name: 'app',
            image: 'nginx',
            env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }],
          },
        ],
      }),
    ).toEqual(['spec.containers[0].env[0].valueFrom.fieldRef.fieldPath']);
    expect(fields({ volumes: [{ name: 'h', hostPath: { path: 'relative' } }] })).toEqual([
      'spec.volumes[0].hostPath.path',
    ]);
  });

  it('refuses what would weaken isolation, with the reason', () => {
    const sys = causes({ securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] } });
    expect(sys[0].field).toBe('spec.securityContext.sysctls[0].name');
    expect(sys[0].message).toContain('not in the safe set');
    expect(
      fields({ containers: [{ name: 'app', image: 'nginx', securityContext: { privileged: true } }] }),
    ).toEqual(['spec.containers[0].securityContext.privileged']);
    expect(fields({ securityContext: { runAsNonRoot: true, runAsUser: 0 } })).toEqual([
      'spec.securityContext.runAsNonRoot',
    ]);
  });

  it('wasm: exec hooks are refused with the field named, as exec probes are', () => {
    const c = causes({
      initContainers: [
        { name: 'i', image: 'init.wasm', lifecycle: { preStop: { exec: { command: ['x'] } } } },
      ],
      containers: [{ name: 'app', image: 'app.wasm' }],
    });
    expect(c.map((x) => x.field)).toEqual(['spec.initContainers[0].lifecycle.preStop.exec']);
    expect(fields({ containers: [{ name: 'app', image: 'app.wasm', workingDir: '/data' }] })).toEqual([
      'spec.containers[0].workingDir',
    ]);
    valid(podWith({ containers: [{ name: 'app', image: 'app.wasm', workingDir: '/' }] }));
    expect(c[0].message).toContain('wasm runtime class');
  });

  it('a pod gets the default service account; the deprecated alias agrees', () => {
    expect(valid(podWith({})).spec.serviceAccountName).toBe('default');
    const p = valid(podWith({ serviceAccount: 'old' }));
    expect([p.spec.serviceAccountName, p.spec.serviceAccount]).toEqual(['old', 'old']);
  });
});

describe('podSpecWarnings', () => {
  it('names the field and the tier for what the tier ignores', async () => {
    const { podSpecWarnings } = await import('./pod.ts');
    const wasm = valid(
      podWith(
        { hostAliases: [{ ip: '127.0.0.1', hostnames: ['a'] }], securityContext: { runAsUser: 1000 } },
        'app.wasm',
      ),
    );
    expect(podSpecWarnings(wasm.spec)).toEqual([
      'spec.hostAliases: ignored: wasm guests have no /etc/hosts on the wasm runtime class',
      'spec.securityContext: ignored: wasm guests have no users or groups (they run with no host identity) on the wasm runtime class',
    ]);
    const container = valid(
      podWith({ hostAliases: [{ ip: '127.0.0.1', hostnames: ['a'] }], shareProcessNamespace: true }),
    );
    expect(podSpecWarnings(container.spec)).toEqual([
      'spec.shareProcessNamespace: ignored: each container keeps its own PID namespace on the container runtime class',
    ]);
  });
});
