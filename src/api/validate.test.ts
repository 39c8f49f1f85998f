import { describe, expect, it } from 'vitest';
import { kindFor } from './registry.ts';
import { applyDefaults, type Cause, validateObject, validateStatus, ValidationError } from './validate.ts';

const DIGEST = 'a'.repeat(64);

function pod(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', ...metadata },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...spec },
  };
}

function deployment(spec: Record<string, unknown> = {}, templateSpec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...templateSpec },
      },
      ...spec,
    },
  };
}

function job(templateSpec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'once', namespace: 'default' },
    spec: { template: { spec: { containers: [{ name: 'run', image: 'task.wasm' }], ...templateSpec } } },
  };
}

function ok(obj: unknown): any {
  const r = validateObject(obj);
  if (!r.ok) throw new Error(`expected valid, got ${JSON.stringify(r.causes)}`);
  return r.object;
}

function causes(obj: unknown): Cause[] {
  const r = validateObject(obj);
  if (r.ok) throw new Error('expected invalid');
  return r.causes;
}

function fields(obj: unknown): string[] {
  return causes(obj).map((c) => c.field);
}

describe('valid manifests of every kind pass and get defaults', () => {
  it('Pod', () => {
    const input = pod({
      containers: [
        { name: 'app', image: 'nginx:1.27', resources: { limits: { cpu: '500m', memory: '64Mi' } } },
      ],
    });
    const p = ok(input);
    expect(p.spec.restartPolicy).toBe('Always');
    expect(p.spec.runtimeClassName).toBe('container');
    expect(p.spec.terminationGracePeriodSeconds).toBe(30);
    // A limit without a request requests the limit.
    expect(p.spec.containers[0].resources.requests).toEqual({ cpu: '500m', memory: '64Mi' });
    // The caller's object is untouched.
    expect((input.spec as any).restartPolicy).toBeUndefined();
  });

  it('Pod runtimeClassName defaults to wasm only when every image is a wasm module', () => {
    const wasm = (image: string) => ok(pod({ containers: [{ name: 'a', image }] })).spec.runtimeClassName;
    expect(wasm('hello.wasm')).toBe('wasm');
    expect(wasm(`registry.local/hello.wasm@sha256:${DIGEST}`)).toBe('wasm');
    expect(wasm('https://example.com/mods/hello.wasm')).toBe('wasm');
    expect(wasm('nginx')).toBe('container');
    const mixed = ok(
      pod({
        containers: [
          { name: 'a', image: 'a.wasm' },
          { name: 'b', image: 'busybox' },
        ],
      }),
    );
    expect(mixed.spec.runtimeClassName).toBe('container');
    expect(ok(pod({ runtimeClassName: 'microvm' })).spec.runtimeClassName).toBe('microvm');
  });

  it('Pod with the full spec subset', () => {
    const p = ok(
      pod({
        nodeSelector: { 'kubernetes.io/arch': 'amd64' },
        restartPolicy: 'OnFailure',
        activeDeadlineSeconds: 60,
        containers: [
          {
            name: 'app',
            image: 'app.wasm',
            command: ['/app'],
            args: ['--port', '8080'],
            workingDir: '/',
            env: [
              { name: 'MODE', value: 'prod' },
              { name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
              {
                name: 'LEVEL',
                valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level', optional: true } },
              },
            ],
            envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }],
            volumeMounts: [
              { name: 'cfg', mountPath: '/etc/app', readOnly: true },
              { name: 'scratch', mountPath: '/tmp', subPath: 'x' },
            ],
            ports: [{ containerPort: 8080, name: 'http' }],
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
          },
        ],
        volumes: [
          { name: 'cfg', configMap: { name: 'cfg', items: [{ key: 'a', path: 'a.conf' }] } },
          { name: 'sec', secret: { secretName: 'db', defaultMode: 0o400 } },
          { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } },
        ],
      }),
    );
    expect(p.spec.volumes[0].configMap.defaultMode).toBe(0o644);
    expect(p.spec.volumes[1].secret.defaultMode).toBe(0o400);
    expect(p.spec.containers[0].ports[0].protocol).toBe('TCP');
    expect(p.spec.containers[0].readinessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 3 });
  });

  it('Deployment', () => {
    const d = ok(deployment());
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    });
    expect(d.spec.revisionHistoryLimit).toBe(10);
    expect(d.spec.progressDeadlineSeconds).toBe(600);
    expect(d.spec.template.spec.restartPolicy).toBe('Always');
    expect(ok(deployment({ strategy: { type: 'Recreate' } })).spec.strategy).toEqual({ type: 'Recreate' });
    const custom = ok(deployment({ replicas: 0, strategy: { rollingUpdate: { maxSurge: 1 } } }));
    expect(custom.spec.replicas).toBe(0);
    expect(custom.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: '25%' });
  });

  it('Deployment written by `kubectl create deployment --dry-run=client -o yaml`', () => {
    const d = ok({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { creationTimestamp: null, labels: { app: 'web' }, name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        strategy: {},
        template: {
          metadata: { creationTimestamp: null, labels: { app: 'web' } },
          spec: { containers: [{ image: 'nginx', name: 'nginx', resources: {} }] },
        },
      },
      status: {},
    });
    expect(d.metadata).not.toHaveProperty('creationTimestamp');
    expect(d.spec.template.metadata).not.toHaveProperty('creationTimestamp');
  });

  it('Job defaults, including restartPolicy Never', () => {
    const j = ok(job());
    expect(j.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(j.spec.template.spec.restartPolicy).toBe('Never');
    expect(j.spec.template.spec.runtimeClassName).toBe('wasm');
    expect(ok(job({ restartPolicy: 'OnFailure' })).spec.template.spec.restartPolicy).toBe('OnFailure');
  });

  it('Namespace, Node, ConfigMap, Lease', () => {
    const ns = ok({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a', namespace: 'ignored' },
    });
    expect(ns.metadata.namespace).toBeUndefined(); // cluster-scoped: cleared
    expect(ns.metadata.labels['kubernetes.io/metadata.name']).toBe('team-a');
    expect(ns.status.phase).toBe('Active');

    const node = ok({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1.example.com', labels: { 'kubernetes.io/hostname': 'node-1' } },
      spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
      status: {
        capacity: { cpu: '4', memory: '16Gi', pods: '110' },
        allocatable: { cpu: '3800m', memory: '15Gi', pods: 110 },
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2025-01-01T00:00:00Z' }],
        addresses: [{ type: 'InternalIP', address: '10.0.0.5' }],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          architecture: 'amd64',
          operatingSystem: 'linux',
          kernelVersion: '6.1',
          kubeletVersion: 'strata-0.1',
          osImage: 'Debian 12',
        },
        runtimeHandlers: [{ name: 'wasm', features: { exec: false } }, { name: 'container' }],
      },
    });
    expect(node.status.runtimeHandlers).toHaveLength(2);

    const cm = ok({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'default' },
      data: { 'app.conf': 'x=1', LEVEL: 'debug' },
      binaryData: { 'logo.png': Buffer.from([1, 2, 3]).toString('base64') },
      immutable: true,
    });
    expect(cm.data.LEVEL).toBe('debug');

    const lease = ok({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'node-1', namespace: 'strata-node-lease' },
      spec: {
        holderIdentity: 'node-1',
        leaseDurationSeconds: 40,
        renewTime: '2025-01-01T00:00:00.123456Z',
        leaseTransitions: 0,
      },
    });
    expect(lease.spec.renewTime).toBe('2025-01-01T00:00:00.123456Z');
  });

  it('Secret folds stringData into base64 data and defaults the type', () => {
    const s = ok({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'default' },
      data: {
        user: Buffer.from('admin').toString('base64'),
        password: Buffer.from('old').toString('base64'),
      },
      stringData: { password: 's3cret' },
    });
    expect(s.type).toBe('Opaque');
    expect(s.stringData).toBeUndefined();
    expect(Buffer.from(s.data.password, 'base64').toString()).toBe('s3cret');
    expect(Buffer.from(s.data.user, 'base64').toString()).toBe('admin');
  });
});

