// v1 Pod: the unit the scheduler places and a node's agent runs in one sandbox tier
// (spec.runtimeClassName: wasm | container | microvm).
import { z } from 'zod';
import { addCause, exactlyOne, msg, Reason } from '../causes.ts';
import {
  checkedString,
  Condition,
  DNSLabel,
  DNSSubdomain,
  LabelSelector,
  Labels,
  ObjectMeta,
  QualifiedName,
  TemplateMeta,
  Timestamp,
} from '../meta.ts';
import { labelValueErrors } from '../names.ts';
import { CpuQuantity, MemoryQuantity, parseCpu, parseMemory } from '../quantity.ts';
import { EphemeralVolumeSource, PersistentVolumeClaimVolumeSource } from './persistentvolumeclaim.ts';

export const RUNTIME_CLASSES = ['wasm', 'container', 'microvm'] as const;
export const RuntimeClassName = z.enum(RUNTIME_CLASSES);
export type RuntimeClassName = z.infer<typeof RuntimeClassName>;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const WASM_IMAGE = /\.wasm(@sha256:[a-f0-9]{64})?$/;

/** Image reference problems: whitespace, or a pin suffix that is not `@sha256:<64 hex>`. */
export function imageErrors(image: string): string[] {
  const errs: string[] = [];
  if (/\s/.test(image)) errs.push('must not contain whitespace');
  const at = image.lastIndexOf('@');
  // An '@' followed by a '/' belongs to a URL's user info, not to a digest.
  if (at >= 0 && !image.slice(at + 1).includes('/')) {
    if (at === 0) errs.push('must name an image before the digest');
    if (!DIGEST.test(image.slice(at + 1))) errs.push('digest must be sha256:<64 lowercase hex digits>');
  }
  return errs;
}

/** A plain WebAssembly module: `app.wasm`, `app.wasm@sha256:…`, `https://host/app.wasm`. */
export function isWasmImage(image: string): boolean {
  return WASM_IMAGE.test(image);
}

/** The tier a pod gets when it names none: wasm when every image is a wasm module, else container. */
export function inferRuntimeClass(images: readonly string[]): RuntimeClassName {
  return images.length > 0 && images.every(isWasmImage) ? 'wasm' : 'container';
}

function relativePathErrors(p: string): string[] {
  const errs: string[] = [];
  if (p.startsWith('/')) errs.push('must be a relative path');
  if (p.split('/').includes('..')) errs.push("must not contain '..'");
  return errs;
}
const RelativePath = checkedString(relativePathErrors);
const FileMode = z.int().min(0).max(0o777);

const EnvVarName = checkedString((v) =>
  /^[\x20-\x3c\x3e-\x7e]+$/.test(v)
    ? []
    : ["a valid environment variable name must consist only of printable ASCII characters other than '='"],
);

const KeySelector = z.strictObject({
  name: z.string().min(1),
  key: z.string().min(1),
  optional: z.boolean().optional(),
});
const NameRef = z.strictObject({ name: z.string().min(1), optional: z.boolean().optional() });

/**
 * The downward API's single values (env and downwardAPI volume items), as Kubernetes accepts them. Whole
 * label and annotation maps (`metadata.labels`) only in volumes, as in Kubernetes.
 */
export const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
] as const;
const SUBSCRIPTED_FIELD = /^metadata\.(labels|annotations)\['([^']+)'\]$/;
export const VOLUME_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.labels',
  'metadata.annotations',
] as const;

function fieldPathChecker(allowed: readonly string[]) {
  return checkedString((v) =>
    allowed.includes(v) || SUBSCRIPTED_FIELD.test(v)
      ? []
      : [
          `supported values: ${allowed.map((a) => `"${a}"`).join(', ')}, "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"`,
        ],
  );
}

export const ObjectFieldSelector = z.strictObject({
  apiVersion: z.literal('v1').optional(),
  fieldPath: fieldPathChecker(ENV_FIELD_PATHS),
});
const VolumeObjectFieldSelector = z.strictObject({
  apiVersion: z.literal('v1').optional(),
  fieldPath: fieldPathChecker(VOLUME_FIELD_PATHS),
});

export const RESOURCE_FIELDS = [
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
] as const;
export const ResourceFieldSelector = z.strictObject({
  containerName: z.string().optional(),
  resource: z.enum(RESOURCE_FIELDS),
  divisor: z.union([z.string(), z.number()]).optional(),
});

export const EnvVarSource = z
  .strictObject({
    configMapKeyRef: KeySelector.optional(),
    secretKeyRef: KeySelector.optional(),
    fieldRef: ObjectFieldSelector.optional(),
    resourceFieldRef: ResourceFieldSelector.optional(),
  })
  .superRefine(exactlyOne(['configMapKeyRef', 'secretKeyRef', 'fieldRef', 'resourceFieldRef'], 'source'));

