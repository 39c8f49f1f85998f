import { describe, expect, it } from 'vitest';
import {
  buildGroupVersionOpenAPI,
  buildOpenAPI,
  openAPIIndexPaths,
  openAPIPath,
  schemaName,
} from './openapi.ts';
import { INT_OR_STRING, QUANTITY, toOpenAPI30 } from './openapi-schema.ts';
import { allKinds } from './registry.ts';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const ref = (name: string) => `#/components/schemas/${name}`;

/** Keywords JSON Schema 2020-12 has and OpenAPI 3.0's Schema Object does not. */
const NOT_IN_OPENAPI_30 = [
  'const',
  '$defs',
  'definitions',
  '$schema',
  '$id',
  'propertyNames',
  'patternProperties',
  'prefixItems',
  'unevaluatedProperties',
  'dependentRequired',
  'if',
  'then',
  'else',
  'contains',
];

/** Every problem that would make a document not OpenAPI 3.0 (or unusable to kube-openapi's parser). */
function problems(doc: any): string[] {
  const out: string[] = [];
  const schemas = doc.components.schemas;
  const visitSchema = (s: any, where: string): void => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      out.push(`${where}: a schema must be an object`);
      return;
    }
    for (const k of NOT_IN_OPENAPI_30) if (k in s) out.push(`${where}: ${k}`);
    if (Array.isArray(s.type)) out.push(`${where}: type array ${JSON.stringify(s.type)}`);
    if (s.type === 'null') out.push(`${where}: type null`);
    for (const k of ['exclusiveMinimum', 'exclusiveMaximum'])
      if (k in s && typeof s[k] !== 'boolean') out.push(`${where}: ${k} must be a boolean`);
    if (s.$ref !== undefined) {
      if (Object.keys(s).length > 1) out.push(`${where}: $ref with siblings ${Object.keys(s)}`);
      const name = String(s.$ref).replace('#/components/schemas/', '');
      if (!s.$ref.startsWith('#/components/schemas/') || !schemas[name])
        out.push(`${where}: unresolved ${s.$ref}`);
    }
    if (s.items !== undefined) {
      if (Array.isArray(s.items)) out.push(`${where}: items must be one schema`);
      else visitSchema(s.items, `${where}.items`);
    }
    if (s.type === 'array' && s.items === undefined) out.push(`${where}: array without items`);
    for (const [p, v] of Object.entries(s.properties ?? {})) visitSchema(v, `${where}.${p}`);
    if (s.additionalProperties && typeof s.additionalProperties === 'object')
      visitSchema(s.additionalProperties, `${where}{}`);
    for (const k of ['allOf', 'anyOf', 'oneOf'])
      for (const [i, m] of (s[k] ?? []).entries()) visitSchema(m, `${where}.${k}[${i}]`);
    if (s.not) visitSchema(s.not, `${where}.not`);
  };
  for (const [name, s] of Object.entries(schemas)) visitSchema(s, name);
  // Schemas inside paths: parameters, request bodies, responses.
  const walkPaths = (v: any, where: string): void => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x, i) => walkPaths(x, `${where}[${i}]`));
    for (const [k, x] of Object.entries(v)) {
      if (k === 'schema') visitSchema(x, `${where}.schema`);
      else walkPaths(x, `${where}.${k}`);
    }
  };
  walkPaths(doc.paths, 'paths');
  return out;
}

