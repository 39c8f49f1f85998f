// OpenAPI 3.0 documents in kube-apiserver's layout, generated from the same zod schemas that validate
// requests, so the documents cannot drift from what the server accepts:
//
//   openAPIIndexPaths()            the group-versions `/openapi/v3` lists ("api/v1", "apis/apps/v1", …)
//   buildGroupVersionOpenAPI(gv)   one document per group-version (`/openapi/v3/apis/apps/v1`), what
//                                  kubectl reads for `explain`, field validation support and strategic merge
//   buildOpenAPI()                 every group-version in one document
//
// Schema names are Kubernetes' (io.k8s.api.core.v1.Pod, io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta…):
// every exported object schema of src/api/kinds and meta.ts becomes a component under its export name.
// zod emits JSON Schema draft 2020-12; openapi-schema.ts converts it to what OpenAPI 3.0 allows.
import { z } from 'zod';
import * as configmap from './kinds/configmap.ts';
import * as controllerrevision from './kinds/controllerrevision.ts';
import * as cronjob from './kinds/cronjob.ts';
import * as daemonset from './kinds/daemonset.ts';
import * as deployment from './kinds/deployment.ts';
import * as event from './kinds/event.ts';
import * as job from './kinds/job.ts';
import * as lease from './kinds/lease.ts';
import * as namespace from './kinds/namespace.ts';
import * as node from './kinds/node.ts';
import * as persistentvolume from './kinds/persistentvolume.ts';
import * as persistentvolumeclaim from './kinds/persistentvolumeclaim.ts';
import * as pod from './kinds/pod.ts';
import * as poddisruptionbudget from './kinds/poddisruptionbudget.ts';
import * as hpa from './kinds/hpa.ts';
import * as pingsource from './kinds/pingsource.ts';
import * as eventing from './kinds/eventing.ts';
import * as priorityclass from './kinds/priorityclass.ts';
import * as limitrange from './kinds/limitrange.ts';
import * as resourcequota from './kinds/resourcequota.ts';
import * as rbac from './kinds/rbac.ts';
import * as certificatesigningrequest from './kinds/certificatesigningrequest.ts';
import * as secret from './kinds/secret.ts';
import * as serviceaccount from './kinds/serviceaccount.ts';
import * as statefulset from './kinds/statefulset.ts';
import * as storageclass from './kinds/storageclass.ts';
import * as meta from './meta.ts';
import { allKinds, type KindInfo } from './registry.ts';
import {
  META,
  annotatePatchRules,
  collectRefs,
  componentRef,
  toOpenAPI30,
  type Schema,
} from './openapi-schema.ts';
import {
  componentFieldDescription,
  fieldDescription,
  kindDescription,
  metaComponents,
} from './openapi-meta.ts';
import { operations } from './openapi-paths.ts';

export { META } from './openapi-schema.ts';

/** Kubernetes' component names: io.k8s.api.core.v1.Pod, io.k8s.api.apps.v1.Deployment, … */
export function schemaName(k: Pick<KindInfo, 'group' | 'version' | 'kind'>, suffix = ''): string {
  return `${apiPackage(k.group, k.version)}.${k.kind}${suffix}`;
}

/** `io.k8s.api.<first label of the group, or core>.<version>`, as k8s.io/api names its Go packages. */
function apiPackage(group: string, version: string): string {
  return `io.k8s.api.${group ? group.split('.')[0] : 'core'}.${version}`;
}

/** Which Go package each schema module mirrors. */
const MODULES: readonly [Record<string, unknown>, string][] = [
  [meta, META],
  [pod, apiPackage('', 'v1')],
  [node, apiPackage('', 'v1')],
  [namespace, apiPackage('', 'v1')],
  [configmap, apiPackage('', 'v1')],
  [secret, apiPackage('', 'v1')],
  [serviceaccount, apiPackage('', 'v1')],
  [event, apiPackage('', 'v1')],
  [deployment, apiPackage('apps', 'v1')],
  [daemonset, apiPackage('apps', 'v1')],
  [statefulset, apiPackage('apps', 'v1')],
  [controllerrevision, apiPackage('apps', 'v1')],
  [job, apiPackage('batch', 'v1')],
  [cronjob, apiPackage('batch', 'v1')],
  [lease, apiPackage('coordination.k8s.io', 'v1')],
  [poddisruptionbudget, apiPackage('policy', 'v1')],
  [hpa, apiPackage('autoscaling', 'v2')],
  [pingsource, 'dev.knative.sources.v1'],
  [eventing, 'dev.knative.eventing.v1'],
  [priorityclass, apiPackage('scheduling.k8s.io', 'v1')],
  [resourcequota, apiPackage('', 'v1')],
  [limitrange, apiPackage('', 'v1')],
  [persistentvolume, apiPackage('', 'v1')],
  [persistentvolumeclaim, apiPackage('', 'v1')],
  [storageclass, apiPackage('storage.k8s.io', 'v1')],
  [rbac, apiPackage('rbac.authorization.k8s.io', 'v1')],
  [certificatesigningrequest, apiPackage('certificates.k8s.io', 'v1')],
];

/** Exports whose Kubernetes name or package differs from the export's. */
const RENAMED: Readonly<Record<string, string>> = {
  EvictionSchema: `${apiPackage('policy', 'v1')}.Eviction`,
  DeleteOptions: `${META}.DeleteOptions`,
  Preconditions: `${META}.Preconditions`,
  // Declared beside ObjectMeta (src/api/meta.ts), but Kubernetes files it under core/v1.
  ObjectReference: `${apiPackage('', 'v1')}.ObjectReference`,
};

