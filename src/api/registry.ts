// The table of kinds Strata serves: URL naming (group/version/plural), scope, and the schema of each.
// Servers route by it, the CLI resolves `strata get po` by it, OpenAPI is generated from it.
import type { ZodType } from 'zod';
import { ConfigMap } from './kinds/configmap.ts';
import { ControllerRevision } from './kinds/controllerrevision.ts';
import { CronJob, CronJobStatus } from './kinds/cronjob.ts';
import { DaemonSet, DaemonSetStatus } from './kinds/daemonset.ts';
import { Deployment, DeploymentStatus } from './kinds/deployment.ts';
import { Event } from './kinds/event.ts';
import { Job, JobStatus } from './kinds/job.ts';
import { Lease } from './kinds/lease.ts';
import { Namespace, NamespaceStatus } from './kinds/namespace.ts';
import { Node, NodeStatus } from './kinds/node.ts';
import { PersistentVolume, PersistentVolumeStatus } from './kinds/persistentvolume.ts';
import { PersistentVolumeClaim, PersistentVolumeClaimStatus } from './kinds/persistentvolumeclaim.ts';
import { Pod, PodStatus } from './kinds/pod.ts';
import { PodDisruptionBudget, PodDisruptionBudgetStatus } from './kinds/poddisruptionbudget.ts';
import { PriorityClass } from './kinds/priorityclass.ts';
import { HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus } from './kinds/hpa.ts';
import { PingSource, PingSourceStatus } from './kinds/pingsource.ts';
import { Broker, BrokerStatus, Trigger, TriggerStatus } from './kinds/eventing.ts';
import { HorizontalPodAutoscalerV1, HorizontalPodAutoscalerV1Status } from './kinds/hpa-v1.ts';
import { ReplicaSet, ReplicaSetStatus } from './kinds/replicaset.ts';
import { Secret } from './kinds/secret.ts';
import { ServiceAccount } from './kinds/serviceaccount.ts';
import { Service, ServiceStatus } from './kinds/service.ts';
import { StatefulSet, StatefulSetStatus } from './kinds/statefulset.ts';
import { StorageClass } from './kinds/storageclass.ts';
import { EndpointSlice } from './kinds/endpointslice.ts';
import { Ingress, IngressStatus } from './kinds/ingress.ts';
import { IngressClass } from './kinds/ingressclass.ts';
import { NetworkPolicy } from './kinds/networkpolicy.ts';
import { LimitRange } from './kinds/limitrange.ts';
import { ResourceQuota, ResourceQuotaStatus } from './kinds/resourcequota.ts';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from './kinds/rbac.ts';
import {
  CertificateSigningRequest,
  CertificateSigningRequestStatus,
} from './kinds/certificatesigningrequest.ts';
import {
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
  ValidatingAdmissionPolicyStatus,
} from './kinds/admission-policy.ts';
import { ClusterPolicyReport, PolicyReport } from './kinds/policyreport.ts';
import {
  Configuration,
  ConfigurationStatus,
  KnativeService,
  Revision,
  RevisionStatus,
  Route,
  RouteStatus,
  KnativeServiceStatus,
} from './kinds/serving.ts';
import { PrometheusRule } from './kinds/prometheusrule.ts';

export interface KindInfo {
  group: string;
  version: string;
  apiVersion: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  hasStatus: boolean;
  schema: ZodType;
  /** Schema of `.status` alone, for the status subresource; set exactly when hasStatus. */
  statusSchema?: ZodType;
}

function kind(
  group: string,
  version: string,
  k: string,
  plural: string,
  shortNames: string[],
  namespaced: boolean,
  schema: ZodType,
  statusSchema?: ZodType,
): KindInfo {
  return {
    group,
    version,
    apiVersion: group ? `${group}/${version}` : version,
    kind: k,
    plural,
    singular: k.toLowerCase(),
    shortNames,
    namespaced,
    hasStatus: statusSchema !== undefined,
    schema,
    statusSchema,
  };
}