describe('OpenAPI 3.0 documents', () => {
  const all = buildOpenAPI() as any;

  it('are OpenAPI 3.0: no 2020-12 keywords, no type arrays, every $ref resolves, no $ref siblings', () => {
    expect(all.openapi).toBe('3.0.0');
    expect(problems(all)).toEqual([]);
    for (const path of openAPIIndexPaths()) {
      const doc = buildGroupVersionOpenAPI(path) as any;
      expect(doc.openapi).toBe('3.0.0');
      expect(problems(doc), path).toEqual([]);
    }
    expect(JSON.parse(JSON.stringify(all))).toEqual(all); // plain JSON, servable as is
  });

  it('one document per group-version, each with its own kinds and paths only', () => {
    expect(openAPIIndexPaths()).toEqual(
      expect.arrayContaining([
        'api/v1',
        'apis/apps/v1',
        'apis/batch/v1',
        'apis/policy/v1',
        'apis/coordination.k8s.io/v1',
      ]),
    );
    expect(buildGroupVersionOpenAPI('apis/nope/v1')).toBeUndefined();
    const apps = buildGroupVersionOpenAPI('apis/apps/v1') as any;
    expect(Object.keys(apps.paths).every((p) => p.startsWith('/apis/apps/v1/'))).toBe(true);
    expect(apps.components.schemas['io.k8s.api.apps.v1.Deployment']).toBeDefined();
    expect(apps.components.schemas['io.k8s.api.core.v1.PodSpec']).toBeDefined(); // reached through the template
    expect(apps.components.schemas['io.k8s.api.core.v1.Pod']).toBeUndefined();
    expect(apps.components.schemas['io.k8s.api.batch.v1.Job']).toBeUndefined();
    for (const k of allKinds()) {
      const doc = buildGroupVersionOpenAPI(openAPIPath(k.group, k.version)) as any;
      expect(doc.components.schemas[schemaName(k)], k.kind).toBeDefined();
      expect(doc.components.schemas[schemaName(k, 'List')], k.kind).toBeDefined();
    }
  });

  it('names schemas like kube-apiserver and marks each kind with x-kubernetes-group-version-kind', () => {
    const s = all.components.schemas;
    const pod = s['io.k8s.api.core.v1.Pod'];
    expect(pod['x-kubernetes-group-version-kind']).toEqual([{ group: '', kind: 'Pod', version: 'v1' }]);
    expect(s['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', kind: 'Deployment', version: 'v1' },
    ]);
    expect(s['io.k8s.api.scheduling.v1.PriorityClass']['x-kubernetes-group-version-kind'][0].group).toBe(
      'scheduling.k8s.io',
    );
    expect(pod.properties.metadata.allOf).toEqual([{ $ref: ref(`${META}.ObjectMeta`) }]);
    expect(pod.properties.metadata.description).toMatch(/metadata/);
    expect(pod.properties.spec.allOf).toEqual([{ $ref: ref('io.k8s.api.core.v1.PodSpec') }]);
    expect(pod.description).toMatch(/runtimeClassName/);
    // Namespace's metadata is a different zod instance (DNS-label names) with the same shape.
    expect(s['io.k8s.api.core.v1.Namespace'].properties.metadata.allOf).toEqual([
      { $ref: ref(`${META}.ObjectMeta`) },
    ]);
    const spec = s['io.k8s.api.core.v1.PodSpec'];
    expect(spec.properties.containers.items).toEqual({ $ref: ref('io.k8s.api.core.v1.Container') });
    expect(spec.properties.runtimeClassName.enum).toEqual(['wasm', 'container', 'microvm']);
    const container = s['io.k8s.api.core.v1.Container'];
    expect(container.properties.image.description).toMatch(/OCI image reference/);
    expect(container.properties.resources).toEqual({
      allOf: [{ $ref: ref('io.k8s.api.core.v1.ResourceRequirements') }],
      description: expect.stringContaining('CPU and memory'),
    });
    expect(container.required).toEqual(expect.arrayContaining(['name', 'image']));
    expect(container.additionalProperties).toBe(false);
    for (const name of [
      `${META}.Status`,
      `${META}.ListMeta`,
      `${META}.WatchEvent`,
      `${META}.DeleteOptions`,
      'io.k8s.api.core.v1.Event',
      'io.k8s.api.apps.v1.DaemonSet',
      'io.k8s.api.batch.v1.CronJob',
      'io.k8s.api.policy.v1.PodDisruptionBudget',
      'io.k8s.api.policy.v1.Eviction',
      'io.k8s.api.autoscaling.v1.Scale',
    ])
      expect(s[name], name).toBeDefined();
  });

  it('converts 2020-12 idioms: const → enum, nullable, IntOrString, Quantity, safe-integer bounds', () => {
    const s = all.components.schemas;
    expect(s['io.k8s.api.core.v1.Pod'].properties.kind).toMatchObject({ type: 'string', enum: ['Pod'] });
    const created = s[`${META}.ObjectMeta`].properties.creationTimestamp;
    expect(created).toMatchObject({ type: 'string', format: 'date-time', nullable: true });
    expect(created.pattern).toBeUndefined();
    expect(s['io.k8s.api.core.v1.ContainerPort'].properties.containerPort).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: expect.stringContaining('port number'),
    });
    const strategy = s['io.k8s.api.apps.v1.DeploymentStrategy'].properties.rollingUpdate.properties;
    expect(strategy.maxSurge).toEqual({ $ref: ref(INT_OR_STRING) });
    expect(s['io.k8s.api.core.v1.ResourceList'].properties.cpu).toEqual({ $ref: ref(QUANTITY) });
    expect(s[`${META}.ObjectMeta`].properties.generation).toMatchObject({ type: 'integer', minimum: 0 });
    expect(s[`${META}.ObjectMeta`].properties.generation.maximum).toBeUndefined();
  });

  it('carries the merge rules of src/api/patch/metadata.ts on list and struct fields', () => {
    const s = all.components.schemas;
    const spec = s['io.k8s.api.core.v1.PodSpec'].properties;
    expect(spec.containers).toMatchObject({
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
    expect(spec.volumes).toMatchObject({
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge,retainKeys',
    });
    const container = s['io.k8s.api.core.v1.Container'].properties;
    expect(container.ports).toMatchObject({
      'x-kubernetes-patch-merge-key': 'containerPort',
      'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
    });
    expect(container.env['x-kubernetes-patch-merge-key']).toBe('name');
    expect(container.command['x-kubernetes-list-type']).toBe('atomic');
    expect(container.command['x-kubernetes-patch-strategy']).toBeUndefined();
    const meta = s[`${META}.ObjectMeta`].properties;
    expect(meta.ownerReferences).toMatchObject({
      'x-kubernetes-patch-merge-key': 'uid',
      'x-kubernetes-patch-strategy': 'merge',
    });
    expect(meta.finalizers).toMatchObject({
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-list-type': 'set',
    });
    // A struct field with a strategy: the $ref moves into allOf so the extension is not a $ref sibling.
    const deploymentStrategy = s['io.k8s.api.apps.v1.DeploymentSpec'].properties.strategy;
    expect(deploymentStrategy).toMatchObject({
      allOf: [{ $ref: ref('io.k8s.api.apps.v1.DeploymentStrategy') }],
      'x-kubernetes-patch-strategy': 'retainKeys',
    });
    expect(s['io.k8s.api.core.v1.PodSpec'].properties.nodeSelector['x-kubernetes-map-type']).toBe('atomic');
    expect(s['io.k8s.api.core.v1.PodStatus'].properties.conditions['x-kubernetes-patch-merge-key']).toBe(
      'type',
    );
  });

  it('lays out paths like kube-apiserver, with fieldValidation on every PATCH (kubectl apply reads it)', () => {
    const paths = Object.keys(all.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/namespaces/{namespace}/pods',
        '/api/v1/namespaces/{namespace}/pods/{name}',
        '/api/v1/namespaces/{namespace}/pods/{name}/status',
        '/api/v1/namespaces/{namespace}/pods/{name}/log',
        '/api/v1/namespaces/{namespace}/pods/{name}/exec',
        '/api/v1/namespaces/{namespace}/pods/{name}/eviction',
        '/api/v1/namespaces/{namespace}/pods/{name}/binding',
        '/api/v1/pods',
        '/api/v1/nodes/{name}/status',
        '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale',
        '/apis/batch/v1/namespaces/{namespace}/jobs',
        '/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}',
        '/apis/scheduling.k8s.io/v1/priorityclasses/{name}',
      ]),
    );
    expect(paths).not.toContain('/api/v1/namespaces/{namespace}/configmaps/{name}/status');
    const item = all.paths['/api/v1/namespaces/{namespace}/pods/{name}'];
    expect(Object.keys(item)).toEqual(expect.arrayContaining(['get', 'put', 'patch', 'delete']));
    expect(item.get.operationId).toBe('readCoreV1NamespacedPod');
    expect(item.patch['x-kubernetes-action']).toBe('patch');
    expect(item.patch['x-kubernetes-group-version-kind']).toEqual({ group: '', version: 'v1', kind: 'Pod' });
    expect(Object.keys(item.patch.requestBody.content)).toEqual(
      expect.arrayContaining(['application/strategic-merge-patch+json', 'application/merge-patch+json']),
    );
    expect(all.paths['/api/v1/pods'].get.operationId).toBe('listCoreV1PodForAllNamespaces');
    expect(all.paths['/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases'].get.operationId).toBe(
      'listCoordinationV1NamespacedLease',
    );
    expect(
      all.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].get[
        'x-kubernetes-group-version-kind'
      ],
    ).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    for (const [path, item] of Object.entries<any>(all.paths)) {
      if (!item.patch) continue;
      const names = item.patch.parameters.filter((p: any) => p.in === 'query').map((p: any) => p.name);
      expect(names, path).toContain('fieldValidation');
    }
    for (const k of allKinds()) {
      const patches = Object.values<any>(all.paths).filter(
        (i) => i.patch?.['x-kubernetes-group-version-kind']?.kind === k.kind,
      );
      expect(patches.length, k.kind).toBeGreaterThan(0);
    }
    const list = all.paths['/api/v1/namespaces/{namespace}/pods'].get;
    expect(list.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['labelSelector', 'watch']),
    );
  });
});

