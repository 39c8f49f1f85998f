// The OpenAPI components that are not generated from a kind's zod schema (Status, ListMeta, WatchEvent,
// Patch, IntOrString, Quantity…) and the descriptions `kubectl explain` prints for kinds and their
// top-level fields.
import type { KindInfo } from './registry.ts';
import { INT_OR_STRING, META, QUANTITY, componentRef, type Schema } from './openapi-schema.ts';

const str = (description: string): Schema => ({ type: 'string', description });
const int = (description: string): Schema => ({ type: 'integer', format: 'int32', description });
const ref = (name: string, description?: string): Schema => ({
  allOf: [{ $ref: componentRef(name) }],
  ...(description ? { description } : {}),
});

export function metaComponents(): Record<string, Schema> {
  return {
    [`${META}.ListMeta`]: {
      description: 'Metadata of a list response.',
      type: 'object',
      properties: {
        resourceVersion: str(
          'The revision of the store the list was read at; watch from it to follow changes.',
        ),
        continue: str('Set when the list was truncated by `limit`: pass it back to read the next page.'),
        remainingItemCount: {
          type: 'integer',
          format: 'int64',
          description: 'Items left after this page, when known.',
        },
      },
    },
    [`${META}.Status`]: {
      description: 'The result of an operation that does not return an object, and every error.',
      type: 'object',
      properties: {
        apiVersion: str('v1'),
        kind: str('Status'),
        metadata: ref(`${META}.ListMeta`),
        status: str('"Success" or "Failure".'),
        message: str('A human-readable description of the status.'),
        reason: str('A machine-readable reason in CamelCase (NotFound, AlreadyExists, Invalid, Conflict…).'),
        code: int('The HTTP status code.'),
        details: ref(`${META}.StatusDetails`, 'What the status is about, with the fields at fault.'),
      },
      'x-kubernetes-group-version-kind': [{ group: '', kind: 'Status', version: 'v1' }],
    },
    [`${META}.StatusDetails`]: {
      description: 'The object a Status is about and the causes of a failure.',
      type: 'object',
      properties: {
        name: str('Name of the object.'),
        group: str('API group of the object.'),
        kind: str('Kind (or resource) of the object.'),
        uid: str('UID of the object.'),
        causes: {
          type: 'array',
          items: { $ref: componentRef(`${META}.StatusCause`) },
          description: 'One entry per problem: the field and what is wrong with it.',
        },
        retryAfterSeconds: int('How long the client should wait before retrying.'),
      },
    },
    [`${META}.StatusCause`]: {
      description: 'One problem with a request.',
      type: 'object',
      properties: {
        field: str('The field at fault, e.g. spec.containers[0].image.'),
        message: str('What is wrong.'),
        reason: str('FieldValueRequired, FieldValueInvalid, FieldValueNotSupported…'),
      },
    },
    [`${META}.WatchEvent`]: {
      description: 'One event of a watch stream (newline-delimited JSON).',
      type: 'object',
      required: ['type', 'object'],
      properties: {
        type: { type: 'string', enum: ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] },
        object: { type: 'object', description: 'The object (a Status for ERROR).' },
      },
    },
    [`${META}.Patch`]: {
      description:
        'A patch: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch or apply configuration, by Content-Type.',
      type: 'object',
    },
    [`${META}.Time`]: {
      description: 'An RFC 3339 date and time, e.g. 2026-01-01T12:00:00Z.',
      type: 'string',
      format: 'date-time',
    },
    // Bodies of subresources that are not kinds of their own.
    'io.k8s.api.autoscaling.v1.Scale': {
      description: 'Scale is the replicas of a scalable kind (the scale subresource).',
      type: 'object',
      properties: {
        apiVersion: str('autoscaling/v1'),
        kind: str('Scale'),
        metadata: ref(`${META}.ObjectMeta`, "The scaled object's metadata; resourceVersion pins the update."),
        spec: {
          type: 'object',
          description: 'The desired scale.',
          properties: { replicas: int('Desired number of replicas.') },
        },
        status: {
          type: 'object',
          description: 'The current scale (read-only).',
          properties: {
            replicas: int('Observed number of replicas.'),
            selector: str('The label selector of the pods, in query-parameter form.'),
          },
        },
      },
      'x-kubernetes-group-version-kind': [{ group: 'autoscaling', kind: 'Scale', version: 'v1' }],
    },
    'io.k8s.api.core.v1.Binding': {
      description: 'Binding assigns a pod to a node (what a scheduler posts to pods/binding).',
      type: 'object',
      required: ['target'],
      properties: {
        apiVersion: str('v1'),
        kind: str('Binding'),
        metadata: ref(`${META}.ObjectMeta`),
        target: ref('io.k8s.api.core.v1.ObjectReference', 'The node to bind to (name).'),
      },
      'x-kubernetes-group-version-kind': [{ group: '', kind: 'Binding', version: 'v1' }],
    },
    [INT_OR_STRING]: {
      description: 'An integer or a string, e.g. a port number or name, or a count or percentage ("25%").',
      format: 'int-or-string',
      oneOf: [{ type: 'integer' }, { type: 'string' }],
    },
    [QUANTITY]: {
      description: 'A quantity: a number with an optional suffix, e.g. 500m (CPU), 128Mi or 1G (memory).',
      oneOf: [{ type: 'string' }, { type: 'number' }],
    },
  };
}