const KINDS: readonly KindInfo[] = Object.freeze([
  kind('', 'v1', 'Namespace', 'namespaces', ['ns'], false, Namespace, NamespaceStatus),
  kind('', 'v1', 'Node', 'nodes', ['no'], false, Node, NodeStatus),
  kind('', 'v1', 'Pod', 'pods', ['po'], true, Pod, PodStatus),
  kind('', 'v1', 'ConfigMap', 'configmaps', ['cm'], true, ConfigMap),
  kind('', 'v1', 'Secret', 'secrets', [], true, Secret),
  kind('', 'v1', 'ServiceAccount', 'serviceaccounts', ['sa'], true, ServiceAccount),
  kind('', 'v1', 'Event', 'events', ['ev'], true, Event),
  kind('', 'v1', 'ResourceQuota', 'resourcequotas', ['quota'], true, ResourceQuota, ResourceQuotaStatus),
  kind('', 'v1', 'LimitRange', 'limitranges', ['limits'], true, LimitRange),
  kind('', 'v1', 'Service', 'services', ['svc'], true, Service, ServiceStatus),
  kind('apps', 'v1', 'Deployment', 'deployments', ['deploy'], true, Deployment, DeploymentStatus),
  kind('apps', 'v1', 'ReplicaSet', 'replicasets', ['rs'], true, ReplicaSet, ReplicaSetStatus),
  kind('apps', 'v1', 'DaemonSet', 'daemonsets', ['ds'], true, DaemonSet, DaemonSetStatus),
  kind('apps', 'v1', 'StatefulSet', 'statefulsets', ['sts'], true, StatefulSet, StatefulSetStatus),
  kind('apps', 'v1', 'ControllerRevision', 'controllerrevisions', [], true, ControllerRevision),
  kind('batch', 'v1', 'Job', 'jobs', [], true, Job, JobStatus),
  kind('batch', 'v1', 'CronJob', 'cronjobs', ['cj'], true, CronJob, CronJobStatus),
  kind('coordination.k8s.io', 'v1', 'Lease', 'leases', [], true, Lease),
  kind('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', [], true, EndpointSlice),
  kind('networking.k8s.io', 'v1', 'Ingress', 'ingresses', ['ing'], true, Ingress, IngressStatus),
  kind('networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', [], false, IngressClass),
  kind('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', ['netpol'], true, NetworkPolicy),
  kind(
    'policy',
    'v1',
    'PodDisruptionBudget',
    'poddisruptionbudgets',
    ['pdb'],
    true,
    PodDisruptionBudget,
    PodDisruptionBudgetStatus,
  ),
  kind(
    'autoscaling',
    'v2',
    'HorizontalPodAutoscaler',
    'horizontalpodautoscalers',
    ['hpa'],
    true,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerStatus,
  ),
  // kubectl ≤ 1.32's `kubectl autoscale` writes v1; both versions share one storage key (kinds/hpa-v1.ts).
  kind(
    'autoscaling',
    'v1',
    'HorizontalPodAutoscaler',
    'horizontalpodautoscalers',
    ['hpa'],
    true,
    HorizontalPodAutoscalerV1,
    HorizontalPodAutoscalerV1Status,
  ),
  kind('sources.knative.dev', 'v1', 'PingSource', 'pingsources', [], true, PingSource, PingSourceStatus),
  kind('eventing.knative.dev', 'v1', 'Broker', 'brokers', [], true, Broker, BrokerStatus),
  kind('eventing.knative.dev', 'v1', 'Trigger', 'triggers', [], true, Trigger, TriggerStatus),
  kind('scheduling.k8s.io', 'v1', 'PriorityClass', 'priorityclasses', ['pc'], false, PriorityClass),
  kind(
    '',
    'v1',
    'PersistentVolume',
    'persistentvolumes',
    ['pv'],
    false,
    PersistentVolume,
    PersistentVolumeStatus,
  ),
  kind(
    '',
    'v1',
    'PersistentVolumeClaim',
    'persistentvolumeclaims',
    ['pvc'],
    true,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
  ),
  kind(
    'certificates.k8s.io',
    'v1',
    'CertificateSigningRequest',
    'certificatesigningrequests',
    ['csr'],
    false,
    CertificateSigningRequest,
    CertificateSigningRequestStatus,
  ),
  kind(
    'admissionregistration.k8s.io',
    'v1',
    'ValidatingAdmissionPolicy',
    'validatingadmissionpolicies',
    [],
    false,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyStatus,
  ),
  kind(
    'admissionregistration.k8s.io',
    'v1',
    'ValidatingAdmissionPolicyBinding',
    'validatingadmissionpolicybindings',
    [],
    false,
    ValidatingAdmissionPolicyBinding,
  ),
  kind('wgpolicyk8s.io', 'v1alpha2', 'PolicyReport', 'policyreports', ['polr'], true, PolicyReport),
  kind(
    'wgpolicyk8s.io',
    'v1alpha2',
    'ClusterPolicyReport',
    'clusterpolicyreports',
    ['cpolr'],
    false,
    ClusterPolicyReport,
  ),
  kind(
    'monitoring.coreos.com',
    'v1',
    'PrometheusRule',
    'prometheusrules',
    ['promrule'],
    true,
    PrometheusRule,
  ),
  kind('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', ['sc'], false, StorageClass),
  kind('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', [], true, Role),
  kind('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', [], true, RoleBinding),
  kind('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', [], false, ClusterRole),
  kind(
    'rbac.authorization.k8s.io',
    'v1',
    'ClusterRoleBinding',
    'clusterrolebindings',
    [],
    false,
    ClusterRoleBinding,
  ),
  // Knative Serving (src/serving/): functions that scale to zero.
  kind(
    'serving.knative.dev',
    'v1',
    'Service',
    'services',
    ['kservice', 'ksvc'],
    true,
    KnativeService,
    KnativeServiceStatus,
  ),
  kind(
    'serving.knative.dev',
    'v1',
    'Configuration',
    'configurations',
    ['config', 'cfg'],
    true,
    Configuration,
    ConfigurationStatus,
  ),
  kind('serving.knative.dev', 'v1', 'Revision', 'revisions', ['rev'], true, Revision, RevisionStatus),
  kind('serving.knative.dev', 'v1', 'Route', 'routes', ['rt'], true, Route, RouteStatus),
]);

export function allKinds(): KindInfo[] {
  return [...KINDS];
}

export function kindFor(apiVersion: string, kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

/** Look up by URL parts; the core group is ''. */
export function kindForResource(group: string, version: string, plural: string): KindInfo | undefined {
  return KINDS.find((k) => k.group === group && k.version === version && k.plural === plural);
}

/**
 * What `strata get <name>` accepts, case-insensitively: plural, singular, kind, short name, and
 * kubectl's qualified forms `deployments.apps` / `deployment.apps` / `jobs.batch`.
 */
export function resolveKind(nameFromCli: string): KindInfo | undefined {
  const wanted = nameFromCli.trim().toLowerCase();
  return KINDS.find((k) => {
    const names = [k.plural, k.singular, k.kind.toLowerCase(), ...k.shortNames];
    if (names.includes(wanted)) return true;
    return k.group !== '' && names.some((n) => wanted === `${n}.${k.group}`);
  });
}