/** The zod schemas that become components, by component name. */
function namedSchemas(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  for (const k of allKinds()) names.set(k.schema, schemaName(k));
  for (const [module, pkg] of MODULES) {
    for (const [exportName, value] of Object.entries(module)) {
      if (!(value instanceof z.ZodObject) || !/^[A-Z]/.test(exportName) || names.has(value)) continue;
      names.set(value, RENAMED[exportName] ?? `${pkg}.${exportName}`);
    }
  }
  return names;
}

/** Every component: the zod-generated ones (converted to OpenAPI 3.0) plus lists and meta types. */
function buildComponents(): Record<string, Schema> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of namedSchemas()) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    // 'input': documents what a client may send (defaulted fields are optional).
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => componentRef(id),
  }).schemas as Record<string, Schema>;

  const components: Record<string, Schema> = { ...metaComponents() };
  for (const [name, schema] of Object.entries(generated)) components[name] = toOpenAPI30(schema);
  // Before descriptions are added: deduplication compares shapes.
  dedupeObjectMeta(components);
  for (const [name, schema] of Object.entries(components)) {
    const props = schema.properties ?? {};
    for (const field of Object.keys(props))
      props[field] = described(props[field], componentFieldDescription(name, field));
  }

  for (const k of allKinds()) {
    const name = schemaName(k);
    const kindSchema = components[name];
    kindSchema.description = kindDescription(k);
    kindSchema['x-kubernetes-group-version-kind'] = [{ group: k.group, kind: k.kind, version: k.version }];
    const props = kindSchema.properties ?? {};
    for (const field of Object.keys(props))
      props[field] = described(props[field], fieldDescription(field, k));
    components[schemaName(k, 'List')] = listSchema(k);
  }
  for (const k of allKinds()) annotatePatchRules(components, schemaName(k), k.apiVersion, k.kind);
  return components;
}

/** A field's schema with a description (a `$ref` moves into allOf: it cannot have siblings). */
function described(prop: Schema, description: string | undefined): Schema {
  if (!description || prop.description) return prop;
  return prop.$ref ? { allOf: [{ $ref: prop.$ref }], description } : { ...prop, description };
}

/**
 * Namespace's metadata is ObjectMeta with a stricter name rule: the same JSON Schema as ObjectMeta's
 * but a different zod instance. Point it at the ObjectMeta component, as Kubernetes documents it.
 */
function dedupeObjectMeta(components: Record<string, Schema>): void {
  const objectMeta = components[`${META}.ObjectMeta`];
  if (!objectMeta) return;
  const canonical = JSON.stringify(objectMeta);
  for (const [name, schema] of Object.entries(components)) {
    const metadata = schema.properties?.metadata;
    if (name === `${META}.ObjectMeta` || !metadata || metadata.$ref || metadata.allOf) continue;
    if (JSON.stringify(metadata) === canonical)
      schema.properties!.metadata = { allOf: [{ $ref: componentRef(`${META}.ObjectMeta`) }] };
  }
}

function listSchema(k: KindInfo): Schema {
  return {
    description: `${k.kind}List is a list of ${k.kind} objects.`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { type: 'string', enum: [k.apiVersion], description: fieldDescription('apiVersion', k) },
      kind: { type: 'string', enum: [`${k.kind}List`], description: fieldDescription('kind', k) },
      metadata: {
        allOf: [{ $ref: componentRef(`${META}.ListMeta`) }],
        description: 'Standard list metadata.',
      },
      items: {
        type: 'array',
        items: { $ref: componentRef(schemaName(k)) },
        description: `List of ${k.plural}.`,
      },
    },
    'x-kubernetes-group-version-kind': [{ group: k.group, kind: `${k.kind}List`, version: k.version }],
  };
}

let cached: Record<string, Schema> | undefined;
/** Components are pure functions of the schemas: built once per process. */
function components(): Record<string, Schema> {
  cached ??= buildComponents();
  return cached;
}

/** The key of a group-version in the `/openapi/v3` index: `api/v1`, `apis/apps/v1`. */
export function openAPIPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** Every group-version Strata serves, as `/openapi/v3` lists them. */
export function openAPIIndexPaths(): string[] {
  return [...new Set(allKinds().map((k) => openAPIPath(k.group, k.version)))];
}

const INFO = {
  title: 'Strata',
  version: 'v1.32.0',
  description: 'A documented subset of the Kubernetes API: kinds, URL layout, Status errors.',
};

function document(kinds: readonly KindInfo[]): Schema {
  const all = components();
  let paths: Record<string, unknown> = {};
  for (const k of kinds) paths = { ...paths, ...operations(k, schemaName(k)) };
  // Only the components the paths reach, as kube-apiserver's per-group-version documents do.
  const roots = kinds.flatMap((k) => [schemaName(k), schemaName(k, 'List')]);
  const names = collectRefs(all, paths, roots);
  const schemas: Record<string, Schema> = {};
  for (const name of [...names].sort()) if (all[name]) schemas[name] = all[name];
  return {
    openapi: '3.0.0',
    info: INFO,
    paths,
    components: {
      schemas,
      securitySchemes: {
        BearerToken: {
          type: 'apiKey',
          in: 'header',
          name: 'authorization',
          description: 'Bearer token authentication',
        },
      },
    },
    security: [{ BearerToken: [] }],
  };
}

/** The document of one group-version (`api/v1`, `apis/apps/v1`), or undefined when Strata serves none. */
export function buildGroupVersionOpenAPI(path: string): Schema | undefined {
  const kinds = allKinds().filter((k) => openAPIPath(k.group, k.version) === path);
  return kinds.length ? document(kinds) : undefined;
}

/** Every group-version in one document. */
export function buildOpenAPI(): Schema {
  return document(allKinds());
}