describe('toOpenAPI30', () => {
  it('rewrites what OpenAPI 3.0 lacks and leaves its input alone', () => {
    const input = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        a: { type: ['string', 'null'] },
        b: { const: 'x' },
        c: { anyOf: [{ $ref: '#/components/schemas/X' }, { type: 'null' }] },
        d: { type: 'number', exclusiveMinimum: 0 },
        e: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } },
        f: { $ref: '#/components/schemas/X', default: {} },
        g: { type: 'array', items: true },
        h: { enum: ['a', null] },
        i: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
        j: { type: ['string', 'number'] },
        k: { type: ['string', 'boolean'] },
      },
    };
    const before = JSON.stringify(input);
    const out = toOpenAPI30(input) as any;
    expect(JSON.stringify(input)).toBe(before);
    expect(out.$schema).toBeUndefined();
    expect(out.properties.a).toEqual({ type: 'string', nullable: true });
    expect(out.properties.b).toEqual({ enum: ['x'] });
    expect(out.properties.c).toEqual({ nullable: true, allOf: [{ $ref: '#/components/schemas/X' }] });
    expect(out.properties.d).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true });
    expect(out.properties.e).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(out.properties.f).toEqual({ allOf: [{ $ref: '#/components/schemas/X' }], default: {} });
    expect(out.properties.g).toEqual({ type: 'array', items: {} });
    expect(out.properties.h).toEqual({ enum: ['a'], nullable: true });
    expect(out.properties.i).toEqual({ $ref: ref(INT_OR_STRING) });
    expect(out.properties.j).toEqual({ $ref: ref(QUANTITY) });
    expect(out.properties.k).toEqual({ oneOf: [{ type: 'string' }, { type: 'boolean' }] });
  });

  it('refuses nested $defs rather than emitting references that do not resolve', () => {
    expect(() => toOpenAPI30({ $defs: { a: {} } })).toThrow(/\$defs/);
  });
});
