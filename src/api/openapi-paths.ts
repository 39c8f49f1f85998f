// The operations of each kind in kube-apiserver's OpenAPI layout: paths, operationIds
// (listCoreV1NamespacedPod…), `x-kubernetes-action` and `x-kubernetes-group-version-kind` on every
// operation. kubectl reads the PATCH operation's parameters to decide whether the server validates
// fields itself (`fieldValidation`), so that one must be there for `kubectl apply` to work without
// /openapi/v2.
import type { KindInfo } from './registry.ts';
import { META, componentRef, type Schema } from './openapi-schema.ts';
import { subresourcesOf, type SubresourceInfo } from './subresources.ts';

type Action = 'get' | 'list' | 'post' | 'put' | 'patch' | 'delete' | 'connect';
/** An OpenAPI object that is not a Schema Object (operation, parameter, request body, response…). */
type Obj = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: componentRef(name) });
const json = (schema: Schema): Obj => ({ 'application/json': { schema } });
const STATUS = ref(`${META}.Status`);
const errors = {
  '401': { description: 'Unauthorized' },
  default: { description: 'error', content: json(STATUS) },
};

function param(name: string, where: 'path' | 'query', schema: Schema, description: string): Obj {
  return {
    name,
    in: where,
    ...(where === 'path' ? { required: true } : {}),
    description,
    schema,
    uniqueItems: true,
  };
}
const query = (name: string, type: string, description: string) =>
  param(name, 'query', { type }, description);

const LIST_PARAMS = [
  query('labelSelector', 'string', 'Only objects whose labels match, e.g. app=web,tier in (a,b).'),
  query('fieldSelector', 'string', 'Only objects whose fields match, e.g. spec.nodeName=node-1.'),
  query('watch', 'boolean', 'Stream changes as newline-delimited WatchEvents instead of listing.'),
  query('resourceVersion', 'string', 'With watch: stream the changes after this revision.'),
  query('allowWatchBookmarks', 'boolean', 'With watch: send BOOKMARK events carrying the latest revision.'),
  query('timeoutSeconds', 'integer', 'With watch: end the stream after this many seconds.'),
];
const FIELD_VALIDATION = query(
  'fieldValidation',
  'string',
  'How to treat unknown and duplicate fields. Strata always validates strictly: a field outside its schema is refused with its path.',
);
const DELETE_PARAMS = [
  query(
    'gracePeriodSeconds',
    'integer',
    'Seconds the object (a pod: its containers) gets to stop; 0 deletes at once.',
  ),
];
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/** `CoreV1`, `AppsV1`, `CoordinationV1`: the group-version part of kube's operationIds. */
function operationGroup(k: KindInfo): string {
  const group = k.group ? k.group.split('.')[0] : 'core';
  const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
  return `${cap(group)}${cap(k.version)}`;
}

interface OperationSpec {
  action: Action;
  verb: string;
  /** operationId suffix after `<verb><Group><Version>`: `NamespacedPod`, `PodForAllNamespaces`… */
  target: string;
  description: string;
  parameters?: Obj[];
  requestBody?: Obj;
  responses: Record<string, Obj>;
  gvk: { group: string; version: string; kind: string };
}

function operation(k: KindInfo, o: OperationSpec): Obj {
  return {
    tags: [`${k.group ? k.group.split('.')[0] : 'core'}_${k.version}`],
    description: o.description,
    operationId: `${o.verb}${operationGroup(k)}${o.target}`,
    ...(o.parameters?.length ? { parameters: o.parameters } : {}),
    ...(o.requestBody ? { requestBody: o.requestBody } : {}),
    responses: { ...o.responses, ...errors },
    'x-kubernetes-action': o.action,
    'x-kubernetes-group-version-kind': o.gvk,
  };
}

const ok = (schema: Schema, description = 'OK') => ({ '200': { description, content: json(schema) } });

/** The paths of one kind: collection, item, status, the kind's other subresources, all-namespaces list. */
export function operations(k: KindInfo, schemaName: string): Record<string, Obj> {
  const gvk = { group: k.group, version: k.version, kind: k.kind };
  const scope = k.namespaced ? 'Namespaced' : '';
  const prefix = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  const base = k.namespaced ? `${prefix}/namespaces/{namespace}/${k.plural}` : `${prefix}/${k.plural}`;
  const namespaceParam = param(
    'namespace',
    'path',
    { type: 'string' },
    'object name and auth scope, such as for teams and projects',
  );
  const nameParam = param('name', 'path', { type: 'string' }, `name of the ${k.kind}`);
  const scopeParams = k.namespaced ? [namespaceParam] : [];
  const object = ref(schemaName);
  const body = { required: true, content: json(object) };
  const patchBody = {
    required: true,
    content: Object.fromEntries(PATCH_TYPES.map((t) => [t, { schema: ref(`${META}.Patch`) }])),
  };
  const listResponses = {
    '200': {
      description: 'OK',
      content: {
        ...json(ref(`${schemaName}List`)),
        'application/json;stream=watch': { schema: ref(`${META}.WatchEvent`) },
      },
    },
  };
  const list = (target: string, description: string) =>
    operation(k, {
      action: 'list',
      verb: 'list',
      target,
      description,
      parameters: LIST_PARAMS,
      responses: listResponses,
      gvk,
    });

  const paths: Record<string, Obj> = {
    [base]: {
      parameters: scopeParams,
      get: list(`${scope}${k.kind}`, `list or watch objects of kind ${k.kind}`),
      post: operation(k, {
        action: 'post',
        verb: 'create',
        target: `${scope}${k.kind}`,
        description: `create a ${k.kind}`,
        parameters: [FIELD_VALIDATION],
        requestBody: body,
        responses: { ...ok(object), '201': { description: 'Created', content: json(object) } },
        gvk,
      }),
    },
    [`${base}/{name}`]: {
      parameters: [nameParam, ...scopeParams],
      get: operation(k, {
        action: 'get',
        verb: 'read',
        target: `${scope}${k.kind}`,
        description: `read the specified ${k.kind}`,
        responses: ok(object),
        gvk,
      }),
      put: operation(k, {
        action: 'put',
        verb: 'replace',
        target: `${scope}${k.kind}`,
        description: `replace the specified ${k.kind}`,
        parameters: [FIELD_VALIDATION],
        requestBody: body,
        responses: ok(object),
        gvk,
      }),
      patch: operation(k, {
        action: 'patch',
        verb: 'patch',
        target: `${scope}${k.kind}`,
        description: `partially update the specified ${k.kind}`,
        parameters: [FIELD_VALIDATION],
        requestBody: patchBody,
        responses: ok(object),
        gvk,
      }),
      delete: operation(k, {
        action: 'delete',
        verb: 'delete',
        target: `${scope}${k.kind}`,
        description: `delete a ${k.kind}`,
        parameters: DELETE_PARAMS,
        requestBody: { content: json(ref(`${META}.DeleteOptions`)) },
        responses: { ...ok(object), '202': { description: 'Accepted', content: json(object) } },
        gvk,
      }),
    },
  };
  for (const sub of subresourcesOf(k)) {
    paths[`${base}/{name}/${sub.name}`] = {
      parameters: [nameParam, ...scopeParams],
      ...subresourceOperations(k, sub, `${scope}${k.kind}`, schemaName, patchBody),
    };
  }
  if (k.namespaced)
    paths[`${prefix}/${k.plural}`] = {
      get: list(`${k.kind}ForAllNamespaces`, `list or watch objects of kind ${k.kind} in every namespace`),
    };
  return paths;
}

