// How Kubernetes merges each list and struct of the kinds Strata serves: the `patchStrategy` /
// `patchMergeKey` struct tags (strategic merge patch) and the `+listType` / `+listMapKey` /
// `+structType` / `+mapType` markers (server-side apply), as declared in k8s.io/api (core/v1, apps/v1,
// batch/v1, policy/v1) and k8s.io/apimachinery meta/v1 types.go.
//
// The table is written per Go type (PodSpec, Container, ObjectMeta…) and kinds only name their root
// type, so a pod template embedded anywhere (Deployment, DaemonSet, Job, CronJob's jobTemplate) gets
// exactly the Pod's rules, and a new kind only needs its root. Fields Strata does not serve yet
// (initContainers, imagePullSecrets, hostAliases…) are listed anyway: patches naming them then already
// merge the way kubectl expects once they are added, and the OpenAPI document stays truthful.

export type PatchStrategy = 'merge' | 'replace' | 'retainKeys' | 'merge,retainKeys';

export interface ListPatchInfo {
  patchStrategy?: PatchStrategy;
  patchMergeKey?: string;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
}

/** Strategy of a map- or struct-valued field: `retainKeys` (DeploymentSpec.strategy), atomic structs/maps. */
export interface MapPatchInfo {
  patchStrategy?: 'retainKeys';
  /** `+structType=atomic`: the struct is owned and replaced as a whole (OwnerReference, NodeSelector). */
  structType?: 'atomic';
  /** `+mapType=atomic`: a string map replaced as a whole (PodSpec.nodeSelector). */
  mapType?: 'atomic';
}

/** One field of a Go struct: the Go type of its value (or of its list items) and its merge rules. */
interface Field {
  type?: string;
  list?: ListPatchInfo;
  map?: MapPatchInfo;
}
type GoStruct = Record<string, Field>;

// Shorthands for the tag combinations k8s.io/api uses; each names the exact markers it stands for.
/** `+listType=atomic` (no patch strategy: strategic merge replaces it too). */
const atomic = (type?: string): Field => ({ type, list: { listType: 'atomic' } });
/** `+patchMergeKey=<key> +patchStrategy=merge +listType=map +listMapKey=<keys…>` */
const mergeMap = (type: string | undefined, mergeKey: string, mapKeys: string[] = [mergeKey]): Field => ({
  type,
  list: { patchStrategy: 'merge', patchMergeKey: mergeKey, listType: 'map', listMapKeys: mapKeys },
});
/** Conditions everywhere except Job: merge by `type`, listType map keyed by `type`. */
const conditions: Field = mergeMap(undefined, 'type');
const struct = (type: string, map?: MapPatchInfo): Field => ({ type, map });