describe('rejections name the field', () => {
  it('unknown fields anywhere', () => {
    const c = causes(pod({ containers: [{ name: 'app', image: 'nginx', imagePullPolicyX: 'Always' }] }));
    expect(c).toEqual([
      {
        field: 'spec.containers[0].imagePullPolicyX',
        reason: 'FieldValueInvalid',
        message: 'field not declared in schema',
      },
    ]);
    expect(fields({ ...pod(), extra: 1 })).toEqual(['extra']);
    expect(fields(pod({}, { labelz: {} }))).toEqual(['metadata.labelz']);
    expect(fields(deployment({ replica: 3 }))).toEqual(['spec.replica']);
  });

  it('what `kubectl run` sends: dnsPolicy and the default scheduler; another scheduler is refused', () => {
    const spec = (extra: object) => ({
      containers: [{ name: 'app', image: 'nginx', resources: {} }],
      ...extra,
    });
    const p = (extra: object) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'x' },
      spec: spec(extra),
    });
    expect(ok(p({ dnsPolicy: 'ClusterFirst', restartPolicy: 'Always' })).spec.dnsPolicy).toBe('ClusterFirst');
    expect(ok(p({ schedulerName: 'default-scheduler' })).spec.schedulerName).toBe('default-scheduler');
    expect(fields(p({ dnsPolicy: 'Sometimes' }))).toEqual(['spec.dnsPolicy']);
    const other = causes(p({ schedulerName: 'volcano' }));
    expect(other.map((c) => c.field)).toEqual(['spec.schedulerName']);
    expect(other[0].message).toBe('Unsupported value: "volcano": supported values: "default-scheduler"');
  });

  it('bad names', () => {
    const c = causes(pod({}, { name: 'Web_1' }));
    expect(c[0].field).toBe('metadata.name');
    expect(c[0].message).toMatch(/^Invalid value: "Web_1": a lowercase RFC 1123 subdomain/);
    expect(fields(pod({}, { name: 'a'.repeat(254) }))).toEqual(['metadata.name']);
    expect(fields(pod({}, { name: undefined }))).toEqual(['metadata.name']);
    expect(ok(pod({}, { name: undefined, generateName: 'web-' })).metadata.generateName).toBe('web-');
    expect(fields(pod({ containers: [{ name: 'My.App', image: 'nginx' }] }))).toEqual([
      'spec.containers[0].name',
    ]);
    // Namespace names are DNS labels: no dots.
    expect(fields({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team.a' } })).toEqual([
      'metadata.name',
    ]);
    expect(fields(pod({}, { namespace: 'Bad' }))).toEqual(['metadata.namespace']);
  });

  it('bad labels', () => {
    const c = causes(pod({}, { labels: { 'bad key!': 'x', ok: 'not ok' } }));
    expect(c.map((x) => x.field)).toEqual(['metadata.labels', 'metadata.labels']);
    expect(c[0].message).toContain('"bad key!"');
    expect(c[1].message).toContain('"not ok"');
  });

  it('bad quantities', () => {
    const c = causes(
      pod({ containers: [{ name: 'app', image: 'nginx', resources: { limits: { memory: '64Mb' } } }] }),
    );
    expect(c).toEqual([
      {
        field: 'spec.containers[0].resources.limits.memory',
        reason: 'FieldValueInvalid',
        message: expect.stringMatching(/^Invalid value: "64Mb": must be a number with an optional suffix/),
      },
    ]);
    expect(
      fields(pod({ containers: [{ name: 'a', image: 'nginx', resources: { requests: { cpu: '-1' } } }] })),
    ).toEqual(['spec.containers[0].resources.requests.cpu']);
    // requests above limits
    const over = causes(
      pod({
        containers: [
          { name: 'a', image: 'nginx', resources: { requests: { cpu: 2 }, limits: { cpu: '1' } } },
        ],
      }),
    );
    expect(over[0]).toMatchObject({
      field: 'spec.containers[0].resources.requests.cpu',
      message: expect.stringContaining('cpu limit of 1'),
    });
  });

  it('wrong types', () => {
    const c = causes(deployment({ replicas: 'three' }));
    expect(c).toEqual([
      {
        field: 'spec.replicas',
        reason: 'FieldValueTypeInvalid',
        message: 'Invalid value: "three": must be of type number',
      },
    ]);
    expect(causes(deployment({ replicas: 1.5 }))[0].field).toBe('spec.replicas');
    expect(
      causes(pod({ containers: [{ name: 'a', image: 'nginx', resources: { limits: { cpu: true } } }] }))[0],
    ).toMatchObject({
      field: 'spec.containers[0].resources.limits.cpu',
      reason: 'FieldValueTypeInvalid',
      message: 'Invalid value: true: must be of type string or number',
    });
    expect(fields(pod({}, { labels: { app: 1 } }))).toEqual(['metadata.labels[app]']);
  });

  it('missing required fields', () => {
    const c = causes(pod({ containers: [{ name: 'app' }] }));
    expect(c).toEqual([
      { field: 'spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' },
    ]);
    expect(fields(pod({ containers: [] }))).toEqual(['spec.containers']);
    expect(fields({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toEqual(['spec']);
    expect(fields({ kind: 'Pod' })).toEqual(['apiVersion']);
    expect(fields({ apiVersion: 'v1' })).toEqual(['kind']);
  });

  it('unknown kinds and wrong apiVersions', () => {
    expect(causes({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'x' } })).toEqual([
      {
        field: 'apiVersion',
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: "v1": supported values: "apps/v1"',
      },
    ]);
    const c = causes({ apiVersion: 'v1', kind: 'Frobnicator', metadata: { name: 'x' } });
    expect(c[0]).toMatchObject({ field: 'kind', reason: 'FieldValueNotSupported' });
    expect(c[0].message).toContain('"Pod"');
    expect(validateObject('nope').ok).toBe(false);
  });

  it('enums list the supported values', () => {
    expect(causes(pod({ runtimeClassName: 'gvisor' }))).toEqual([
      {
        field: 'spec.runtimeClassName',
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: "gvisor": supported values: "wasm", "container", "microvm"',
      },
    ]);
  });

  it('image digests must be sha256 with 64 hex digits', () => {
    expect(fields(pod({ containers: [{ name: 'a', image: 'app.wasm@sha256:abc' }] }))).toEqual([
      'spec.containers[0].image',
    ]);
    expect(
      fields(pod({ containers: [{ name: 'a', image: `app.wasm@sha256:${DIGEST.toUpperCase()}` }] })),
    ).toEqual(['spec.containers[0].image']);
    expect(fields(pod({ containers: [{ name: 'a', image: 'ngi nx' }] }))).toEqual([
      'spec.containers[0].image',
    ]);
    ok(pod({ containers: [{ name: 'a', image: `nginx@sha256:${DIGEST}` }] }));
  });

  it('pod spec cross-field rules', () => {
    const c = causes(
      pod({
        containers: [
          { name: 'a', image: 'x', volumeMounts: [{ name: 'missing', mountPath: '/m' }] },
          { name: 'a', image: 'y' },
        ],
        volumes: [
          { name: 'v', emptyDir: {} },
          { name: 'v', emptyDir: {} },
        ],
      }),
    );
    expect(c.map((x) => [x.field, x.reason])).toEqual([
      ['spec.containers[1].name', 'FieldValueDuplicate'],
      ['spec.volumes[1].name', 'FieldValueDuplicate'],
      ['spec.containers[0].volumeMounts[0].name', 'FieldValueNotFound'],
    ]);
    expect(causes(pod({ volumes: [{ name: 'v' }] }))[0]).toMatchObject({
      field: 'spec.volumes[0]',
      reason: 'FieldValueRequired',
    });
    expect(fields(pod({ volumes: [{ name: 'v', emptyDir: {}, configMap: { name: 'c' } }] }))).toEqual([
      'spec.volumes[0].emptyDir',
    ]);
    expect(
      fields(
        pod({
          containers: [
            {
              name: 'a',
              image: 'x',
              env: [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
            },
          ],
        }),
      ),
    ).toEqual(['spec.containers[0].env[0].valueFrom']);
    expect(fields(pod({ containers: [{ name: 'a', image: 'x', envFrom: [{ prefix: 'X' }] }] }))).toEqual([
      'spec.containers[0].envFrom[0]',
    ]);
  });

  it('Deployment selector must match the template labels', () => {
    const d = deployment();
    d.spec.template.metadata.labels = { app: 'api' };
    const c = causes(d);
    expect(c).toEqual([
      {
        field: 'spec.template.metadata.labels',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: {"app":"api"}: `selector` does not match template `labels`',
      },
    ]);
    expect(fields(deployment({ selector: {} }))).toEqual(['spec.selector']);
    expect(fields(deployment({ selector: undefined }))).toEqual(['spec.selector']);
  });

  it('Deployment strategy and restartPolicy rules', () => {
    expect(fields(deployment({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } }))).toEqual([
      'spec.strategy.rollingUpdate',
    ]);
    expect(
      fields(deployment({ strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } })),
    ).toEqual(['spec.strategy.rollingUpdate.maxUnavailable']);
    expect(fields(deployment({ strategy: { rollingUpdate: { maxSurge: 'lots' } } }))).toEqual([
      'spec.strategy.rollingUpdate.maxSurge',
    ]);
    expect(causes(deployment({}, { restartPolicy: 'Never' }))[0]).toMatchObject({
      field: 'spec.template.spec.restartPolicy',
      reason: 'FieldValueNotSupported',
    });
  });

  it('Job rejects restartPolicy Always with a clear message', () => {
    const c = causes(job({ restartPolicy: 'Always' }));
    expect(c).toHaveLength(1);
    expect(c[0].field).toBe('spec.template.spec.restartPolicy');
    expect(c[0].reason).toBe('FieldValueNotSupported');
    expect(c[0].message).toMatch(/^Unsupported value: "Always": supported values: "OnFailure", "Never"/);
  });

  it('Job manual selector must match', () => {
    const j: any = job();
    j.spec.manualSelector = true;
    expect(fields(j)).toEqual(['spec.selector']);
    j.spec.selector = { matchLabels: { run: 'x' } };
    expect(fields(j)).toEqual(['spec.template.metadata.labels']);
    j.spec.template.metadata = { labels: { run: 'x' } };
    ok(j);
  });

  it('Secret data must be base64 and the total at most 1 MiB', () => {
    const secret = (data: Record<string, string>, extra: Record<string, unknown> = {}) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'default' },
      data,
      ...extra,
    });
    expect(causes(secret({ password: 'not base64!' }))).toEqual([
      {
        field: 'data[password]',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: "not base64!": must be valid base64 (standard alphabet, padded)',
      },
    ]);
    expect(fields(secret({ k: 'YWJj' }, { stringData: { big: 'x'.repeat(1024 * 1024) } }))).toEqual(['data']);
    expect(fields(secret({ 'bad/key': 'YWJj' }))).toEqual(['data[bad/key]']);
    expect(fields(secret({}, { type: 'kubernetes.io/tls' }))).toEqual(['data[tls.crt]', 'data[tls.key]']);
  });

  it('Node runtime handlers are the known tiers', () => {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n' },
      status: { runtimeHandlers: [{ name: 'docker' }] },
    };
    expect(fields(node)).toEqual(['status.runtimeHandlers[0].name']);
  });

  it('ignores keys whose value is undefined, as JSON would', () => {
    ok({ ...pod(), status: undefined });
    ok({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' }, status: undefined });
  });
});

