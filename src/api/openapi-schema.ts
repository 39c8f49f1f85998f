// JSON Schema (draft 2020-12, what zod emits) → OpenAPI 3.0 Schema Objects, and the Kubernetes
// extensions kubectl reads from them (x-kubernetes-patch-strategy & co).
//
// OpenAPI 3.0 has no type arrays, `const`, `$defs`, `propertyNames`, numeric `exclusiveMinimum` or
// siblings next to `$ref`; kube-openapi's parser (kubectl explain, apply) rejects or ignores them.
import { listPatchInfo, mapPatchInfo } from './patch/metadata.ts';

/** An OpenAPI 3.0 Schema Object (or JSON Schema on its way to becoming one). */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  enum?: unknown[];
  required?: string[];
  description?: string;
  nullable?: boolean;
  format?: string;
  [keyword: string]: unknown;
}

export const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
export const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
export const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

const REF_PREFIX = '#/components/schemas/';
export const componentRef = (name: string): string => `${REF_PREFIX}${name}`;
export const componentName = (ref: string): string | undefined =>
  ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : undefined;

/** 2020-12 keywords with no OpenAPI 3.0 equivalent; they only ever narrow what zod already checks. */
const DROPPED = new Set([
  '$schema',
  '$id',
  '$anchor',
  '$comment',
  '$dynamicRef',
  '$dynamicAnchor',
  'id',
  'propertyNames',
  'patternProperties',
  'prefixItems',
  'contentEncoding',
  'contentMediaType',
  'contentSchema',
  'dependentRequired',
  'dependentSchemas',
  'unevaluatedProperties',
  'unevaluatedItems',
  'if',
  'then',
  'else',
  'contains',
  'minContains',
  'maxContains',
]);

const isNullSchema = (s: unknown): boolean =>
  typeof s === 'object' && s !== null && (s as Schema).type === 'null' && Object.keys(s).length === 1;

const typeOf = (s: Schema | undefined): string | undefined =>
  typeof s?.type === 'string' ? s.type : undefined;

/** `integer | string` (a port, `maxUnavailable: 25%`…): Kubernetes' IntOrString. */
function isIntOrString(members: readonly Schema[]): boolean {
  const types = members.map(typeOf).sort();
  return members.length === 2 && types[0] === 'integer' && types[1] === 'string';
}

/** `string | number` (cpu: 500m or 0.5): Kubernetes' Quantity. */
function isQuantityTypes(types: readonly string[]): boolean {
  const t = [...types].sort();
  return t.length === 2 && t[0] === 'number' && t[1] === 'string';
}

/** A `$ref` cannot have siblings in OpenAPI 3.0: wrap it in allOf, as kube-openapi does. */
function withoutRefSiblings(s: Schema): Schema {
  if (s.$ref === undefined || Object.keys(s).length === 1) return s;
  const { $ref, ...rest } = s;
  return { allOf: [{ $ref }], ...rest };
}

/** One zod-emitted JSON Schema (2020-12) as an OpenAPI 3.0 Schema Object. Does not modify its input. */
export function toOpenAPI30(input: unknown): Schema {
  if (input === true || input === undefined || input === null) return {};
  if (input === false) return { not: {} };
  const src = input as Record<string, unknown>;
  if ('$defs' in src || 'definitions' in src)
    throw new Error('toOpenAPI30: nested $defs are not supported; register the schema as a component');
  let out: Schema = {};
  for (const [key, value] of Object.entries(src)) {
    if (DROPPED.has(key)) continue;
    switch (key) {
      case 'properties':
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toOpenAPI30(v)]),
        );
        break;
      case 'items':
        out.items = Array.isArray(value) ? toOpenAPI30({ anyOf: value }) : toOpenAPI30(value);
        break;
      case 'additionalProperties':
        out.additionalProperties = typeof value === 'boolean' ? value : toOpenAPI30(value);
        break;
      case 'not':
        out.not = toOpenAPI30(value);
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[key] = (value as unknown[]).map(toOpenAPI30);
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'examples':
        if (Array.isArray(value) && value.length) out.example = value[0];
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        // 2020-12: a number; 3.0: a boolean qualifying minimum/maximum.
        if (typeof value === 'number') {
          out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value;
          out[key] = true;
        } else out[key] = value;
        break;
      default:
        out[key] = value;
    }
  }

  // Type arrays: ['x', 'null'] is `nullable`; string|number is a Quantity; other unions become oneOf.
  if (Array.isArray(out.type)) {
    const types = out.type.filter((t) => t !== 'null');
    if (types.length < out.type.length) out.nullable = true;
    if (types.length === 1) out.type = types[0];
    else if (isQuantityTypes(types)) {
      delete out.type;
      out = { ...out, $ref: componentRef(QUANTITY) };
    } else {
      delete out.type;
      out.oneOf = types.map((type) => ({ type }));
    }
  }
  // anyOf/oneOf with a null member: `nullable` on what remains.
  for (const key of ['anyOf', 'oneOf'] as const) {
    const members = out[key];
    if (!members?.some(isNullSchema)) continue;
    const rest = members.filter((m) => !isNullSchema(m));
    out.nullable = true;
    if (rest.length === 1) {
      delete out[key];
      out = rest[0].$ref ? { ...out, allOf: [rest[0]] } : { ...rest[0], ...out };
    } else out[key] = rest;
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const members = out[key];
    if (members && isIntOrString(members)) {
      delete out[key];
      out = { ...out, $ref: componentRef(INT_OR_STRING) };
    }
  }
  if (out.enum?.includes(null)) {
    out.enum = out.enum.filter((v) => v !== null);
    out.nullable = true;
  }
  if (out.type === 'integer') {
    // z.int() bounds itself to the safe-integer range: noise to a reader, not a Kubernetes constraint.
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  // zod pairs `format` with the regular expression that implements it (date-time: ~400 characters).
  if (out.format && out.pattern) delete out.pattern;
  return withoutRefSiblings(out);
}

