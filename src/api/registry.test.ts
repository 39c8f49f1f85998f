import { describe, expect, it } from 'vitest';
import { allKinds, kindFor, kindForResource, resolveKind } from './registry.ts';

describe('registry', () => {
  it('lists the supported kinds with their URL naming', () => {
    expect(allKinds().map((k) => `${k.apiVersion} ${k.kind}`)).toEqual([
      'v1 Namespace',
      'v1 Node',
      'v1 Pod',
      'v1 ConfigMap',
      'v1 Secret',
      'v1 ServiceAccount',
      'v1 Event',
      'v1 ResourceQuota',
      'v1 LimitRange',
      'v1 Service',
      'apps/v1 Deployment',
      'apps/v1 ReplicaSet',
      'apps/v1 DaemonSet',
      'apps/v1 StatefulSet',
      'apps/v1 ControllerRevision',
      'batch/v1 Job',
      'batch/v1 CronJob',
      'coordination.k8s.io/v1 Lease',
      'discovery.k8s.io/v1 EndpointSlice',
      'networking.k8s.io/v1 Ingress',
      'networking.k8s.io/v1 IngressClass',
      'networking.k8s.io/v1 NetworkPolicy',
      'policy/v1 PodDisruptionBudget',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'autoscaling/v1 HorizontalPodAutoscaler',
      'sources.knative.dev/v1 PingSource',
      'eventing.knative.dev/v1 Broker',
      'eventing.knative.dev/v1 Trigger',
      'scheduling.k8s.io/v1 PriorityClass',
      'v1 PersistentVolume',
      'v1 PersistentVolumeClaim',
      'certificates.k8s.io/v1 CertificateSigningRequest',
      'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy',
      'admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding',
      'wgpolicyk8s.io/v1alpha2 PolicyReport',
      'wgpolicyk8s.io/v1alpha2 ClusterPolicyReport',
      'monitoring.coreos.com/v1 PrometheusRule',
      'storage.k8s.io/v1 StorageClass',
      'rbac.authorization.k8s.io/v1 Role',
      'rbac.authorization.k8s.io/v1 RoleBinding',
      'rbac.authorization.k8s.io/v1 ClusterRole',
      'rbac.authorization.k8s.io/v1 ClusterRoleBinding',
      'serving.knative.dev/v1 Service',
      'serving.knative.dev/v1 Configuration',
      'serving.knative.dev/v1 Revision',
      'serving.knative.dev/v1 Route',
    ]);
    expect(kindFor('scheduling.k8s.io/v1', 'PriorityClass')!.namespaced).toBe(false);
    expect(kindFor('policy/v1', 'PodDisruptionBudget')!.hasStatus).toBe(true);
    expect(kindFor('v1', 'Event')!.hasStatus).toBe(false);
    expect(kindFor('policy/v1', 'Eviction')).toBeUndefined(); // a request body, not a stored kind
    const pod = kindFor('v1', 'Pod')!;
    expect(pod).toMatchObject({
      group: '',
      version: 'v1',
      plural: 'pods',
      singular: 'pod',
      namespaced: true,
      hasStatus: true,
    });
    expect(kindFor('v1', 'Node')!.namespaced).toBe(false);
    expect(kindFor('v1', 'Namespace')!.namespaced).toBe(false);
    expect(kindFor('v1', 'ConfigMap')!.hasStatus).toBe(false);
    expect(kindFor('apps/v1', 'Deployment')!.statusSchema).toBeDefined();
    expect(kindFor('v1', 'Deployment')).toBeUndefined();
    expect(kindFor('v1', 'pod')).toBeUndefined();
  });

  it('finds kinds by URL parts', () => {
    expect(kindForResource('', 'v1', 'pods')?.kind).toBe('Pod');
    expect(kindForResource('apps', 'v1', 'deployments')?.kind).toBe('Deployment');
    expect(kindForResource('coordination.k8s.io', 'v1', 'leases')?.kind).toBe('Lease');
    expect(kindForResource('', 'v1', 'deployments')).toBeUndefined();
  });

  it.each([
    ['po', 'Pod'],
    ['pods', 'Pod'],
    ['pod', 'Pod'],
    ['Pod', 'Pod'],
    ['PODS', 'Pod'],
    ['deploy', 'Deployment'],
    ['deployments', 'Deployment'],
    ['deployments.apps', 'Deployment'],
    ['job', 'Job'],
    ['jobs', 'Job'],
    ['jobs.batch', 'Job'],
    ['no', 'Node'],
    ['nodes', 'Node'],
    ['ns', 'Namespace'],
    ['cm', 'ConfigMap'],
    ['configmap', 'ConfigMap'],
    ['secret', 'Secret'],
    ['lease', 'Lease'],
    ['leases.coordination.k8s.io', 'Lease'],
    ['ev', 'Event'],
    ['events', 'Event'],
    ['ds', 'DaemonSet'],
    ['daemonsets.apps', 'DaemonSet'],
    ['controllerrevisions', 'ControllerRevision'],
    ['cj', 'CronJob'],
    ['cronjobs.batch', 'CronJob'],
    ['pdb', 'PodDisruptionBudget'],
    ['poddisruptionbudgets.policy', 'PodDisruptionBudget'],
    ['pc', 'PriorityClass'],
    ['priorityclasses.scheduling.k8s.io', 'PriorityClass'],
  ])('resolveKind(%j) is %s', (name, kind) => {
    expect(resolveKind(name)?.kind).toBe(kind);
  });

  it('resolveKind returns undefined for unknown names', () => {
    expect(resolveKind('gateways')).toBeUndefined();
    expect(resolveKind('deployments.batch')).toBeUndefined();
  });
});