const TYPES: Record<string, GoStruct> = {
  // ---- meta/v1 ----------------------------------------------------------------------------------
  ObjectMeta: {
    ownerReferences: { ...mergeMap('OwnerReference', 'uid') },
    finalizers: { list: { patchStrategy: 'merge', listType: 'set' } },
    managedFields: atomic(),
  },
  OwnerReference: {},
  LabelSelector: { matchExpressions: atomic() },

  // ---- core/v1: pods -----------------------------------------------------------------------------
  Pod: { metadata: struct('ObjectMeta'), spec: struct('PodSpec'), status: struct('PodStatus') },
  PodTemplateSpec: { metadata: struct('ObjectMeta'), spec: struct('PodSpec') },
  PodSpec: {
    volumes: {
      type: 'Volume',
      list: {
        patchStrategy: 'merge,retainKeys',
        patchMergeKey: 'name',
        listType: 'map',
        listMapKeys: ['name'],
      },
    },
    initContainers: mergeMap('Container', 'name'),
    containers: mergeMap('Container', 'name'),
    // EphemeralContainer inlines EphemeralContainerCommon, whose list fields are Container's.
    ephemeralContainers: mergeMap('Container', 'name'),
    nodeSelector: { map: { mapType: 'atomic' } },
    securityContext: struct('PodSecurityContext'),
    imagePullSecrets: mergeMap(undefined, 'name'),
    affinity: struct('Affinity'),
    tolerations: atomic(),
    hostAliases: mergeMap('HostAlias', 'ip'),
    dnsConfig: struct('PodDNSConfig'),
    readinessGates: atomic(),
    topologySpreadConstraints: mergeMap('TopologySpreadConstraint', 'topologyKey', [
      'topologyKey',
      'whenUnsatisfiable',
    ]),
    schedulingGates: mergeMap(undefined, 'name'),
    resourceClaims: {
      list: {
        patchStrategy: 'merge,retainKeys',
        patchMergeKey: 'name',
        listType: 'map',
        listMapKeys: ['name'],
      },
    },
  },
  Volume: { configMap: struct('KeyToPathSource'), secret: struct('KeyToPathSource') },
  KeyToPathSource: { items: atomic() },
  Container: {
    command: atomic(),
    args: atomic(),
    ports: mergeMap(undefined, 'containerPort', ['containerPort', 'protocol']),
    envFrom: atomic(),
    env: mergeMap('EnvVar', 'name'),
    resources: struct('ResourceRequirements'),
    resizePolicy: atomic(),
    volumeMounts: mergeMap(undefined, 'mountPath'),
    volumeDevices: mergeMap(undefined, 'devicePath'),
    livenessProbe: struct('Probe'),
    readinessProbe: struct('Probe'),
    startupProbe: struct('Probe'),
    lifecycle: struct('Lifecycle'),
    securityContext: struct('SecurityContext'),
  },
  EnvVar: { valueFrom: struct('EnvVarSource') },
  EnvVarSource: {
    // ObjectFieldSelector, ResourceFieldSelector, ConfigMapKeySelector, SecretKeySelector.
    fieldRef: struct('AtomicStruct'),
    resourceFieldRef: struct('AtomicStruct'),
    configMapKeyRef: struct('AtomicStruct'),
    secretKeyRef: struct('AtomicStruct'),
  },
  AtomicStruct: {},
  // `claims` is `+listType=map +listMapKey=name` without a patch strategy.
  ResourceRequirements: { claims: { list: { listType: 'map', listMapKeys: ['name'] } } },
  Probe: { exec: struct('ExecAction'), httpGet: struct('HTTPGetAction') },
  Lifecycle: { postStart: struct('LifecycleHandler'), preStop: struct('LifecycleHandler') },
  LifecycleHandler: { exec: struct('ExecAction'), httpGet: struct('HTTPGetAction') },
  ExecAction: { command: atomic() },
  HTTPGetAction: { httpHeaders: atomic() },
  SecurityContext: { capabilities: struct('Capabilities') },
  Capabilities: { add: atomic(), drop: atomic() },
  PodSecurityContext: { supplementalGroups: atomic(), sysctls: atomic() },
  PodDNSConfig: { nameservers: atomic(), searches: atomic(), options: atomic() },
  HostAlias: { hostnames: atomic() },
  Affinity: {
    nodeAffinity: struct('NodeAffinity'),
    podAffinity: struct('PodAffinity'),
    podAntiAffinity: struct('PodAffinity'),
  },
  NodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: struct('NodeSelector'),
    preferredDuringSchedulingIgnoredDuringExecution: atomic(),
  },
  NodeSelector: { nodeSelectorTerms: atomic() },
  PodAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: atomic(),
    preferredDuringSchedulingIgnoredDuringExecution: atomic(),
  },
  TopologySpreadConstraint: { labelSelector: struct('LabelSelector'), matchLabelKeys: atomic() },
  PodStatus: {
    conditions,
    hostIPs: { list: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'atomic' } },
    podIPs: mergeMap(undefined, 'ip'),
    initContainerStatuses: atomic(),
    containerStatuses: atomic(),
    ephemeralContainerStatuses: atomic(),
    resourceClaimStatuses: {
      list: {
        patchStrategy: 'merge,retainKeys',
        patchMergeKey: 'name',
        listType: 'map',
        listMapKeys: ['name'],
      },
    },
  },

  // ---- core/v1: the other kinds ------------------------------------------------------------------
  Node: { metadata: struct('ObjectMeta'), spec: struct('NodeSpec'), status: struct('NodeStatus') },
  NodeSpec: { podCIDRs: { list: { patchStrategy: 'merge', listType: 'set' } }, taints: atomic() },
  NodeStatus: {
    conditions,
    addresses: mergeMap(undefined, 'type'),
    images: atomic(),
    volumesInUse: atomic(),
    volumesAttached: atomic(),
    runtimeHandlers: atomic(),
  },
  Namespace: {
    metadata: struct('ObjectMeta'),
    spec: struct('NamespaceSpec'),
    status: struct('NamespaceStatus'),
  },
  NamespaceSpec: { finalizers: atomic() },
  NamespaceStatus: { conditions },
  ConfigMap: { metadata: struct('ObjectMeta') },
  Secret: { metadata: struct('ObjectMeta') },
  // secrets: patchStrategy merge by name; imagePullSecrets: atomic (k8s.io/api core/v1 types.go).
  ServiceAccount: {
    metadata: struct('ObjectMeta'),
    secrets: mergeMap(undefined, 'name'),
    imagePullSecrets: atomic(),
  },
  Event: { metadata: struct('ObjectMeta') },
  Service: { metadata: struct('ObjectMeta'), spec: struct('ServiceSpec'), status: struct('ServiceStatus') },
  ServiceSpec: {
    // Merged by port and protocol, so re-applying a manifest keeps the node ports the server allocated.
    ports: mergeMap(undefined, 'port', ['port', 'protocol']),
    selector: { map: { mapType: 'atomic' } },
    clusterIPs: atomic(),
    ipFamilies: atomic(),
    externalIPs: atomic(),
    loadBalancerSourceRanges: atomic(),
  },
  ServiceStatus: { conditions, loadBalancer: struct('LoadBalancerStatus') },
  LoadBalancerStatus: { ingress: atomic() },

  // ---- apps/v1 -----------------------------------------------------------------------------------
  Deployment: {
    metadata: struct('ObjectMeta'),
    spec: struct('DeploymentSpec'),
    status: struct('DeploymentStatus'),
  },
  DeploymentSpec: {
    selector: struct('LabelSelector'),
    template: struct('PodTemplateSpec'),
    // `+patchStrategy=retainKeys`: switching type to Recreate drops rollingUpdate.
    strategy: struct('DeploymentStrategy', { patchStrategy: 'retainKeys' }),
  },
  DeploymentStrategy: {},
  DeploymentStatus: { conditions },
  ReplicaSet: {
    metadata: struct('ObjectMeta'),
    spec: struct('ReplicaSetSpec'),
    status: struct('ReplicaSetStatus'),
  },
  ReplicaSetSpec: { selector: struct('LabelSelector'), template: struct('PodTemplateSpec') },
  ReplicaSetStatus: { conditions },
  DaemonSet: {
    metadata: struct('ObjectMeta'),
    spec: struct('DaemonSetSpec'),
    status: struct('DaemonSetStatus'),
  },
  DaemonSetSpec: { selector: struct('LabelSelector'), template: struct('PodTemplateSpec') },
  DaemonSetStatus: { conditions },
  StatefulSet: {
    metadata: struct('ObjectMeta'),
    spec: struct('StatefulSetSpec'),
    status: struct('StatefulSetStatus'),
  },
  StatefulSetSpec: {
    selector: struct('LabelSelector'),
    template: struct('PodTemplateSpec'),
    volumeClaimTemplates: atomic(),
  },
  StatefulSetStatus: { conditions },
  ControllerRevision: { metadata: struct('ObjectMeta') },

  // ---- batch/v1 ----------------------------------------------------------------------------------
  Job: { metadata: struct('ObjectMeta'), spec: struct('JobSpec'), status: struct('JobStatus') },
  JobSpec: {
    selector: struct('LabelSelector'),
    template: struct('PodTemplateSpec'),
    podFailurePolicy: struct('RulesPolicy'),
    successPolicy: struct('RulesPolicy'),
  },
  RulesPolicy: { rules: atomic() },
  JobStatus: {
    // Job conditions merge by type under strategic merge but are `+listType=atomic` for apply.
    conditions: { list: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'atomic' } },
    uncountedTerminatedPods: struct('UncountedTerminatedPods'),
  },
  UncountedTerminatedPods: {
    succeeded: { list: { listType: 'set' } },
    failed: { list: { listType: 'set' } },
  },
  CronJob: { metadata: struct('ObjectMeta'), spec: struct('CronJobSpec'), status: struct('CronJobStatus') },
  CronJobSpec: { jobTemplate: struct('JobTemplateSpec') },
  JobTemplateSpec: { metadata: struct('ObjectMeta'), spec: struct('JobSpec') },
  CronJobStatus: { active: atomic() },

  // ---- coordination, policy, scheduling ---------------------------------------------------------
  Lease: { metadata: struct('ObjectMeta') },
  PodDisruptionBudget: {
    metadata: struct('ObjectMeta'),
    spec: struct('PodDisruptionBudgetSpec'),
    status: struct('PodDisruptionBudgetStatus'),
  },
  PodDisruptionBudgetSpec: { selector: struct('LabelSelector') },
  PodDisruptionBudgetStatus: { conditions },
  HorizontalPodAutoscaler: {
    metadata: struct('ObjectMeta'),
    spec: struct('HorizontalPodAutoscalerSpec'),
    status: struct('HorizontalPodAutoscalerStatus'),
  },
  HorizontalPodAutoscalerSpec: { metrics: atomic(), behavior: struct('HorizontalPodAutoscalerBehavior') },
  HorizontalPodAutoscalerBehavior: {
    scaleUp: struct('HPAScalingRules'),
    scaleDown: struct('HPAScalingRules'),
  },
  HPAScalingRules: { policies: atomic() },
  HorizontalPodAutoscalerStatus: { currentMetrics: atomic(), conditions },
  PingSource: { metadata: struct('ObjectMeta'), status: struct('PingSourceStatus') },
  HorizontalPodAutoscalerV1: { metadata: struct('ObjectMeta') },
  PingSourceStatus: { conditions },
  Broker: { metadata: struct('ObjectMeta'), status: struct('BrokerStatus') },
  BrokerStatus: { conditions },
  Trigger: { metadata: struct('ObjectMeta'), status: struct('TriggerStatus') },
  TriggerStatus: { conditions },
  // monitoring.coreos.com: rule groups are replaced as a whole (the Prometheus Operator's CRD has no merge keys).
  PrometheusRule: { metadata: struct('ObjectMeta'), spec: struct('PrometheusRuleSpec') },
  PrometheusRuleSpec: { groups: atomic() },
  // serving.knative.dev: Knative's Go types carry no merge keys; its traffic lists are replaced whole.
  KnativeService: { metadata: struct('ObjectMeta'), status: struct('KnativeStatus') },
  KnativeConfiguration: { metadata: struct('ObjectMeta'), status: struct('KnativeStatus') },
  KnativeRevision: { metadata: struct('ObjectMeta'), status: struct('KnativeStatus') },
  KnativeRoute: { metadata: struct('ObjectMeta'), status: struct('KnativeStatus') },
  KnativeStatus: { conditions },
  PriorityClass: { metadata: struct('ObjectMeta') },
  ResourceQuota: { metadata: struct('ObjectMeta'), spec: struct('ResourceQuotaSpec') },
  ResourceQuotaSpec: { scopes: atomic(), scopeSelector: struct('ScopeSelector') },
  ScopeSelector: { matchExpressions: atomic() },
  LimitRange: { metadata: struct('ObjectMeta'), spec: struct('LimitRangeSpec') },
  LimitRangeSpec: { limits: atomic() },

  // ---- core/v1 and storage.k8s.io/v1: storage ------------------------------------------------------
  PersistentVolume: { metadata: struct('ObjectMeta'), spec: struct('PersistentVolumeSpec') },
  PersistentVolumeSpec: {
    accessModes: atomic(),
    mountOptions: atomic(),
    nodeAffinity: struct('VolumeNodeAffinity'),
  },
  VolumeNodeAffinity: { required: struct('NodeSelector') },
  PersistentVolumeClaim: {
    metadata: struct('ObjectMeta'),
    spec: struct('PersistentVolumeClaimSpec'),
    status: struct('PersistentVolumeClaimStatus'),
  },
  PersistentVolumeClaimSpec: { accessModes: atomic(), selector: struct('LabelSelector') },
  PersistentVolumeClaimStatus: { accessModes: atomic(), conditions },
  StorageClass: { metadata: struct('ObjectMeta'), mountOptions: atomic(), allowedTopologies: atomic() },

  // ---- discovery.k8s.io/v1 -----------------------------------------------------------------------
  EndpointSlice: { metadata: struct('ObjectMeta'), endpoints: atomic('Endpoint'), ports: atomic() },
  Endpoint: { addresses: { list: { listType: 'set' } } },

  // ---- networking.k8s.io/v1 ----------------------------------------------------------------------
  NetworkPolicy: { metadata: struct('ObjectMeta'), spec: struct('NetworkPolicySpec') },
  NetworkPolicySpec: {
    podSelector: struct('LabelSelector'),
    ingress: atomic('NetworkPolicyIngressRule'),
    egress: atomic('NetworkPolicyEgressRule'),
    policyTypes: atomic(),
  },
  NetworkPolicyIngressRule: { ports: atomic(), from: atomic('NetworkPolicyPeer') },
  NetworkPolicyEgressRule: { ports: atomic(), to: atomic('NetworkPolicyPeer') },
  NetworkPolicyPeer: { podSelector: struct('LabelSelector'), namespaceSelector: struct('LabelSelector') },
  // Ingress lists are atomic in k8s.io/api (+listType=atomic): rules, paths, tls and its hosts.
  Ingress: { metadata: struct('ObjectMeta'), spec: struct('IngressSpec'), status: struct('IngressStatus') },
  IngressSpec: { rules: atomic('IngressRule'), tls: atomic('IngressTLS') },
  IngressRule: { http: struct('HTTPIngressRuleValue') },
  HTTPIngressRuleValue: { paths: atomic() },
  IngressTLS: { hosts: atomic() },
  IngressStatus: { loadBalancer: struct('IngressLoadBalancerStatus') },
  IngressLoadBalancerStatus: { ingress: atomic('IngressLoadBalancerIngress') },
  IngressLoadBalancerIngress: { ports: atomic() },
  IngressClass: { metadata: struct('ObjectMeta') },

  // ---- rbac.authorization.k8s.io/v1 (lists atomic, as k8s.io/api marks them) -----------------------
  Role: { metadata: struct('ObjectMeta'), rules: atomic() },
  ClusterRole: {
    metadata: struct('ObjectMeta'),
    rules: atomic(),
    aggregationRule: struct('AggregationRule'),
  },
  AggregationRule: { clusterRoleSelectors: atomic() },
  RoleBinding: { metadata: struct('ObjectMeta'), subjects: atomic() },
  ClusterRoleBinding: { metadata: struct('ObjectMeta'), subjects: atomic() },

  // ---- certificates.k8s.io/v1 ------------------------------------------------------------------------
  CertificateSigningRequest: {
    metadata: struct('ObjectMeta'),
    spec: struct('CertificateSigningRequestSpec'),
    status: struct('CertificateSigningRequestStatus'),
  },
  CertificateSigningRequestSpec: { usages: atomic(), groups: atomic() },
  // `+listType=map +listMapKey=type`, no patch strategy (strategic merge replaces the list).
  CertificateSigningRequestStatus: { conditions: { list: { listType: 'map', listMapKeys: ['type'] } } },

  // ---- admissionregistration.k8s.io/v1 (k8s.io/api's list markers) ------------------------------------
  ValidatingAdmissionPolicy: {
    metadata: struct('ObjectMeta'),
    spec: struct('ValidatingAdmissionPolicySpec'),
  },
  ValidatingAdmissionPolicySpec: {
    validations: atomic(),
    variables: atomic(),
    auditAnnotations: atomic(),
    matchConditions: {
      list: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    },
  },
  ValidatingAdmissionPolicyBinding: {
    metadata: struct('ObjectMeta'),
    spec: struct('ValidatingAdmissionPolicyBindingSpec'),
  },
  ValidatingAdmissionPolicyBindingSpec: { validationActions: { list: { listType: 'set' } } },

  // ---- wgpolicyk8s.io/v1alpha2 (a CRD upstream: lists replaced whole) ------------------------------
  PolicyReport: { metadata: struct('ObjectMeta'), results: atomic() },
};

