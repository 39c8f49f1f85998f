// Which request bodies Strata decodes from protobuf: apiVersion → kind → the protobuf message that
// carries it (package-qualified as in k8s.io/api's generated.proto). This list is also the set of
// roots `extract-schema.ts` trims the upstream schema to, so adding a kind here and re-running it
// is all a new kind needs.
//
// kubectl 1.32's typed clients send every write as protobuf (`create`, `run`, `scale`, `create token`,
// `auth`, drain's deletes — see fixtures/README.md), and so does any client-go program, so this is
// every built-in kind Strata serves or plans to (DESIGN.md), plus the review and token requests.
// Kinds with no upstream generated.proto (Knative, PolicyReport: CRDs) only ever arrive as JSON.

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

export const PROTOBUF_KINDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  v1: {
    Binding: 'k8s.io.api.core.v1.Binding',
    ConfigMap: 'k8s.io.api.core.v1.ConfigMap',
    Endpoints: 'k8s.io.api.core.v1.Endpoints',
    Event: 'k8s.io.api.core.v1.Event',
    LimitRange: 'k8s.io.api.core.v1.LimitRange',
    Namespace: 'k8s.io.api.core.v1.Namespace',
    Node: 'k8s.io.api.core.v1.Node',
    PersistentVolume: 'k8s.io.api.core.v1.PersistentVolume',
    PersistentVolumeClaim: 'k8s.io.api.core.v1.PersistentVolumeClaim',
    Pod: 'k8s.io.api.core.v1.Pod',
    ResourceQuota: 'k8s.io.api.core.v1.ResourceQuota',
    Secret: 'k8s.io.api.core.v1.Secret',
    Service: 'k8s.io.api.core.v1.Service',
    ServiceAccount: 'k8s.io.api.core.v1.ServiceAccount',
  },
  'admissionregistration.k8s.io/v1': {
    ValidatingAdmissionPolicy: 'k8s.io.api.admissionregistration.v1.ValidatingAdmissionPolicy',
    ValidatingAdmissionPolicyBinding: 'k8s.io.api.admissionregistration.v1.ValidatingAdmissionPolicyBinding',
  },
  'apps/v1': {
    ControllerRevision: 'k8s.io.api.apps.v1.ControllerRevision',
    DaemonSet: 'k8s.io.api.apps.v1.DaemonSet',
    Deployment: 'k8s.io.api.apps.v1.Deployment',
    ReplicaSet: 'k8s.io.api.apps.v1.ReplicaSet',
    StatefulSet: 'k8s.io.api.apps.v1.StatefulSet',
  },
  'authentication.k8s.io/v1': {
    SelfSubjectReview: 'k8s.io.api.authentication.v1.SelfSubjectReview',
    TokenRequest: 'k8s.io.api.authentication.v1.TokenRequest',
    TokenReview: 'k8s.io.api.authentication.v1.TokenReview',
  },
  // `kubectl auth whoami` falls back to these when v1 answers 404.
  'authentication.k8s.io/v1beta1': {
    SelfSubjectReview: 'k8s.io.api.authentication.v1beta1.SelfSubjectReview',
  },
  'authentication.k8s.io/v1alpha1': {
    SelfSubjectReview: 'k8s.io.api.authentication.v1alpha1.SelfSubjectReview',
  },
  'authorization.k8s.io/v1': {
    LocalSubjectAccessReview: 'k8s.io.api.authorization.v1.LocalSubjectAccessReview',
    SelfSubjectAccessReview: 'k8s.io.api.authorization.v1.SelfSubjectAccessReview',
    SelfSubjectRulesReview: 'k8s.io.api.authorization.v1.SelfSubjectRulesReview',
    SubjectAccessReview: 'k8s.io.api.authorization.v1.SubjectAccessReview',
  },
  'autoscaling/v1': {
    HorizontalPodAutoscaler: 'k8s.io.api.autoscaling.v1.HorizontalPodAutoscaler',
    Scale: 'k8s.io.api.autoscaling.v1.Scale',
  },
  'autoscaling/v2': { HorizontalPodAutoscaler: 'k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler' },
  'batch/v1': { CronJob: 'k8s.io.api.batch.v1.CronJob', Job: 'k8s.io.api.batch.v1.Job' },
  'certificates.k8s.io/v1': {
    CertificateSigningRequest: 'k8s.io.api.certificates.v1.CertificateSigningRequest',
  },
  'coordination.k8s.io/v1': { Lease: 'k8s.io.api.coordination.v1.Lease' },
  'discovery.k8s.io/v1': { EndpointSlice: 'k8s.io.api.discovery.v1.EndpointSlice' },
  'events.k8s.io/v1': { Event: 'k8s.io.api.events.v1.Event' },
  'networking.k8s.io/v1': {
    Ingress: 'k8s.io.api.networking.v1.Ingress',
    IngressClass: 'k8s.io.api.networking.v1.IngressClass',
    NetworkPolicy: 'k8s.io.api.networking.v1.NetworkPolicy',
  },
  'policy/v1': {
    Eviction: 'k8s.io.api.policy.v1.Eviction',
    PodDisruptionBudget: 'k8s.io.api.policy.v1.PodDisruptionBudget',
  },
  'rbac.authorization.k8s.io/v1': {
    ClusterRole: 'k8s.io.api.rbac.v1.ClusterRole',
    ClusterRoleBinding: 'k8s.io.api.rbac.v1.ClusterRoleBinding',
    Role: 'k8s.io.api.rbac.v1.Role',
    RoleBinding: 'k8s.io.api.rbac.v1.RoleBinding',
  },
  'scheduling.k8s.io/v1': { PriorityClass: 'k8s.io.api.scheduling.v1.PriorityClass' },
  'storage.k8s.io/v1': { StorageClass: 'k8s.io.api.storage.v1.StorageClass' },
};

/**
 * apimachinery registers DeleteOptions in every group version (and in meta.k8s.io/v1), and a typed
 * client's Delete encodes it with its own group version: kubectl drain's pod delete sends
 * `v1, Kind=DeleteOptions`. So it is accepted under any apiVersion above.
 */
export const DELETE_OPTIONS = `${META}.DeleteOptions`;

/** The envelope every protobuf body is wrapped in (after the 4-byte magic). */
export const UNKNOWN = 'k8s.io.apimachinery.pkg.runtime.Unknown';

/** Every message the schema must hold: the roots `extract-schema.ts` keeps, with what they reference. */
export function schemaRoots(): string[] {
  const roots = new Set<string>([UNKNOWN, DELETE_OPTIONS]);
  for (const kinds of Object.values(PROTOBUF_KINDS)) for (const type of Object.values(kinds)) roots.add(type);
  return [...roots].sort();
}

/** The message type for a body's apiVersion and kind, or undefined when Strata does not decode it. */
export function messageTypeFor(apiVersion: string, kind: string): string | undefined {
  if (kind === 'DeleteOptions' && (apiVersion === 'meta.k8s.io/v1' || apiVersion in PROTOBUF_KINDS)) {
    return DELETE_OPTIONS;
  }
  return Object.hasOwn(PROTOBUF_KINDS, apiVersion) && Object.hasOwn(PROTOBUF_KINDS[apiVersion], kind)
    ? PROTOBUF_KINDS[apiVersion][kind]
    : undefined;
}