// ---- references ---------------------------------------------------------------------------------------

function eachRef(value: unknown, visit: (name: string) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) eachRef(v, visit);
    return;
  }
  if (!value || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      const name = componentName(v);
      if (name) visit(name);
    } else eachRef(v, visit);
  }
}

/** Names of every component reachable from `roots` and the `$ref`s inside `from`. */
export function collectRefs(
  components: Record<string, Schema>,
  from: unknown,
  roots: readonly string[],
): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  eachRef(from, (n) => queue.push(n));
  while (queue.length) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    eachRef(components[name], (n) => queue.push(n));
  }
  return seen;
}

/** The component a schema stands for: `{$ref}` or the `{allOf: [{$ref}]}` wrapper. */
function refTarget(s: Schema): string | undefined {
  const ref = s.$ref ?? (s.allOf?.length === 1 ? s.allOf[0].$ref : undefined);
  return ref === undefined ? undefined : componentName(ref);
}

// ---- Kubernetes merge extensions ----------------------------------------------------------------------

/** Adds `value` under `key` unless a path walked earlier (another kind embedding the same type) did. */
function setOnce(s: Schema, key: string, value: unknown): void {
  if (value !== undefined && s[key] === undefined) s[key] = value;
}

/** Extension siblings of a `$ref` would be ignored: move the reference into allOf first. */
function annotatable(parent: Record<string, Schema>, field: string): Schema {
  const s = parent[field];
  if (s.$ref === undefined) return s;
  parent[field] = { allOf: [{ $ref: s.$ref }] };
  return parent[field];
}

/**
 * Marks the list and struct fields reachable from a kind's component with the strategic-merge and
 * server-side-apply rules of src/api/patch/metadata.ts: `x-kubernetes-patch-strategy`,
 * `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
 * `x-kubernetes-map-type`. Components are shared between kinds (PodSpec in Pod, Deployment, Job…); the
 * rules of a Go type do not depend on who embeds it, so the first path that reaches a field decides.
 */
export function annotatePatchRules(
  components: Record<string, Schema>,
  root: string,
  apiVersion: string,
  kind: string,
): void {
  const walk = (schema: Schema, path: string[], stack: Set<string>): void => {
    const target = refTarget(schema);
    if (target !== undefined) {
      const resolved = components[target];
      if (!resolved || stack.has(target)) return;
      stack.add(target);
      walk(resolved, path, stack);
      stack.delete(target);
      return;
    }
    const props = schema.properties;
    for (const field of Object.keys(props ?? {})) {
      const fieldPath = [...path, field];
      const list = listPatchInfo(apiVersion, kind, fieldPath);
      const map = mapPatchInfo(apiVersion, kind, fieldPath);
      if (list || map?.patchStrategy || map?.structType || map?.mapType) {
        const prop = annotatable(props!, field);
        setOnce(prop, 'x-kubernetes-list-type', list?.listType);
        setOnce(prop, 'x-kubernetes-list-map-keys', list?.listMapKeys);
        setOnce(prop, 'x-kubernetes-patch-merge-key', list?.patchMergeKey);
        setOnce(prop, 'x-kubernetes-patch-strategy', list?.patchStrategy ?? map?.patchStrategy);
        setOnce(prop, 'x-kubernetes-map-type', map?.structType ?? map?.mapType);
      }
      walk(props![field], fieldPath, stack);
    }
    // Array levels are not part of the path (listPatchInfo's convention).
    if (schema.items) walk(schema.items, path, stack);
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const)
      for (const member of schema[key] ?? []) walk(member, path, stack);
  };
  const start = components[root];
  if (start) walk(start, [], new Set([root]));
}