/** The Go root type of each kind, by `apiVersion/kind`. */
const ROOTS: Record<string, string> = {
  'v1/Pod': 'Pod',
  'v1/Node': 'Node',
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'v1/Event': 'Event',
  'v1/Service': 'Service',
  'apps/v1/Deployment': 'Deployment',
  'apps/v1/ReplicaSet': 'ReplicaSet',
  'apps/v1/DaemonSet': 'DaemonSet',
  'apps/v1/StatefulSet': 'StatefulSet',
  'apps/v1/ControllerRevision': 'ControllerRevision',
  'batch/v1/Job': 'Job',
  'batch/v1/CronJob': 'CronJob',
  'coordination.k8s.io/v1/Lease': 'Lease',
  'policy/v1/PodDisruptionBudget': 'PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler': 'HorizontalPodAutoscaler',
  'autoscaling/v1/HorizontalPodAutoscaler': 'HorizontalPodAutoscalerV1',
  'sources.knative.dev/v1/PingSource': 'PingSource',
  'eventing.knative.dev/v1/Broker': 'Broker',
  'eventing.knative.dev/v1/Trigger': 'Trigger',
  'monitoring.coreos.com/v1/PrometheusRule': 'PrometheusRule',
  'serving.knative.dev/v1/Service': 'KnativeService',
  'serving.knative.dev/v1/Configuration': 'KnativeConfiguration',
  'serving.knative.dev/v1/Revision': 'KnativeRevision',
  'serving.knative.dev/v1/Route': 'KnativeRoute',
  'scheduling.k8s.io/v1/PriorityClass': 'PriorityClass',
  'v1/ResourceQuota': 'ResourceQuota',
  'v1/LimitRange': 'LimitRange',
  'v1/PersistentVolume': 'PersistentVolume',
  'v1/PersistentVolumeClaim': 'PersistentVolumeClaim',
  'storage.k8s.io/v1/StorageClass': 'StorageClass',
  'discovery.k8s.io/v1/EndpointSlice': 'EndpointSlice',
  'networking.k8s.io/v1/NetworkPolicy': 'NetworkPolicy',
  'networking.k8s.io/v1/Ingress': 'Ingress',
  'networking.k8s.io/v1/IngressClass': 'IngressClass',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
  'certificates.k8s.io/v1/CertificateSigningRequest': 'CertificateSigningRequest',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': 'ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': 'ValidatingAdmissionPolicyBinding',
  'wgpolicyk8s.io/v1alpha2/PolicyReport': 'PolicyReport',
  'wgpolicyk8s.io/v1alpha2/ClusterPolicyReport': 'PolicyReport',
};