export const EnvVar = z
  .strictObject({ name: EnvVarName, value: z.string().optional(), valueFrom: EnvVarSource.optional() })
  .superRefine((e, ctx) => {
    if (e.value && e.valueFrom)
      addCause(
        ctx,
        ['valueFrom'],
        Reason.Invalid,
        msg.invalid('', 'may not be specified when `value` is not empty'),
      );
  });
export type EnvVar = z.infer<typeof EnvVar>;

export const EnvFromSource = z
  .strictObject({
    prefix: z.string().optional(),
    configMapRef: NameRef.optional(),
    secretRef: NameRef.optional(),
  })
  .superRefine(exactlyOne(['configMapRef', 'secretRef'], 'source'));

export const ResourceList = z.strictObject({
  cpu: CpuQuantity.optional(),
  memory: MemoryQuantity.optional(),
});
export type ResourceList = z.infer<typeof ResourceList>;

export const ResourceRequirements = z
  .strictObject({ requests: ResourceList.optional(), limits: ResourceList.optional() })
  .superRefine((r, ctx) => {
    const parsers = { cpu: parseCpu, memory: parseMemory };
    for (const res of ['cpu', 'memory'] as const) {
      const req = r.requests?.[res];
      const lim = r.limits?.[res];
      if (req !== undefined && lim !== undefined && parsers[res](req) > parsers[res](lim))
        addCause(
          ctx,
          ['requests', res],
          Reason.Invalid,
          msg.invalid(req, `must be less than or equal to ${res} limit of ${lim}`),
        );
    }
  });
export type ResourceRequirements = z.infer<typeof ResourceRequirements>;

export const VolumeMount = z
  .strictObject({
    name: z.string().min(1),
    mountPath: z.string().min(1),
    readOnly: z.boolean().optional(),
    subPath: checkedString(relativePathErrors, true).optional(),
    // $(VAR) from the container's env, expanded on the node (the result is checked there).
    subPathExpr: z.string().min(1).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.subPath !== undefined && m.subPathExpr !== undefined)
      addCause(
        ctx,
        ['subPathExpr'],
        Reason.Invalid,
        msg.invalid(m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'),
      );
  });
export type VolumeMount = z.infer<typeof VolumeMount>;

const Port = z.int().min(1).max(65535);
/** IANA service name: what a named port may be called (≤15, lowercase, at least one letter). */
const PortName = checkedString((v) =>
  v.length <= 15 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) && /[a-z]/.test(v) && !v.includes('--')
    ? []
    : [
        "must be no more than 15 characters, contain only lowercase alphanumerics and '-', and at least one letter",
      ],
);

export const ContainerPort = z.strictObject({
  name: PortName.optional(),
  containerPort: Port,
  hostPort: Port.optional(),
  protocol: z.enum(['TCP', 'UDP']).default('TCP'),
});
export type ContainerPort = z.infer<typeof ContainerPort>;

const PortRef = z.union([Port, PortName]);

// Probe timing defaults are Kubernetes' own, so a probe copied from a k8s manifest behaves the same.
export const Probe = z
  .strictObject({
    httpGet: z
      .strictObject({
        path: z.string().optional(),
        port: PortRef,
        host: z.string().optional(),
        scheme: z.enum(['HTTP', 'HTTPS']).optional(),
        httpHeaders: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).optional(),
      })
      .optional(),
    tcpSocket: z.strictObject({ port: PortRef, host: z.string().optional() }).optional(),
    exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
    initialDelaySeconds: z.int().min(0).default(0),
    periodSeconds: z.int().min(1).default(10),
    timeoutSeconds: z.int().min(1).default(1),
    successThreshold: z.int().min(1).default(1),
    failureThreshold: z.int().min(1).default(3),
  })
  .superRefine(exactlyOne(['httpGet', 'tcpSocket', 'exec'], 'handler type'));
export type Probe = z.infer<typeof Probe>;

/** Linux capabilities by name (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL` in drop). */
const CapabilityName = z
  .string()
  .regex(/^(CAP_)?[A-Z_]+$/, 'must be a capability name like NET_BIND_SERVICE');

/** The container securityContext subset the container tier enforces (wasm ignores it: no users, no caps). */
export const SecurityContext = z.strictObject({
  runAsUser: z.int().min(0).optional(),
  runAsGroup: z.int().min(0).optional(),
  runAsNonRoot: z.boolean().optional(),
  // Runs the container with full host privileges: refused, since it would undo every other isolation here.
  privileged: z.literal(false).optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  capabilities: z
    .strictObject({ add: z.array(CapabilityName).optional(), drop: z.array(CapabilityName).optional() })
    .optional(),
  seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Unconfined']) }).optional(),
});
export type SecurityContext = z.infer<typeof SecurityContext>;

