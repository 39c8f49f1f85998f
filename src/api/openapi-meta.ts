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
    'io.k8s.api.authentication.v1.TokenRequest': {
      description:
        'TokenRequest asks for a bound, expiring token of a ServiceAccount (the serviceaccounts/token subresource).',
      type: 'object',
      properties: {
        apiVersion: str('authentication.k8s.io/v1'),
        kind: str('TokenRequest'),
        metadata: ref(`${META}.ObjectMeta`),
        spec: {
          type: 'object',
          description: 'What the token is for.',
          properties: {
            audiences: {
              type: 'array',
              items: { type: 'string' },
              description: "Who the token is for; the API server's own audiences when empty.",
            },
            expirationSeconds: {
              type: 'integer',
              format: 'int64',
              description: 'Requested lifetime in seconds (at least 600; default 3600).',
            },
            boundObjectRef: {
              type: 'object',
              description: 'A Pod or Secret of the namespace the token dies with.',
              properties: {
                apiVersion: str('v1'),
                kind: str('Pod or Secret.'),
                name: str('Name of the object.'),
                uid: str('UID of the object (checked when given).'),
              },
            },
          },
        },
        status: {
          type: 'object',
          description: 'The issued token (read-only).',
          properties: {
            token: str('The signed JWT.'),
            expirationTimestamp: ref(`${META}.Time`, 'When the token expires.'),
          },
        },
      },
      'x-kubernetes-group-version-kind': [
        { group: 'authentication.k8s.io', kind: 'TokenRequest', version: 'v1' },
      ],
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
  'v1/ServiceAccount':
    'ServiceAccount binds together a name understood by users, secrets and image pull secrets.',
  'v1/Secret': 'Secret holds sensitive data (base64 in data, plain text in stringData) for pods to consume.',
  'v1/Event':
    'Event is a report of something that happened to an object, recorded by controllers, the scheduler and agents.',
  'apps/v1/Deployment':
    'Deployment keeps a number of identical pods running and rolls out changes to their template.',
  'apps/v1/ReplicaSet':
    'ReplicaSet keeps a number of pods matching its selector running; Deployments manage one per pod template.',
  'apps/v1/DaemonSet': 'DaemonSet runs one copy of a pod on every node that matches its selector.',
  'apps/v1/StatefulSet':
    'StatefulSet runs pods with stable names (NAME-0..N-1), stable host names under a headless Service and a PersistentVolumeClaim per pod and claim template, created in order and updated from the highest ordinal down.',
  'apps/v1/ControllerRevision':
    'ControllerRevision is an immutable snapshot of a workload template, kept for rollbacks.',
  'batch/v1/Job': 'Job runs pods until a number of them complete successfully.',
  'batch/v1/CronJob': 'CronJob creates Jobs on a schedule.',
  'coordination.k8s.io/v1/Lease':
    'Lease is a lock with a holder and a renew time; nodes heartbeat through theirs.',
  'policy/v1/PodDisruptionBudget':
    'PodDisruptionBudget limits how many pods of a set voluntary disruptions (evictions, drains) may take down at once.',
  'networking.k8s.io/v1/NetworkPolicy':
    'NetworkPolicy says which traffic may reach and leave the pods it selects; a selected pod is isolated in the directions of its policyTypes (enforced in the node kernel for container and microVM pods).',
  'v1/PersistentVolume':
    'PersistentVolume is a piece of storage on a node (an ext4 image file made by the local-path provisioner, or a directory) that a claim binds to.',
  'v1/PersistentVolumeClaim':
    'PersistentVolumeClaim is a request for storage (size, access modes, class) that pods mount by name.',
  'storage.k8s.io/v1/StorageClass':
    'StorageClass says how claims naming it get volumes: the provisioner, binding mode, reclaim policy and whether they may grow.',
  'v1/ResourceQuota':
    'ResourceQuota sets hard limits on the compute, storage and object counts a namespace may use (optionally per scope); status.used is kept exact by the server.',
  'v1/LimitRange':
    'LimitRange sets per-namespace defaults, minimums, maximums and limit/request ratios for container, pod and claim resources.',
  'scheduling.k8s.io/v1/PriorityClass':
    'PriorityClass maps a priority class name to an integer priority; higher-priority pods may preempt lower ones.',
  'rbac.authorization.k8s.io/v1/Role':
    'Role is a namespaced set of PolicyRules (verbs on resources) that a RoleBinding grants to subjects.',
  'rbac.authorization.k8s.io/v1/ClusterRole':
    'ClusterRole is a cluster-wide set of PolicyRules (resources and non-resource URLs); an aggregationRule fills it with the rules of the ClusterRoles its selectors match.',
  'rbac.authorization.k8s.io/v1/RoleBinding':
    'RoleBinding grants a Role, or a ClusterRole within this namespace, to users, groups and service accounts.',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding':
    'ClusterRoleBinding grants a ClusterRole to users, groups and service accounts in every namespace.',
  'certificates.k8s.io/v1/CertificateSigningRequest':
    'CertificateSigningRequest asks a signer for a certificate: nodes obtain their client certificates through it (signer kubernetes.io/kube-apiserver-client-kubelet).',
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

/**
 * Descriptions of the fields `kubectl explain` is most often asked about, by component (short name)
 * and field. Components and fields not listed here are explained by their type alone.
 */
const FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  ObjectMeta: {
    name: 'Name of the object, unique among objects of its kind in its namespace.',
    generateName: 'A prefix the server completes with random characters when name is not set.',
    namespace: 'The namespace the object lives in (namespaced kinds only); default when not set.',
    uid: 'Unique identifier the server assigns at creation; never reused. Read-only.',
    labels: 'Key/value pairs that selectors (Deployments, PodDisruptionBudgets, -l) match on.',
    annotations: 'Key/value pairs for tools and people; not used for selection.',
    resourceVersion:
      'The revision of the object in the store. Sent back on update it makes the write conditional (409 Conflict when someone else wrote first). Read-only.',
    generation: 'A counter of changes to the desired state (spec). Read-only.',
    creationTimestamp: 'When the object was created (RFC 3339, UTC). Read-only.',
    deletionTimestamp: 'When the object is to be deleted: set once a graceful deletion started. Read-only.',
    deletionGracePeriodSeconds: 'Seconds the object was given to stop when its deletion started. Read-only.',
    ownerReferences: 'The objects this one belongs to; it is garbage-collected when they are deleted.',
    finalizers: 'Entries that must be removed before a deleted object goes away.',
  },
  PodSpec: {
    runtimeClassName:
      'The sandbox tier to run the pod in: wasm (WASI modules in V8), container (OCI images on runc/crun) or microvm. Default: wasm when every image is a .wasm module, else container.',
    restartPolicy: 'Restart containers that exit: Always (default), OnFailure or Never.',
    nodeName: 'The node the pod runs on; set by the scheduler unless given.',
    nodeSelector: 'Labels a node must have for the pod to be placed on it.',
    affinity: 'Node affinity, pod affinity and anti-affinity rules for placement.',
    tolerations: 'Taints of nodes the pod tolerates.',
    topologySpreadConstraints: 'How to spread matching pods across topology domains (zones, nodes).',
    priorityClassName: 'A PriorityClass: higher priorities are placed first and may preempt lower ones.',
    priority: 'The priority resolved from priorityClassName. Set by the server.',
    preemptionPolicy: 'PreemptLowerPriority (default) or Never.',
    containers: 'The containers of the pod: at least one.',
    volumes: 'Volumes the containers can mount: configMap, secret or emptyDir.',
    terminationGracePeriodSeconds:
      'Seconds containers get between the stop signal and being killed (default 30).',
    activeDeadlineSeconds: 'Seconds the pod may run before it is stopped and marked Failed.',
  },
  Container: {
    name: 'Name of the container, unique in the pod (a DNS label).',
    image:
      'What to run: an OCI image reference (container, microvm) or a .wasm module path, https:// URL or OCI artifact (wasm); append @sha256:<hex> to pin the digest.',
    imagePullPolicy: 'When to pull the image: Always, IfNotPresent or Never.',
    command: "The entrypoint (argv[0] and on); the image's when not set.",
    args: "Arguments to the entrypoint; the image's when not set.",
    workingDir: "The container's working directory.",
    env: 'Environment variables, literal or from ConfigMap and Secret keys.',
    envFrom: 'ConfigMaps and Secrets whose every key becomes an environment variable.',
    resources: 'CPU and memory requests (for scheduling) and limits (enforced).',
    volumeMounts: "Volumes of the pod to mount into the container's filesystem.",
    ports: 'Ports the container listens on; hostPort publishes one on the node.',
    livenessProbe: 'Restarts the container when it fails.',
    readinessProbe: 'Keeps the pod out of Ready while it fails.',
    startupProbe: 'Holds off the other probes until it succeeds once.',
    securityContext: 'User, group, capabilities, seccomp and filesystem settings of the container.',
  },
  ContainerPort: {
    name: 'A name for the port (an IANA service name), unique in the pod.',
    containerPort: 'The port number the container listens on (1-65535).',
    hostPort: 'Publish the port on this port of the node (container tier).',
    protocol: 'TCP (default) or UDP.',
  },
  EnvVar: {
    name: 'Name of the environment variable.',
    value: 'A literal value.',
    valueFrom: 'Take the value from a ConfigMap or Secret key.',
  },
  ResourceRequirements: {
    requests: 'What the scheduler reserves for the container (cpu, memory).',
    limits: 'What the container may use at most: memory over it is an OOM kill, CPU is throttled.',
  },
  VolumeMount: {
    name: 'The volume of the pod to mount.',
    mountPath: 'Where in the container to mount it.',
    readOnly: 'Mount read-only.',
    subPath: 'Mount only this path inside the volume.',
  },
  DeploymentSpec: {
    replicas: 'How many pods to run (default 1).',
    selector: "Which pods belong to the Deployment; must match the template's labels. Immutable.",
    template: 'The pod each replica is created from; changing it rolls out a new revision.',
    strategy: 'How to replace old pods: RollingUpdate (default) or Recreate.',
    minReadySeconds: 'Seconds a new pod must be ready before it counts as available.',
    revisionHistoryLimit: 'How many old revisions to keep for rollback (default 10).',
    progressDeadlineSeconds:
      'Seconds a rollout may make no progress before it is reported stalled (default 600).',
    paused: 'Stop rolling out template changes until unpaused.',
  },
  JobSpec: {
    completions: 'How many pods must succeed (default 1).',
    parallelism: 'How many pods may run at once (default 1).',
    completionMode: 'NonIndexed (default) or Indexed: each pod gets a completion index.',
    backoffLimit: 'Failed pods tolerated before the Job fails (default 6).',
    activeDeadlineSeconds: 'Seconds the Job may run before it is failed.',
    ttlSecondsAfterFinished: 'Delete the finished Job after this many seconds.',
    template: 'The pod each run is created from.',
  },
  CronJobSpec: {
    schedule: 'When to run, in cron format ("*/5 * * * *") or a macro (@hourly).',
    timeZone: 'The time zone of the schedule (e.g. Europe/Paris); the server’s when not set.',
    concurrencyPolicy: 'What to do when a run is due while one is active: Allow, Forbid or Replace.',
    suspend: 'Stop creating new Jobs.',
    jobTemplate: 'The Job each run creates.',
  },
};

/** A field's description in a component (by its short name: `Container`, `PodSpec`…), if there is one. */
export function componentFieldDescription(component: string, field: string): string | undefined {
  return FIELDS[component.slice(component.lastIndexOf('.') + 1)]?.[field];
}