/** What each kind is, as `kubectl explain <kind>` shows it. */
const KINDS: Readonly<Record<string, string>> = {
  'v1/Namespace':
    'Namespace provides a scope for names. Most kinds are namespaced; deleting a namespace deletes what is in it.',
  'v1/Node':
    'Node is a machine running the Strata agent. It reports the runtime classes (sandbox tiers) it runs, its capacity and health.',
  'v1/Pod':
    'Pod is a group of containers scheduled together onto one node and run in one sandbox tier (spec.runtimeClassName: wasm, container or microvm).',
  'v1/ConfigMap': 'ConfigMap holds configuration data for pods to consume as environment variables or files.',
  'v1/Secret': 'Secret holds sensitive data (base64 in data, plain text in stringData) for pods to consume.',
  'v1/Event':
    'Event is a report of something that happened to an object, recorded by controllers, the scheduler and agents.',
  'apps/v1/Deployment':
    'Deployment keeps a number of identical pods running and rolls out changes to their template.',
  'apps/v1/DaemonSet': 'DaemonSet runs one copy of a pod on every node that matches its selector.',
  'apps/v1/ControllerRevision':
    'ControllerRevision is an immutable snapshot of a workload template, kept for rollbacks.',
  'batch/v1/Job': 'Job runs pods until a number of them complete successfully.',
  'batch/v1/CronJob': 'CronJob creates Jobs on a schedule.',
  'coordination.k8s.io/v1/Lease':
    'Lease is a lock with a holder and a renew time; nodes heartbeat through theirs.',
  'policy/v1/PodDisruptionBudget':
    'PodDisruptionBudget limits how many pods of a set voluntary disruptions (evictions, drains) may take down at once.',
  'scheduling.k8s.io/v1/PriorityClass':
    'PriorityClass maps a priority class name to an integer priority; higher-priority pods may preempt lower ones.',
};

export function kindDescription(k: KindInfo): string {
  return KINDS[`${k.apiVersion}/${k.kind}`] ?? `${k.kind} (${k.apiVersion}).`;
}

/** The fields every kind has. */
export function fieldDescription(field: string, k: KindInfo): string | undefined {
  switch (field) {
    case 'apiVersion':
      return `APIVersion defines the versioned schema of this representation of an object: ${k.apiVersion}.`;
    case 'kind':
      return `Kind is the type of the object: ${k.kind}.`;
    case 'metadata':
      return "Standard object's metadata: name, namespace, labels, annotations, owner references, and the fields the server sets.";
    case 'spec':
      return `Specification of the desired behavior of the ${k.kind}.`;
    case 'status':
      return `Most recently observed status of the ${k.kind}. Populated by the system; read-only.`;
    default:
      return undefined;
  }
}