/** A lifecycle hook: postStart and preStop (exec, httpGet, tcpSocket; sleep is preStop-only in practice). */
export const LifecycleHandler = z
  .strictObject({
    exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
    httpGet: z
      .strictObject({
        path: z.string().optional(),
        port: PortRef,
        host: z.string().optional(),
        scheme: z.enum(['HTTP', 'HTTPS']).optional(),
        httpHeaders: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).optional(),
      })
      .optional(),
    tcpSocket: z.strictObject({ port: PortRef, host: z.string().optional() }).optional(),
    sleep: z.strictObject({ seconds: z.int().min(0) }).optional(),
  })
  .superRefine(exactlyOne(['exec', 'httpGet', 'tcpSocket', 'sleep'], 'handler type'));
export type LifecycleHandler = z.infer<typeof LifecycleHandler>;

export const Lifecycle = z.strictObject({
  postStart: LifecycleHandler.optional(),
  preStop: LifecycleHandler.optional(),
  stopSignal: z.string().optional(),
});

export const Container = z
  .strictObject({
    name: DNSLabel,
    image: z
      .string()
      .min(1)
      .superRefine((v, ctx) => {
        for (const e of imageErrors(v)) addCause(ctx, [], Reason.Invalid, msg.invalid(v, e));
      }),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(EnvVar).optional(),
    envFrom: z.array(EnvFromSource).optional(),
    resources: ResourceRequirements.optional(),
    volumeMounts: z.array(VolumeMount).optional(),
    ports: z.array(ContainerPort).optional(),
    livenessProbe: Probe.optional(),
    readinessProbe: Probe.optional(),
    startupProbe: Probe.optional(),
    securityContext: SecurityContext.optional(),
    lifecycle: Lifecycle.optional(),
    terminationMessagePath: z.string().startsWith('/').optional(),
    terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
    stdin: z.boolean().optional(),
    stdinOnce: z.boolean().optional(),
    tty: z.boolean().optional(),
    // Only for init containers: `Always` makes a native sidecar (checked in PodSpec).
    restartPolicy: z.literal('Always').optional(),
  })
  .superRefine((c, ctx) => {
    const paths = new Set<string>();
    c.volumeMounts?.forEach((m, i) => {
      if (paths.has(m.mountPath))
        addCause(
          ctx,
          ['volumeMounts', i, 'mountPath'],
          Reason.Invalid,
          msg.invalid(m.mountPath, 'must be unique'),
        );
      paths.add(m.mountPath);
    });
    const names = new Set<string>();
    c.ports?.forEach((p, i) => {
      if (p.name === undefined) return;
      if (names.has(p.name)) addCause(ctx, ['ports', i, 'name'], Reason.Duplicate, msg.duplicate(p.name));
      names.add(p.name);
    });
  });
export type Container = z.infer<typeof Container>;

/** What an ephemeral container may not have (Kubernetes' validateEphemeralContainers): it never serves. */
const EPHEMERAL_FORBIDDEN = [
  'ports',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'lifecycle',
  'resources',
  'restartPolicy',
] as const;

/**
 * An ephemeral container (`kubectl debug`): a container added to a running pod through the
 * `pods/NAME/ephemeralcontainers` subresource, run once and never restarted. `targetContainerName` names
 * the container whose process namespace it would share; Strata's tiers run it in the pod's network and
 * volumes but in a process namespace of its own (the field is kept, not honoured).
 */
export const EphemeralContainer = z
  .strictObject({ ...Container.shape, targetContainerName: z.string().optional() })
  .superRefine((c, ctx) => {
    // Empty values are no setting (clients such as kubectl debug send `resources: {}`).
    const set = (v: unknown): boolean =>
      v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0);
    for (const f of EPHEMERAL_FORBIDDEN)
      if (set(c[f]))
        addCause(ctx, [f], Reason.Forbidden, msg.forbidden('cannot be set for an Ephemeral Container'));
  });
export type EphemeralContainer = z.infer<typeof EphemeralContainer>;

const KeyToPath = z.strictObject({ key: z.string().min(1), path: RelativePath, mode: FileMode.optional() });

export const ConfigMapVolumeSource = z.strictObject({
  name: DNSSubdomain,
  items: z.array(KeyToPath).optional(),
  optional: z.boolean().optional(),
  defaultMode: FileMode.default(0o644),
});
export const SecretVolumeSource = z.strictObject({
  secretName: DNSSubdomain,
  items: z.array(KeyToPath).optional(),
  optional: z.boolean().optional(),
  defaultMode: FileMode.default(0o644),
});
export const EmptyDirVolumeSource = z.strictObject({
  medium: z.enum(['', 'Memory']).optional(),
  sizeLimit: MemoryQuantity.optional(),
});

export const DownwardAPIVolumeFile = z
  .strictObject({
    path: RelativePath,
    fieldRef: VolumeObjectFieldSelector.optional(),
    resourceFieldRef: ResourceFieldSelector.optional(),
    mode: FileMode.optional(),
  })
  .superRefine(exactlyOne(['fieldRef', 'resourceFieldRef'], 'source'));