describe('validateStatus', () => {
  const podKind = kindFor('v1', 'Pod')!;

  it('accepts a full pod status', () => {
    expect(
      validateStatus(podKind, {
        phase: 'Running',
        hostIP: '10.0.0.5',
        podIP: '10.88.0.7',
        startTime: '2025-01-01T00:00:00Z',
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:01Z', lastProbeTime: null },
        ],
        containerStatuses: [
          {
            name: 'app',
            image: 'app.wasm',
            imageID: `sha256:${DIGEST}`,
            ready: true,
            started: true,
            restartCount: 1,
            state: { running: { startedAt: '2025-01-01T00:00:01Z' } },
            lastState: {
              terminated: {
                exitCode: 137,
                signal: 9,
                reason: 'OOMKilled',
                finishedAt: '2025-01-01T00:00:00Z',
              },
            },
          },
        ],
      }),
    ).toEqual([]);
  });

  it('reports errors rooted at status', () => {
    expect(validateStatus(podKind, { phase: 'Exploded' })).toEqual([
      {
        field: 'status.phase',
        reason: 'FieldValueNotSupported',
        message:
          'Unsupported value: "Exploded": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown"',
      },
    ]);
    const two = validateStatus('pods', {
      containerStatuses: [
        { name: 'a', image: 'x', ready: false, restartCount: 0, state: { waiting: {}, running: {} } },
      ],
    });
    expect(two.map((c) => c.field)).toEqual(['status.containerStatuses[0].state.running']);
    expect(validateStatus('deploy', { readyReplicas: -1 }).map((c) => c.field)).toEqual([
      'status.readyReplicas',
    ]);
    expect(validateStatus('pods', { conditions: [{ type: 'Ready', status: 'yes' }] })[0].field).toBe(
      'status.conditions[0].status',
    );
    expect(validateStatus('cm', {})[0]).toMatchObject({ field: 'status', reason: 'FieldValueForbidden' });
  });
});

