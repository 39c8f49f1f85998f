import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeKubernetesProtobuf, ProtobufBodyError } from './decode.ts';
import { encodeBody } from './test-support.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'kubectl-1.32');

/** `kubectl auth whoami -v=9` against Strata: the request body as kubectl printed it. */
const WHOAMI_DUMP = `
  00000000  6b 38 73 00 0a 2d 0a 18  61 75 74 68 65 6e 74 69  |k8s..-..authenti|
  00000010  63 61 74 69 6f 6e 2e 6b  38 73 2e 69 6f 2f 76 31  |cation.k8s.io/v1|
  00000020  12 11 53 65 6c 66 53 75  62 6a 65 63 74 52 65 76  |..SelfSubjectRev|
  00000030  69 65 77 12 1a 0a 10 0a  00 12 00 1a 00 22 00 2a  |iew..........".*|
  00000040  00 32 00 38 00 42 00 12  06 0a 04 0a 00 12 00 1a  |.2.8.B..........|
  00000050  00 22 00                                          |.".|`;

/** The bytes of a `-v=9` hex dump (offset column and ASCII column dropped). */
function fromHexDump(dump: string): Buffer {
  const hex = dump
    .split('\n')
    .map((line) => line.replace(/^\s*[0-9a-f]{8}\s+/, '').replace(/\s*\|.*$/, ''))
    .join(' ');
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

/** kubectl's `-o json` output has `creationTimestamp: null` where the decoder leaves the zero Time out. */
function withoutNullTimestamps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullTimestamps);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, v]) => !(key === 'creationTimestamp' && v === null))
      .map(([key, v]) => [key, withoutNullTimestamps(v)]),
  );
}

function decodeError(body: Buffer): ProtobufBodyError {
  try {
    decodeKubernetesProtobuf(body);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtobufBodyError);
    return err as ProtobufBodyError;
  }
  throw new Error('the body decoded');
}