export const DownwardAPIVolumeSource = z.strictObject({
  items: z.array(DownwardAPIVolumeFile).optional(),
  defaultMode: FileMode.default(0o644),
});

/**
 * A bound service-account token written into a projected volume: the node requests it (TokenRequest bound
 * to the pod, for `audience` or the API's) and rewrites it before 80 % of its lifetime (src/agent/volumes/).
 */
export const ServiceAccountTokenProjection = z
  .strictObject({
    audience: z.string().optional(),
    expirationSeconds: z.int().default(3600),
    path: RelativePath,
  })
  .superRefine((t, ctx) => {
    if (t.expirationSeconds < 600)
      addCause(
        ctx,
        ['expirationSeconds'],
        Reason.Invalid,
        msg.invalid(t.expirationSeconds, 'may not specify a duration less than 10 minutes'),
      );
    if (t.expirationSeconds > 2 ** 32)
      addCause(
        ctx,
        ['expirationSeconds'],
        Reason.Invalid,
        msg.invalid(t.expirationSeconds, 'may not specify a duration larger than 2^32 seconds'),
      );
  });

export const VolumeProjection = z
  .strictObject({
    configMap: ConfigMapVolumeSource.omit({ defaultMode: true }).optional(),
    secret: z
      .strictObject({
        name: DNSSubdomain,
        items: z.array(KeyToPath).optional(),
        optional: z.boolean().optional(),
      })
      .optional(),
    downwardAPI: z.strictObject({ items: z.array(DownwardAPIVolumeFile).optional() }).optional(),
    serviceAccountToken: ServiceAccountTokenProjection.optional(),
  })
  .superRefine(exactlyOne(['configMap', 'secret', 'downwardAPI', 'serviceAccountToken'], 'projection type'));
export const ProjectedVolumeSource = z.strictObject({
  sources: z.array(VolumeProjection),
  defaultMode: FileMode.default(0o644),
});

export const HOST_PATH_TYPES = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
] as const;
/**
 * A node directory or file in the pod. It bypasses the node's isolation of pod data, so once RBAC exists
 * only administrators may create pods with it (a pod-admission check on `volumes[].hostPath`).
 */
export const HostPathVolumeSource = z.strictObject({
  path: z.string().startsWith('/'),
  type: z.enum(HOST_PATH_TYPES).optional(),
});

export const Volume = z
  .strictObject({
    name: DNSLabel,
    configMap: ConfigMapVolumeSource.optional(),
    secret: SecretVolumeSource.optional(),
    emptyDir: EmptyDirVolumeSource.optional(),
    downwardAPI: DownwardAPIVolumeSource.optional(),
    projected: ProjectedVolumeSource.optional(),
    hostPath: HostPathVolumeSource.optional(),
    persistentVolumeClaim: PersistentVolumeClaimVolumeSource.optional(),
    ephemeral: EphemeralVolumeSource.optional(),
  })
  .superRefine(
    exactlyOne(
      [
        'configMap',
        'secret',
        'emptyDir',
        'downwardAPI',
        'projected',
        'hostPath',
        'persistentVolumeClaim',
        'ephemeral',
      ],
      'volume type',
    ),
  );
export type Volume = z.infer<typeof Volume>;

export const Toleration = z
  .strictObject({
    key: QualifiedName.optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.int().optional(),
  })
  .superRefine((t, ctx) => {
    if (!t.key && t.operator !== 'Exists')
      addCause(
        ctx,
        ['operator'],
        Reason.Invalid,
        msg.invalid(t.operator ?? '', 'operator must be Exists when `key` is empty'),
      );
    if (t.operator === 'Exists' && t.value)
      addCause(
        ctx,
        ['value'],
        Reason.Invalid,
        msg.invalid(t.value, "value must be empty when `operator` is 'Exists'"),
      );
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute')
      addCause(
        ctx,
        ['effect'],
        Reason.Invalid,
        msg.invalid(t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"),
      );
  });
export type Toleration = z.infer<typeof Toleration>;

// ---- placement rules: node affinity, pod (anti-)affinity, topology spread, priority ------------------

export const NodeSelectorOperator = z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']);
export type NodeSelectorOperator = z.infer<typeof NodeSelectorOperator>;

/** Value-count rules of Kubernetes' NodeSelectorRequirement (Gt/Lt take exactly one integer). */
function checkNodeSelectorValues(
  r: { operator: NodeSelectorOperator; values?: string[] },
  ctx: z.RefinementCtx<any>,
): void {
  const n = r.values?.length ?? 0;
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (n === 0)
        addCause(
          ctx,
          ['values'],
          Reason.Required,
          msg.required('must be specified when `operator` is In or NotIn'),
        );
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (n > 0)
        addCause(
          ctx,
          ['values'],
          Reason.Forbidden,
          msg.forbidden('may not be specified when `operator` is Exists or DoesNotExist'),
        );
      break;
    case 'Gt':
    case 'Lt':
      if (n !== 1)
        addCause(
          ctx,
          ['values'],
          Reason.Required,
          msg.required('must be specified single value when `operator` is Lt or Gt'),
        );
      else if (!/^-?\d+$/.test(r.values![0]))
        addCause(ctx, ['values', 0], Reason.Invalid, msg.invalid(r.values![0], 'must be an integer'));
      break;
  }
}

