// OpenAPI 3.1 for the Kubernetes URL layout, generated from the same zod schemas that validate
// requests, so the document cannot drift from what the server accepts.
import { z } from 'zod';
import { allKinds, type KindInfo } from './registry.ts';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** Kubernetes' component names: io.k8s.api.core.v1.Pod, io.k8s.api.apps.v1.Deployment, … */
export function schemaName(k: KindInfo, suffix = ''): string {
  const group = k.group ? k.group.split('.')[0] : 'core';
  return `io.k8s.api.${group}.${k.version}.${k.kind}${suffix}`;
}

function jsonSchema(schema: z.ZodType): object {
  // io: 'input' — documents what a client may send (defaulted fields are optional).
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });

const STATUS_SCHEMA = {
  type: 'object',
  properties: {
    kind: { const: 'Status' },
    apiVersion: { const: 'v1' },
    metadata: { type: 'object' },
    status: { enum: ['Success', 'Failure'] },
    message: { type: 'string' },
    reason: { type: 'string' },
    code: { type: 'integer' },
    details: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        group: { type: 'string' },
        kind: { type: 'string' },
        causes: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              field: { type: 'string' },
              message: { type: 'string' },
              reason: { type: 'string' },
            },
          },
        },
      },
    },
  },
};

const param = (name: string, where: 'path' | 'query', type = 'string', description?: string) => ({
  name,
  in: where,
  required: where === 'path',
  schema: { type },
  ...(description ? { description } : {}),
});

const LIST_PARAMS = [
  param('labelSelector', 'query', 'string', 'e.g. app=web,tier in (a,b)'),
  param('fieldSelector', 'query', 'string', 'e.g. spec.nodeName=node-1'),
  param('watch', 'query', 'boolean', 'stream changes as newline-delimited JSON WatchEvents'),
  param('resourceVersion', 'query'),
  param('limit', 'query', 'integer'),
  param('continue', 'query'),
];

function operations(k: KindInfo) {
  const name = schemaName(k);
  const group = k.group ? k.group.split('.')[0] : 'core';
  const id = `${group[0].toUpperCase()}${group.slice(1)}${k.version[0].toUpperCase()}${k.version.slice(1)}`;
  const scoped = k.namespaced ? 'Namespaced' : '';
  const errors = { default: { description: 'error', content: json(ref(`${META}.Status`)) } };
  const ok = (schema: object) => ({ '200': { description: 'OK', content: json(schema) }, ...errors });
  const tag = [k.plural];
  const body = { required: true, content: json(ref(name)) };
  const list = {
    tags: tag,
    operationId: `list${id}${scoped}${k.kind}`,
    parameters: LIST_PARAMS,
    responses: {
      '200': {
        description: 'OK',
        content: {
          ...json(ref(schemaName(k, 'List'))),
          'application/json;stream=watch': { schema: ref(`${META}.WatchEvent`) },
        },
      },
      ...errors,
    },
  };
  const prefix = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  const base = k.namespaced ? `${prefix}/namespaces/{namespace}/${k.plural}` : `${prefix}/${k.plural}`;
  const scopeParams = k.namespaced ? [param('namespace', 'path')] : [];
  const itemParams = [...scopeParams, param('name', 'path')];
  const paths: Record<string, object> = {
    [base]: {
      parameters: scopeParams,
      get: list,
      post: {
        tags: tag,
        operationId: `create${id}${scoped}${k.kind}`,
        requestBody: body,
        responses: { '201': { description: 'Created', content: json(ref(name)) }, ...ok(ref(name)) },
      },
    },
    [`${base}/{name}`]: {
      parameters: itemParams,
      get: { tags: tag, operationId: `read${id}${scoped}${k.kind}`, responses: ok(ref(name)) },
      put: {
        tags: tag,
        operationId: `replace${id}${scoped}${k.kind}`,
        requestBody: body,
        responses: ok(ref(name)),
      },
      delete: { tags: tag, operationId: `delete${id}${scoped}${k.kind}`, responses: ok(ref(name)) },
    },
  };
  if (k.hasStatus)
    paths[`${base}/{name}/status`] = {
      parameters: itemParams,
      get: { tags: tag, operationId: `read${id}${scoped}${k.kind}Status`, responses: ok(ref(name)) },
      put: {
        tags: tag,
        operationId: `replace${id}${scoped}${k.kind}Status`,
        requestBody: body,
        responses: ok(ref(name)),
      },
    };
  if (k.namespaced)
    paths[`${prefix}/${k.plural}`] = { get: { ...list, operationId: `list${id}${k.kind}ForAllNamespaces` } };
  return paths;
}

export function buildOpenAPI(): object {
  const schemas: Record<string, object> = {
    [`${META}.Status`]: STATUS_SCHEMA,
    [`${META}.WatchEvent`]: {
      type: 'object',
      required: ['type', 'object'],
      properties: {
        type: { enum: ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] },
        object: { type: 'object' },
      },
    },
  };
  let paths: Record<string, object> = {};
  for (const k of allKinds()) {
    schemas[schemaName(k)] = jsonSchema(k.schema);
    schemas[schemaName(k, 'List')] = {
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { const: k.apiVersion },
        kind: { const: `${k.kind}List` },
        metadata: {
          type: 'object',
          properties: { resourceVersion: { type: 'string' }, continue: { type: 'string' } },
        },
        items: { type: 'array', items: ref(schemaName(k)) },
      },
    };
    paths = { ...paths, ...operations(k) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Strata',
      version: 'v1',
      description: 'A documented subset of the Kubernetes API: kinds, URL layout, Status errors.',
    },
    paths,
    components: { schemas },
  };
}