describe('decodeKubernetesProtobuf on bodies kubectl 1.32 sent', () => {
  it('reads `kubectl auth whoami` (every ObjectMeta value field on the wire, all empty)', () => {
    expect(decodeKubernetesProtobuf(fromHexDump(WHOAMI_DUMP))).toEqual({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {},
      status: { userInfo: {} },
    });
  });

  // `kubectl create …` bodies, each next to what the same command prints with --dry-run=client -o json
  // (Go's encoding/json of the same object, i.e. what a JSON client sends).
  const pairs = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.pb') && existsSync(join(FIXTURES, f.replace(/\.pb$/, '.json'))))
    .map((f) => f.replace(/\.pb$/, ''));

  it('has kubectl JSON to compare against', () => expect(pairs.length).toBeGreaterThanOrEqual(15));

  it.each(pairs)('decodes %s to the JSON kubectl would have sent', (name) => {
    const decoded = decodeKubernetesProtobuf(readFileSync(join(FIXTURES, `${name}.pb`)));
    const json = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as unknown;
    expect(decoded).toEqual(withoutNullTimestamps(json));
  });

  // Bodies kubectl has no --dry-run for: what Go's encoding/json writes for them.
  const expected: Record<string, unknown> = {
    'auth-whoami': {
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {},
      status: { userInfo: {} },
    },
    'auth-can-i-get-pods-log': {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec: {
        resourceAttributes: { namespace: 'kube-system', verb: 'get', resource: 'pods', subresource: 'log' },
      },
      status: { allowed: false }, // `json:"allowed"`, no omitempty
    },
    'auth-can-i-nonresource': {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec: { nonResourceAttributes: { path: '/logs/', verb: 'get' } },
      status: { allowed: false },
    },
    'auth-can-i-list': {
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec: { namespace: 'default' },
      status: { incomplete: false },
    },
    'create-token': {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {},
      spec: {
        audiences: ['https://a.example', 'b'],
        expirationSeconds: 600,
        boundObjectRef: {
          kind: 'Pod',
          apiVersion: 'v1',
          name: 'ticker',
          uid: '7b3c1f0e-5a2d-4c8e-9f61-2d4a8b9c0e13',
        },
      },
      status: { token: '' },
    },
    // drain's pod delete when the server offers no pods/eviction: DeleteOptions in the core group.
    'drain-delete-grace-period-0': { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 },
    'drain-delete-grace-period-7': { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 7 },
    'drain-delete-dry-run': { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] },
  };

  it('has an expectation for every fixture without kubectl JSON', () => {
    const rest = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.pb'))
      .map((f) => f.replace(/\.pb$/, ''))
      .filter((name) => !pairs.includes(name));
    expect(rest.sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.keys(expected))('decodes %s', (name) => {
    expect(decodeKubernetesProtobuf(readFileSync(join(FIXTURES, `${name}.pb`)))).toEqual(expected[name]);
  });
});

describe('decodeKubernetesProtobuf on encoded objects', () => {
  const at = (iso: string): { seconds: number; nanos: number } => ({
    seconds: Date.parse(iso) / 1000,
    nanos: 0,
  });
  // ObjectMeta as Go puts it on the wire: every value field present, zero or not.
  const emptyMeta = {
    name: '',
    generateName: '',
    namespace: '',
    selfLink: '',
    uid: '',
    resourceVersion: '',
    generation: 0,
    creationTimestamp: {},
  };

  it('reads an Eviction with every DeleteOptions field', () => {
    const body = encodeBody('policy/v1', 'Eviction', 'k8s.io.api.policy.v1.Eviction', {
      metadata: { ...emptyMeta, name: 'web-0', namespace: 'shop' },
      deleteOptions: {
        gracePeriodSeconds: 0,
        preconditions: { uid: '0b9f6c3e-2f1a-4d5b-8c7e-9a1b2c3d4e5f', resourceVersion: '42' },
        orphanDependents: false,
        propagationPolicy: 'Foreground',
        dryRun: ['All'],
        ignoreStoreReadErrorWithClusterBreakingPotential: false,
      },
    });
    expect(decodeKubernetesProtobuf(body)).toEqual({
      kind: 'Eviction',
      apiVersion: 'policy/v1',
      metadata: { name: 'web-0', namespace: 'shop' },
      // All pointers in Go: set means sent, zero or not.
      deleteOptions: {
        gracePeriodSeconds: 0,
        preconditions: { uid: '0b9f6c3e-2f1a-4d5b-8c7e-9a1b2c3d4e5f', resourceVersion: '42' },
        orphanDependents: false,
        propagationPolicy: 'Foreground',
        dryRun: ['All'],
        ignoreStoreReadErrorWithClusterBreakingPotential: false,
      },
    });
  });

  it('reads a full ObjectMeta: times as RFC 3339, maps as objects, managedFields as JSON', () => {
    const body = encodeBody('autoscaling/v1', 'Scale', 'k8s.io.api.autoscaling.v1.Scale', {
      metadata: {
        ...emptyMeta,
        name: 'web',
        namespace: 'shop',
        uid: 'c1d2e3f4-0000-4000-8000-000000000001',
        resourceVersion: '1234',
        generation: 7,
        creationTimestamp: { seconds: Date.parse('2026-11-30T09:15:00Z') / 1000, nanos: 999_000_000 },
        deletionTimestamp: at('2026-12-01T12:00:00Z'),
        deletionGracePeriodSeconds: 30,
        labels: { app: 'web', tier: 'front' },
        annotations: { 'example.com/note': 'hello' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'web',
            uid: 'c1d2e3f4-0000-4000-8000-000000000000',
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
        finalizers: ['example.com/keep'],
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Update',
            apiVersion: 'apps/v1',
            time: at('2026-11-30T09:15:01Z'),
            fieldsType: 'FieldsV1',
            fieldsV1: { Raw: Buffer.from('{"f:spec":{"f:replicas":{}}}') },
            subresource: 'scale',
          },
        ],
      },
      spec: { replicas: 0 },
      status: { replicas: 3, selector: 'app=web' },
    });
    expect(decodeKubernetesProtobuf(body)).toEqual({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: 'web',
        namespace: 'shop',
        uid: 'c1d2e3f4-0000-4000-8000-000000000001',
        resourceVersion: '1234',
        generation: 7,
        creationTimestamp: '2026-11-30T09:15:00Z', // Go's JSON Time has no fraction
        deletionTimestamp: '2026-12-01T12:00:00Z',
        deletionGracePeriodSeconds: 30,
        labels: { app: 'web', tier: 'front' },
        annotations: { 'example.com/note': 'hello' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'web',
            uid: 'c1d2e3f4-0000-4000-8000-000000000000',
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
        finalizers: ['example.com/keep'],
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Update',
            apiVersion: 'apps/v1',
            time: '2026-11-30T09:15:01Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:spec': { 'f:replicas': {} } },
            subresource: 'scale',
          },
        ],
      },
      spec: {}, // ScaleSpec.replicas is `omitempty`: Go's JSON of 0 replicas leaves it out
      status: { replicas: 3, selector: 'app=web' }, // ScaleStatus.replicas is not
    });
  });

  it('reads a TokenReview with user extras (ExtraValue → list of strings)', () => {
    const body = encodeBody(
      'authentication.k8s.io/v1',
      'TokenReview',
      'k8s.io.api.authentication.v1.TokenReview',
      {
        metadata: emptyMeta,
        spec: { token: 'abc.def', audiences: ['https://strata.local'] },
        status: {
          authenticated: true,
          user: {
            username: 'system:serviceaccount:shop:web',
            uid: '9',
            groups: ['system:serviceaccounts'],
            extra: { 'authentication.kubernetes.io/pod-name': { items: ['web-0'] }, empty: { items: [] } },
          },
          audiences: ['https://strata.local'],
          error: '',
        },
      },
    );
    expect(decodeKubernetesProtobuf(body)).toEqual({
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {},
      spec: { token: 'abc.def', audiences: ['https://strata.local'] },
      status: {
        authenticated: true,
        user: {
          username: 'system:serviceaccount:shop:web',
          uid: '9',
          groups: ['system:serviceaccounts'],
          extra: { 'authentication.kubernetes.io/pod-name': ['web-0'], empty: [] },
        },
        audiences: ['https://strata.local'],
      },
    });
  });

  it('reads a SubjectAccessReview with selector attributes', () => {
    const body = encodeBody(
      'authorization.k8s.io/v1',
      'SubjectAccessReview',
      'k8s.io.api.authorization.v1.SubjectAccessReview',
      {
        metadata: emptyMeta,
        spec: {
          resourceAttributes: {
            namespace: 'shop',
            verb: 'list',
            group: '',
            version: '',
            resource: 'pods',
            subresource: '',
            name: '',
            fieldSelector: {
              rawSelector: '',
              requirements: [{ key: 'spec.nodeName', operator: 'In', values: ['vm'] }],
            },
            labelSelector: { rawSelector: 'app=web' },
          },
          user: 'bob',
          groups: ['dev'],
          extra: { scopes: { items: ['read'] } },
          uid: '42',
        },
        status: { allowed: true, denied: false, reason: 'RBAC: allowed by RoleBinding', evaluationError: '' },
      },
    );
    expect(decodeKubernetesProtobuf(body)).toEqual({
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec: {
        resourceAttributes: {
          namespace: 'shop',
          verb: 'list',
          resource: 'pods',
          fieldSelector: { requirements: [{ key: 'spec.nodeName', operator: 'In', values: ['vm'] }] },
          labelSelector: { rawSelector: 'app=web' },
        },
        user: 'bob',
        groups: ['dev'],
        extra: { scopes: ['read'] },
        uid: '42',
      },
      status: { allowed: true, reason: 'RBAC: allowed by RoleBinding' },
    });
  });

  it('reads a Lease (MicroTime keeps microseconds, pointer zero kept)', () => {
    const body = encodeBody('coordination.k8s.io/v1', 'Lease', 'k8s.io.api.coordination.v1.Lease', {
      metadata: { ...emptyMeta, name: 'vm', namespace: 'kube-node-lease' },
      spec: {
        holderIdentity: 'vm',
        leaseDurationSeconds: 0,
        renewTime: { seconds: Date.parse('2026-12-01T12:00:05Z') / 1000, nanos: 123_456_789 },
        acquireTime: { seconds: Date.parse('2026-12-01T12:00:00Z') / 1000, nanos: 0 },
      },
    });
    expect(decodeKubernetesProtobuf(body)).toEqual({
      kind: 'Lease',
      apiVersion: 'coordination.k8s.io/v1',
      metadata: { name: 'vm', namespace: 'kube-node-lease' },
      spec: {
        holderIdentity: 'vm',
        leaseDurationSeconds: 0,
        acquireTime: '2026-12-01T12:00:00.000000Z',
        renewTime: '2026-12-01T12:00:05.123456Z',
      },
    });
  });

  it('reads a ControllerRevision whose data is embedded JSON, and refuses an embedded protobuf', () => {
    const revision = (raw: Buffer): Buffer =>
      encodeBody('apps/v1', 'ControllerRevision', 'k8s.io.api.apps.v1.ControllerRevision', {
        metadata: { ...emptyMeta, name: 'ds-7d9f' },
        data: { raw },
        revision: 3,
      });
    const patch = {
      spec: { template: { $patch: 'replace', spec: { containers: [{ name: 'c', image: 'x' }] } } },
    };
    expect(decodeKubernetesProtobuf(revision(Buffer.from(JSON.stringify(patch))))).toEqual({
      kind: 'ControllerRevision',
      apiVersion: 'apps/v1',
      metadata: { name: 'ds-7d9f' },
      data: patch,
      revision: 3,
    });
    const err = decodeError(revision(Buffer.from('k8s\0\x0a\x00', 'latin1')));
    expect(err.code).toBe(400);
    expect(err.message).toMatch(/data: an embedded protobuf object/);
  });

  it('reads DeleteOptions under any served group version', () => {
    for (const apiVersion of ['v1', 'apps/v1', 'batch/v1', 'meta.k8s.io/v1']) {
      const body = encodeBody(
        apiVersion,
        'DeleteOptions',
        'k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions',
        {
          propagationPolicy: 'Background',
        },
      );
      expect(decodeKubernetesProtobuf(body)).toEqual({
        kind: 'DeleteOptions',
        apiVersion,
        propagationPolicy: 'Background',
      });
    }
  });
});