export const NodeSelectorRequirement = z
  .strictObject({
    key: QualifiedName,
    operator: NodeSelectorOperator,
    values: z.array(z.string()).optional(),
  })
  .superRefine((r, ctx) => {
    checkNodeSelectorValues(r, ctx);
    if (r.operator === 'In' || r.operator === 'NotIn')
      r.values?.forEach((v, i) => {
        for (const e of labelValueErrors(v)) addCause(ctx, ['values', i], Reason.Invalid, msg.invalid(v, e));
      });
  });
export type NodeSelectorRequirement = z.infer<typeof NodeSelectorRequirement>;

/** matchFields: Kubernetes supports only `metadata.name` with In/NotIn (pinning to nodes by name). */
export const NodeFieldSelectorRequirement = z
  .strictObject({
    key: z.literal('metadata.name'),
    operator: z.enum(['In', 'NotIn']),
    values: z.array(z.string()).min(1),
  })
  .superRefine((r, ctx) => {
    if (r.values.length !== 1)
      addCause(
        ctx,
        ['values'],
        Reason.Required,
        msg.required('must be only one value when `key` is metadata.name'),
      );
  });
export type NodeFieldSelectorRequirement = z.infer<typeof NodeFieldSelectorRequirement>;

/** A term matches a node when all its requirements do; an empty term matches nothing (as in k8s). */
export const NodeSelectorTerm = z.strictObject({
  matchExpressions: z.array(NodeSelectorRequirement).optional(),
  matchFields: z.array(NodeFieldSelectorRequirement).optional(),
});
export type NodeSelectorTerm = z.infer<typeof NodeSelectorTerm>;

/** Terms are ORed. */
export const NodeSelector = z.strictObject({ nodeSelectorTerms: z.array(NodeSelectorTerm).min(1) });
export type NodeSelector = z.infer<typeof NodeSelector>;

const Weight = z.int().min(1).max(100);

export const PreferredSchedulingTerm = z.strictObject({ weight: Weight, preference: NodeSelectorTerm });
export type PreferredSchedulingTerm = z.infer<typeof PreferredSchedulingTerm>;

export const NodeAffinity = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: NodeSelector.optional(),
  preferredDuringSchedulingIgnoredDuringExecution: z.array(PreferredSchedulingTerm).optional(),
});
export type NodeAffinity = z.infer<typeof NodeAffinity>;

/**
 * "Pods matching labelSelector in `namespaces` (default: this pod's namespace), running in the same
 * topology domain" — a domain is the set of nodes sharing the value of node label `topologyKey`.
 */
export const PodAffinityTerm = z.strictObject({
  labelSelector: LabelSelector.optional(),
  namespaces: z.array(DNSLabel).optional(),
  topologyKey: QualifiedName,
});
export type PodAffinityTerm = z.infer<typeof PodAffinityTerm>;

export const WeightedPodAffinityTerm = z.strictObject({ weight: Weight, podAffinityTerm: PodAffinityTerm });
export type WeightedPodAffinityTerm = z.infer<typeof WeightedPodAffinityTerm>;

export const PodAffinity = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(PodAffinityTerm).optional(),
  preferredDuringSchedulingIgnoredDuringExecution: z.array(WeightedPodAffinityTerm).optional(),
});
export type PodAffinity = z.infer<typeof PodAffinity>;

export const Affinity = z.strictObject({
  nodeAffinity: NodeAffinity.optional(),
  podAffinity: PodAffinity.optional(),
  podAntiAffinity: PodAffinity.optional(),
});
export type Affinity = z.infer<typeof Affinity>;

export const TopologySpreadConstraint = z
  .strictObject({
    maxSkew: z.int().min(1),
    topologyKey: QualifiedName,
    whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']),
    labelSelector: LabelSelector.optional(),
    minDomains: z.int().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.minDomains !== undefined && c.whenUnsatisfiable !== 'DoNotSchedule')
      addCause(
        ctx,
        ['minDomains'],
        Reason.Invalid,
        msg.invalid(c.minDomains, 'can only use minDomains if whenUnsatisfiable=DoNotSchedule'),
      );
  });
export type TopologySpreadConstraint = z.infer<typeof TopologySpreadConstraint>;

export const PreemptionPolicy = z.enum(['PreemptLowerPriority', 'Never']);
export type PreemptionPolicy = z.infer<typeof PreemptionPolicy>;

export const RestartPolicy = z.enum(['Always', 'OnFailure', 'Never']);
export type RestartPolicy = z.infer<typeof RestartPolicy>;

const PROBE_FIELDS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