/** The component of a subresource's request and response body. */
function subresourceSchema(sub: SubresourceInfo, kindSchema: string): Schema {
  const { group, version, kind } = sub.responseKind;
  if (sub.name === 'status') return ref(kindSchema);
  const pkg = `io.k8s.api.${group ? group.split('.')[0] : 'core'}.${version}`;
  return ref(`${pkg}.${kind}`);
}

function subresourceOperations(
  k: KindInfo,
  sub: SubresourceInfo,
  target: string,
  kindSchema: string,
  patchBody: Obj,
): Obj {
  const suffix = `${target}${sub.name[0].toUpperCase()}${sub.name.slice(1)}`;
  const gvk = sub.responseKind;
  const schema = subresourceSchema(sub, kindSchema);
  const body = { required: true, content: json(schema) };
  const ops: Obj = {};
  if (sub.name === 'log') {
    ops.get = operation(k, {
      action: 'get',
      verb: 'read',
      target: suffix,
      description: `read log of the specified ${k.kind}`,
      parameters: [
        query('container', 'string', 'The container to read; optional when the pod has one.'),
        query('follow', 'boolean', 'Stream the log as it grows.'),
        query('previous', 'boolean', "The previous run's log (after a restart)."),
        query('tailLines', 'integer', 'Only the last lines.'),
        query('timestamps', 'boolean', 'Prefix each line with its RFC 3339 time.'),
        query('limitBytes', 'integer', 'Stop after this many bytes.'),
      ],
      responses: { '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } } },
      gvk: { group: k.group, version: k.version, kind: k.kind },
    });
    return ops;
  }
  if (sub.name === 'exec') {
    const parameters = [
      query('command', 'string', 'The command to run, one parameter per argument.'),
      query('container', 'string', 'The container to run it in; optional when the pod has one.'),
      query('stdin', 'boolean', 'Attach stdin.'),
      query('stdout', 'boolean', 'Attach stdout.'),
      query('stderr', 'boolean', 'Attach stderr.'),
      query('tty', 'boolean', 'Allocate a terminal.'),
    ];
    const connect = (verb: 'Get' | 'Post') =>
      operation(k, {
        action: 'connect',
        verb: `connect${verb}`,
        target: suffix,
        description: `connect ${verb.toUpperCase()} requests to exec of ${k.kind} (WebSocket or SPDY upgrade)`,
        parameters,
        responses: { '200': { description: 'OK', content: { '*/*': { schema: { type: 'string' } } } } },
        gvk,
      });
    return { get: connect('Get'), post: connect('Post') };
  }
  for (const verb of sub.verbs) {
    if (verb === 'get')
      ops.get = operation(k, {
        action: 'get',
        verb: 'read',
        target: suffix,
        description: `read ${sub.name} of the specified ${k.kind}`,
        responses: ok(schema),
        gvk,
      });
    if (verb === 'update')
      ops.put = operation(k, {
        action: 'put',
        verb: 'replace',
        target: suffix,
        description: `replace ${sub.name} of the specified ${k.kind}`,
        parameters: [FIELD_VALIDATION],
        requestBody: body,
        responses: ok(schema),
        gvk,
      });
    if (verb === 'patch')
      ops.patch = operation(k, {
        action: 'patch',
        verb: 'patch',
        target: suffix,
        description: `partially update ${sub.name} of the specified ${k.kind}`,
        parameters: [FIELD_VALIDATION],
        requestBody: patchBody,
        responses: ok(schema),
        gvk,
      });
    if (verb === 'create')
      ops.post = operation(k, {
        action: 'post',
        verb: 'create',
        target: suffix,
        description: `create ${sub.name} of a ${k.kind}: ${sub.description}`,
        requestBody: body,
        responses: { '201': { description: 'Created', content: json(STATUS) }, ...ok(STATUS) },
        gvk,
      });
  }
  return ops;
}