/** The Go root type name of a kind (`Pod`, `Deployment`…), or undefined for a kind not in the table. */
export function rootTypeOf(apiVersion: string, kind: string): string | undefined {
  return ROOTS[`${apiVersion}/${kind}`];
}

/**
 * Types marked `+structType=atomic` in k8s.io/api: server-side apply owns and replaces them whole,
 * wherever they are used.
 */
const ATOMIC_STRUCTS = new Set(['LabelSelector', 'OwnerReference', 'NodeSelector', 'AtomicStruct']);

/** The field a path leads to, walking struct types from the kind's root. */
function fieldAt(apiVersion: string, kind: string, path: readonly string[]): Field | undefined {
  let type = rootTypeOf(apiVersion, kind);
  let field: Field | undefined;
  for (const name of path) {
    if (type === undefined) return undefined;
    field = TYPES[type]?.[name];
    if (!field) return undefined;
    type = field.type;
  }
  return field;
}

/**
 * The merge rules of the list at `path` — field names from the object root, array levels skipped,
 * e.g. ['spec','template','spec','containers','ports'] — or undefined when the list has none (strategic
 * merge then replaces it, server-side apply treats it as atomic).
 */
export function listPatchInfo(
  apiVersion: string,
  kind: string,
  path: readonly string[],
): ListPatchInfo | undefined {
  const list = fieldAt(apiVersion, kind, path)?.list;
  return list ? { ...list, listMapKeys: list.listMapKeys && [...list.listMapKeys] } : undefined;
}