/** Kubernetes' safe sysctls: namespaced, and unable to affect other pods or the node. */
export const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
] as const;

export const PodSecurityContext = z.strictObject({
  runAsUser: z.int().min(0).optional(),
  runAsGroup: z.int().min(0).optional(),
  runAsNonRoot: z.boolean().optional(),
  fsGroup: z.int().min(0).optional(),
  fsGroupChangePolicy: z.enum(['OnRootMismatch', 'Always']).optional(),
  supplementalGroups: z.array(z.int().min(0)).optional(),
  // Other sysctls could change the node or its other pods: refused (see the superRefine of PodSpec).
  sysctls: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).optional(),
  seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Unconfined']) }).optional(),
});
export type PodSecurityContext = z.infer<typeof PodSecurityContext>;

const HostAlias = z.strictObject({ ip: z.string().min(1), hostnames: z.array(z.string().min(1)).optional() });
const PodDNSConfig = z.strictObject({
  nameservers: z.array(z.string()).max(3).optional(),
  searches: z.array(z.string()).max(32).optional(),
  options: z.array(z.strictObject({ name: z.string().min(1), value: z.string().optional() })).optional(),
});

export const PodSpec = z
  .strictObject({
    runtimeClassName: RuntimeClassName.optional(),
    // No schema default: Pods default to Always but Job templates to Never (see defaultPodSpec).
    restartPolicy: RestartPolicy.optional(),
    nodeName: DNSSubdomain.optional(),
    nodeSelector: Labels.optional(),
    affinity: Affinity.optional(),
    tolerations: z.array(Toleration).optional(),
    topologySpreadConstraints: z.array(TopologySpreadConstraint).optional(),
    // Set by the server from priorityClassName on create (see applyPriority); 0 when no class applies.
    priorityClassName: DNSSubdomain.optional(),
    priority: z.int().optional(),
    preemptionPolicy: PreemptionPolicy.optional(),
    initContainers: z.array(Container).optional(),
    containers: z.array(Container).min(1),
    // Only the ephemeralcontainers subresource adds them (a pod update may not change them).
    ephemeralContainers: z.array(EphemeralContainer).optional(),
    volumes: z.array(Volume).optional(),
    serviceAccountName: DNSSubdomain.optional(),
    /** Deprecated alias of serviceAccountName that kubectl and old manifests still write. */
    serviceAccount: DNSSubdomain.optional(),
    automountServiceAccountToken: z.boolean().optional(),
    enableServiceLinks: z.boolean().optional(),
    hostname: DNSLabel.optional(),
    subdomain: DNSLabel.optional(),
    hostAliases: z.array(HostAlias).optional(),
    dnsConfig: PodDNSConfig.optional(),
    readinessGates: z.array(z.strictObject({ conditionType: QualifiedName })).optional(),
    schedulingGates: z.array(z.strictObject({ name: QualifiedName })).optional(),
    shareProcessNamespace: z.boolean().optional(),
    securityContext: PodSecurityContext.optional(),
    imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })).optional(),
    terminationGracePeriodSeconds: z.int().min(0).default(30),
    activeDeadlineSeconds: z.int().min(1).optional(),
    // What `kubectl run` and most manifests carry. On a node without cluster DNS, ClusterFirst resolves as
    // Default (the node's resolvers), exactly as a kubelet without --cluster-dns falls back.
    dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']).optional(),
    // One scheduler places pods; a pod asking for another one would never be placed, so it is refused.
    schedulerName: z.literal('default-scheduler').optional(),
  })
  .superRefine((spec, ctx) => {
    const containers = new Set<string>();
    spec.initContainers?.forEach((c, i) => {
      if (containers.has(c.name))
        addCause(ctx, ['initContainers', i, 'name'], Reason.Duplicate, msg.duplicate(c.name));
      containers.add(c.name);
      // Kubernetes refuses probes on run-to-completion init containers (sidecars may have them).
      if (c.restartPolicy !== 'Always')
        for (const probe of PROBE_FIELDS)
          if (c[probe])
            addCause(
              ctx,
              ['initContainers', i, probe],
              Reason.Forbidden,
              msg.forbidden('may not be set for init containers without restartPolicy=Always'),
            );
    });
    spec.containers.forEach((c, i) => {
      if (containers.has(c.name))
        addCause(ctx, ['containers', i, 'name'], Reason.Duplicate, msg.duplicate(c.name));
      containers.add(c.name);
      if (c.restartPolicy !== undefined)
        addCause(
          ctx,
          ['containers', i, 'restartPolicy'],
          Reason.Forbidden,
          msg.forbidden('may not be set for non-init containers'),
        );
    });
    spec.ephemeralContainers?.forEach((c, i) => {
      if (containers.has(c.name))
        addCause(ctx, ['ephemeralContainers', i, 'name'], Reason.Duplicate, msg.duplicate(c.name));
      containers.add(c.name);
      if (
        c.targetContainerName !== undefined &&
        !spec.containers.some((x) => x.name === c.targetContainerName)
      )
        addCause(
          ctx,
          ['ephemeralContainers', i, 'targetContainerName'],
          Reason.NotFound,
          msg.notFound(c.targetContainerName),
        );
    });
    spec.securityContext?.sysctls?.forEach((s, i) => {
      if (!(SAFE_SYSCTLS as readonly string[]).includes(s.name))
        addCause(
          ctx,
          ['securityContext', 'sysctls', i, 'name'],
          Reason.Forbidden,
          msg.forbidden(
            `sysctl "${s.name}" is not in the safe set (it could affect the node or other pods): ${SAFE_SYSCTLS.join(', ')}`,
          ),
        );
    });
    const psc = spec.securityContext;
    if (psc?.runAsNonRoot && psc.runAsUser === 0)
      addCause(
        ctx,
        ['securityContext', 'runAsNonRoot'],
        Reason.Invalid,
        msg.invalid(true, 'runAsNonRoot is true but runAsUser is 0 (root)'),
      );
    const volumes = new Set<string>();
    spec.volumes?.forEach((v, i) => {
      if (volumes.has(v.name)) addCause(ctx, ['volumes', i, 'name'], Reason.Duplicate, msg.duplicate(v.name));
      volumes.add(v.name);
    });
    for (const field of ['initContainers', 'containers', 'ephemeralContainers'] as const)
      spec[field]?.forEach((c, i) =>
        c.volumeMounts?.forEach((m, j) => {
          if (!volumes.has(m.name))
            addCause(ctx, [field, i, 'volumeMounts', j, 'name'], Reason.NotFound, msg.notFound(m.name));
        }),
      );
    // Runs before defaulting, so work out the tier the pod will get when it names none.
    const tier = spec.runtimeClassName ?? inferRuntimeClass(spec.containers.map((c) => c.image));
    if (tier === 'wasm')
      for (const field of ['initContainers', 'containers'] as const)
        spec[field]?.forEach((c, i) => {
          for (const probe of PROBE_FIELDS)
            if (c[probe]?.exec)
              addCause(
                ctx,
                [field, i, probe, 'exec'],
                Reason.Forbidden,
                msg.forbidden(
                  'exec probes are not supported by the wasm runtime class; use httpGet or tcpSocket',
                ),
              );
          // Refused here rather than when the sandbox starts: the user learns it from the apply.
          if (c.workingDir && c.workingDir !== '/')
            addCause(
              ctx,
              [field, i, 'workingDir'],
              Reason.Forbidden,
              msg.forbidden(
                'the wasm runtime class has no working directory (WASI preview1 guests start in /); use absolute paths',
              ),
            );
          for (const hook of ['postStart', 'preStop'] as const)
            if (c.lifecycle?.[hook]?.exec)
              addCause(
                ctx,
                [field, i, 'lifecycle', hook, 'exec'],
                Reason.Forbidden,
                msg.forbidden('exec hooks are not supported by the wasm runtime class; use httpGet or sleep'),
              );
        });
    const keys = new Set<string>();
    spec.topologySpreadConstraints?.forEach((c, i) => {
      const k = `${c.topologyKey}/${c.whenUnsatisfiable}`;
      if (keys.has(k))
        addCause(
          ctx,
          ['topologySpreadConstraints', i],
          Reason.Duplicate,
          msg.duplicate(`{${c.topologyKey}, ${c.whenUnsatisfiable}}`),
        );
      keys.add(k);
    });
  });