describe('decodeKubernetesProtobuf refuses', () => {
  const configMap = (): Buffer =>
    encodeBody('v1', 'ConfigMap', 'k8s.io.api.core.v1.ConfigMap', { metadata: { name: 'x' } });

  it('a body without the k8s\\0 magic (400)', () => {
    const err = decodeError(Buffer.from('{"kind":"ConfigMap"}'));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toMatch(/magic/);
    expect(decodeError(Buffer.alloc(0)).code).toBe(400);
    expect(decodeError(Buffer.from('k8s')).code).toBe(400);
  });

  it('garbage after the magic (400)', () => {
    const err = decodeError(
      Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0xff, 0xff, 0x07])]),
    );
    expect(err.code).toBe(400);
    expect(err.message).toMatch(/not a runtime.Unknown envelope/);
  });

  it('a truncated body (400)', () => {
    const body = readFileSync(join(FIXTURES, 'create-deployment.pb'));
    expect(decodeError(body.subarray(0, body.length - 20)).code).toBe(400);
  });

  it('an envelope whose object is malformed (400, naming the kind)', () => {
    // typeMeta {v1, ConfigMap}, then raw holding a field header that promises more bytes than there are.
    const broken = Buffer.concat([
      Buffer.from('k8s\0', 'latin1'),
      Buffer.from([0x0a, 0x0f, 0x0a, 0x02, ...Buffer.from('v1'), 0x12, 0x09, ...Buffer.from('ConfigMap')]),
      Buffer.from([0x12, 0x02, 0x0a, 0x05]),
    ]);
    const err = decodeError(broken);
    expect(err.code).toBe(400);
    expect(err.message).toMatch(/v1, Kind=ConfigMap/);
  });

  it('an envelope without apiVersion or kind (400)', () => {
    const body = encodeBody('', '', 'k8s.io.api.core.v1.ConfigMap', {});
    expect(decodeError(body).message).toMatch(/apiVersion and kind/);
  });

  it('a kind it does not decode (415, naming it)', () => {
    const unknownKind = encodeBody('v1', 'ReplicationController', 'k8s.io.api.core.v1.ConfigMap', {});
    const err = decodeError(unknownKind);
    expect(err.code).toBe(415);
    expect(err.reason).toBe('UnsupportedMediaType');
    expect(err.message).toMatch(/v1, Kind=ReplicationController/);
    const unknownGroup = encodeBody('example.com/v1', 'Widget', 'k8s.io.api.core.v1.ConfigMap', {});
    expect(decodeError(unknownGroup).message).toMatch(/unknown apiVersion example.com\/v1/);
    const deleteOptions = encodeBody('example.com/v1', 'DeleteOptions', 'k8s.io.api.core.v1.ConfigMap', {});
    expect(decodeError(deleteOptions).code).toBe(415);
  });

  it('a compressed or non-protobuf envelope (415)', () => {
    const gzip = encodeBody(
      'v1',
      'ConfigMap',
      'k8s.io.api.core.v1.ConfigMap',
      {},
      { contentEncoding: 'gzip' },
    );
    expect(decodeError(gzip).message).toMatch(/gzip/);
    const json = encodeBody(
      'v1',
      'ConfigMap',
      'k8s.io.api.core.v1.ConfigMap',
      {},
      { contentType: 'application/json' },
    );
    expect(decodeError(json).code).toBe(415);
    expect(decodeKubernetesProtobuf(configMap())).toEqual({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'x' },
    });
  });

  it('an int64 beyond what a JSON number holds exactly (400)', () => {
    const body = encodeBody('v1', 'DeleteOptions', 'k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions', {
      gracePeriodSeconds: new protobuf.util.Long(1, 0x20_0000), // 2^53 + 1
    });
    expect(decodeError(body).message).toMatch(/gracePeriodSeconds/);
  });
});