describe('applyDefaults', () => {
  it('returns a defaulted copy', () => {
    const input = deployment();
    const d = applyDefaults('deployments', input);
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'RollingUpdate' } });
    expect(input.spec).not.toHaveProperty('replicas');
    expect(applyDefaults(kindFor('v1', 'Pod')!, pod()).spec.restartPolicy).toBe('Always');
  });

  it('throws a ValidationError carrying the causes', () => {
    try {
      applyDefaults('jobs', job({ restartPolicy: 'Always' }));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).causes[0].field).toBe('spec.template.spec.restartPolicy');
      expect((e as Error).message).toMatch(
        /^Job is invalid: spec\.template\.spec\.restartPolicy: Unsupported value/,
      );
    }
  });
});

describe('idempotence', () => {
  it('a validated object validates again unchanged (kubectl get -o yaml | kubectl apply)', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'default' },
      stringData: { a: 'b' },
    };
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };
    for (const input of [pod(), deployment(), job(), secret, ns]) {
      const once = ok(input);
      once.metadata = {
        ...once.metadata,
        uid: 'c0ffee',
        resourceVersion: '42',
        generation: 1,
        creationTimestamp: '2025-01-01T00:00:00Z',
      };
      expect(ok(once)).toEqual(once);
    }
  });
});