export type PodSpec = z.infer<typeof PodSpec>;

export const ContainerState = z
  .strictObject({
    waiting: z.strictObject({ reason: z.string().optional(), message: z.string().optional() }).optional(),
    running: z.strictObject({ startedAt: Timestamp.optional() }).optional(),
    terminated: z
      .strictObject({
        exitCode: z.int(),
        signal: z.int().optional(),
        reason: z.string().optional(),
        message: z.string().optional(),
        startedAt: Timestamp.optional(),
        finishedAt: Timestamp.optional(),
        containerID: z.string().optional(),
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    // `{}` is allowed (an empty lastState); more than one state is not.
    const set = (['waiting', 'running', 'terminated'] as const).filter((k) => s[k] !== undefined);
    for (const extra of set.slice(1))
      addCause(ctx, [extra], Reason.Forbidden, msg.forbidden('may not specify more than 1 container state'));
  });
export type ContainerState = z.infer<typeof ContainerState>;

export const ContainerStatus = z.strictObject({
  name: z.string().min(1),
  image: z.string(),
  imageID: z.string().optional(),
  containerID: z.string().optional(),
  ready: z.boolean(),
  started: z.boolean().optional(),
  restartCount: z.int().min(0),
  state: ContainerState.optional(),
  lastState: ContainerState.optional(),
});
export type ContainerStatus = z.infer<typeof ContainerStatus>;

export const PodPhase = z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);
export type PodPhase = z.infer<typeof PodPhase>;

export const PodStatus = z.strictObject({
  phase: PodPhase.optional(),
  conditions: z.array(Condition).optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  hostIP: z.string().optional(),
  podIP: z.string().optional(),
  startTime: Timestamp.optional(),
  containerStatuses: z.array(ContainerStatus).optional(),
  initContainerStatuses: z.array(ContainerStatus).optional(),
  ephemeralContainerStatuses: z.array(ContainerStatus).optional(),
  hostIPs: z.array(z.strictObject({ ip: z.string() })).optional(),
  podIPs: z.array(z.strictObject({ ip: z.string() })).optional(),
  /** Set by the scheduler when it preempted pods on this node to make room for this one. */
  nominatedNodeName: z.string().optional(),
});
export type PodStatus = z.infer<typeof PodStatus>;

export const Pod = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: ObjectMeta,
  spec: PodSpec,
  status: PodStatus.optional(),
});
export type Pod = z.infer<typeof Pod>;