/**
 * Same for map- and struct-valued fields with a strategy (e.g. a struct with `patchStrategy: retainKeys`),
 * if any. For a list field it describes the list's items (e.g. ownerReferences items are atomic structs).
 */
export function mapPatchInfo(
  apiVersion: string,
  kind: string,
  path: readonly string[],
): MapPatchInfo | undefined {
  const field = fieldAt(apiVersion, kind, path);
  const atomic = field?.type !== undefined && ATOMIC_STRUCTS.has(field.type);
  if (!field?.map && !atomic) return undefined;
  return { ...field?.map, ...(atomic ? { structType: 'atomic' as const } : {}) };
}

/** Every path with list or map rules for a kind, for documentation and tests (depth-first, stable order). */
export function patchInfoPaths(
  apiVersion: string,
  kind: string,
): { path: string[]; list?: ListPatchInfo; map?: MapPatchInfo }[] {
  const out: { path: string[]; list?: ListPatchInfo; map?: MapPatchInfo }[] = [];
  const walk = (type: string | undefined, prefix: string[], seen: ReadonlySet<string>): void => {
    if (type === undefined || seen.has(type)) return;
    const nextSeen = new Set(seen).add(type);
    for (const [name, field] of Object.entries(TYPES[type] ?? {})) {
      const path = [...prefix, name];
      if (field.list || field.map) out.push({ path, list: field.list, map: field.map });
      walk(field.type, path, nextSeen);
    }
  };
  walk(rootTypeOf(apiVersion, kind), [], new Set());
  return out;
}

/** The merge rules of one kind, looked up by path; what the patch algorithms walk with. */
export interface PatchSchema {
  list(path: readonly string[]): ListPatchInfo | undefined;
  map(path: readonly string[]): MapPatchInfo | undefined;
}

/** The rules for `apiVersion`/`kind`; a kind not in the table (e.g. autoscaling/v1 Scale) has none. */
export function patchSchema(apiVersion: string, kind: string): PatchSchema {
  return {
    list: (path) => listPatchInfo(apiVersion, kind, path),
    map: (path) => mapPatchInfo(apiVersion, kind, path),
  };
}