/** `spec.template` of Deployments and Jobs. */
export const PodTemplateSpec = z.strictObject({ metadata: TemplateMeta.optional(), spec: PodSpec });
export type PodTemplateSpec = z.infer<typeof PodTemplateSpec>;

/**
 * Server-side defaults that depend on other fields (zod `.default()` covers the rest). Mutates `spec`,
 * which is always a fresh object produced by parsing.
 */
export function defaultPodSpec(spec: PodSpec, restartPolicy: RestartPolicy): void {
  spec.restartPolicy ??= restartPolicy;
  spec.runtimeClassName ??= inferRuntimeClass(spec.containers.map((c) => c.image));
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    // As in Kubernetes, a limit without a request requests the limit: the scheduler reserves what may be used.
    const limits = c.resources?.limits;
    if (!c.resources || !limits) continue;
    const requests = (c.resources.requests ??= {});
    requests.cpu ??= limits.cpu;
    requests.memory ??= limits.memory;
    if (requests.cpu === undefined) delete requests.cpu;
    if (requests.memory === undefined) delete requests.memory;
  }
}

export function defaultPod(pod: Pod): void {
  defaultPodSpec(pod.spec, 'Always');
  // As the ServiceAccount admission does (pods only, never templates): every pod runs as a service
  // account, and the deprecated alias agrees with the name.
  pod.spec.serviceAccountName ??= pod.spec.serviceAccount ?? 'default';
  pod.spec.serviceAccount = pod.spec.serviceAccountName;
}

/**
 * Fields a pod's tier accepts but cannot honour, as `Warning:` texts naming the field and the tier (the
 * server hands each to the request's warning hook). Fields whose omission would weaken isolation are not
 * here: the schema refuses them instead.
 */
export function podSpecWarnings(spec: PodSpec): string[] {
  const tier = spec.runtimeClassName ?? inferRuntimeClass(spec.containers.map((c) => c.image));
  const out: string[] = [];
  const warn = (field: string, why: string) => out.push(`${field}: ${why} on the ${tier} runtime class`);
  const all = [
    ...(spec.initContainers ?? []).map((c, i) => ({ c, path: `spec.initContainers[${i}]` })),
    ...spec.containers.map((c, i) => ({ c, path: `spec.containers[${i}]` })),
  ];
  if (spec.shareProcessNamespace)
    warn('spec.shareProcessNamespace', 'ignored: each container keeps its own PID namespace');
  if (tier === 'wasm' && (spec.dnsConfig || spec.dnsPolicy === 'None'))
    warn('spec.dnsConfig', 'ignored: wasm guests have no resolver configuration');
  for (const { c, path } of all) {
    // The container tier holds a container's stdin (and terminal) open for attach; the others do not.
    if ((c.stdin || c.tty) && tier !== 'container')
      warn(`${path}.stdin`, 'ignored: the container reads an empty stdin and has no terminal to attach to');
  }
  if (tier === 'wasm') {
    if (spec.hostAliases?.length) warn('spec.hostAliases', 'ignored: wasm guests have no /etc/hosts');
    if (spec.hostname || spec.subdomain) warn('spec.hostname', 'ignored: wasm guests have no host name');
    const psc = spec.securityContext;
    if (psc && (psc.runAsUser ?? psc.runAsGroup ?? psc.fsGroup ?? psc.supplementalGroups) !== undefined)
      warn(
        'spec.securityContext',
        'ignored: wasm guests have no users or groups (they run with no host identity)',
      );
    if (psc?.sysctls?.length)
      warn('spec.securityContext.sysctls', 'ignored: wasm guests have no kernel parameters');
    for (const { c, path } of all) {
      if (c.terminationMessagePath && c.terminationMessagePath !== '/dev/termination-log')
        warn(`${path}.terminationMessagePath`, 'ignored: wasm guests have no /dev');
      if (c.securityContext)
        warn(`${path}.securityContext`, 'ignored: wasm guests have no users or capabilities');
    }
  }
  return out;
}
