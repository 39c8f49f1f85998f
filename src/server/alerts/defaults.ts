// The alert rules every cluster starts with, as the PrometheusRule kube-system/strata-default-alerts:
// created when absent and never overwritten afterwards, so an operator edits or deletes it like any
// other object (delete it and it comes back at the next start; empty its groups to silence it for good).
// Priorities follow the scale: P0 system down (act now) … P3 performance (within 24 h); names and
// expressions follow kube-prometheus' rules where one exists.
import { kindFor } from '../../api/index.ts';
import type { PrometheusRule } from '../../api/kinds/prometheusrule.ts';
import type { ObjectStore } from '../../store/objects.ts';

export const DEFAULT_RULES_REF = { namespace: 'kube-system', name: 'strata-default-alerts' };

export function defaultRules(): PrometheusRule {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      ...DEFAULT_RULES_REF,
      labels: { 'app.kubernetes.io/managed-by': 'strata', 'strata.dev/default-rules': 'true' },
    },
    spec: {
      groups: [
        {
          name: 'strata.nodes',
          interval: '30s',
          rules: [
            {
              alert: 'KubeNodeNotReady',
              expr: 'kube_node_status_condition{condition="Ready",status="true"} == 0',
              for: '2m',
              labels: { severity: 'critical', priority: 'P0' },
              annotations: {
                summary: 'Node {{ $labels.node }} is not ready',
                description:
                  'Node {{ $labels.node }} has been NotReady for more than 2 minutes; its pods are not supervised.',
              },
            },
          ],
        },
        {
          name: 'strata.pods',
          interval: '30s',
          rules: [
            {
              alert: 'KubePodCrashLooping',
              expr: 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
              for: '5m',
              labels: { severity: 'warning', priority: 'P1' },
              annotations: {
                summary:
                  'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is crash looping',
                description:
                  'Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} keeps restarting (CrashLoopBackOff).',
              },
            },
            {
              alert: 'KubeContainerOOMKilled',
              // A restart in the last 10 minutes whose cause was OOM, or a container that ended OOM-killed.
              expr: '(increase(kube_pod_container_status_restarts_total[10m]) > 0 and on(namespace, pod, container) kube_pod_container_status_last_terminated_reason{reason="OOMKilled"} == 1) or on(namespace, pod, container) kube_pod_container_status_terminated_reason{reason="OOMKilled"} == 1',
              labels: { severity: 'warning', priority: 'P1' },
              annotations: {
                summary:
                  'Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} was OOM-killed',
                description: 'It used more memory than its limit: raise limits.memory or find the leak.',
              },
            },
          ],
        },
        {
          name: 'strata.workloads',
          interval: '30s',
          rules: [
            {
              alert: 'KubeDeploymentRolloutStuck',
              expr: 'kube_deployment_status_condition{condition="Progressing",status="false"} == 1',
              for: '5m',
              labels: { severity: 'warning', priority: 'P2' },
              annotations: {
                summary: 'Rollout of Deployment {{ $labels.namespace }}/{{ $labels.deployment }} is stuck',
                description:
                  'The Deployment made no progress within its progressDeadlineSeconds ({{ $labels.reason }}).',
              },
            },
            {
              alert: 'KubeDeploymentReplicasMismatch',
              expr: 'kube_deployment_spec_replicas > kube_deployment_status_replicas_available and changes(kube_deployment_status_replicas_updated[10m]) == 0',
              for: '15m',
              labels: { severity: 'warning', priority: 'P2' },
              annotations: {
                summary:
                  'Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has fewer available replicas than it wants',
              },
            },
          ],
        },
        {
          name: 'strata.resources',
          interval: '30s',
          rules: [
            {
              alert: 'CPUThrottlingHigh',
              expr: 'sum by (namespace, pod) (sum_over_time(strata_pod_cfs_throttled_periods[5m])) / sum by (namespace, pod) (sum_over_time(strata_pod_cfs_periods[5m])) > 0.25',
              for: '15m',
              labels: { severity: 'info', priority: 'P3' },
              annotations: {
                summary:
                  'Pod {{ $labels.namespace }}/{{ $labels.pod }} is CPU-throttled {{ $value | humanizePercentage }} of periods',
                description: 'Raise limits.cpu or scale out (strata top pods --bottlenecks).',
              },
            },
          ],
        },
        {
          name: 'strata.policy',
          interval: '30s',
          rules: [
            {
              alert: 'PolicyViolationCritical',
              expr: 'sum by (policy, severity, action) (increase(strata_policy_violations_total{severity="critical"}[10m])) > 0',
              labels: { severity: 'critical', priority: 'P1' },
              annotations: {
                summary:
                  'Critical admission-policy violations of {{ $labels.policy }} ({{ $labels.action }})',
              },
            },
            {
              alert: 'PolicyViolationHigh',
              expr: 'sum by (policy, severity, action) (increase(strata_policy_violations_total{severity="high"}[10m])) > 0',
              labels: { severity: 'warning', priority: 'P2' },
              annotations: {
                summary:
                  'High-severity admission-policy violations of {{ $labels.policy }} ({{ $labels.action }})',
              },
            },
            {
              alert: 'PolicyViolation',
              expr: 'sum by (policy, severity, action) (increase(strata_policy_violations_total{severity=~"medium|low|info|"}[10m])) > 0',
              labels: { severity: 'info', priority: 'P3' },
              annotations: {
                summary: 'Admission-policy violations of {{ $labels.policy }} ({{ $labels.action }})',
              },
            },
          ],
        },
        {
          name: 'strata.certificates',
          interval: '5m',
          rules: [
            {
              alert: 'CertificateExpiresSoon',
              expr: '(strata_certificate_expiration_timestamp_seconds - time()) < 7 * 86400',
              labels: { severity: 'critical', priority: 'P1' },
              annotations: {
                summary:
                  'The {{ $labels.certificate }} certificate expires in {{ $value | humanizeDuration }}',
                description:
                  'Renew it (the node certificates renew themselves; the CA and serving certificate do not).',
              },
            },
            {
              alert: 'CertificateExpiresIn30Days',
              expr: '(strata_certificate_expiration_timestamp_seconds - time()) < 30 * 86400 and (strata_certificate_expiration_timestamp_seconds - time()) >= 7 * 86400',
              labels: { severity: 'warning', priority: 'P2' },
              annotations: {
                summary:
                  'The {{ $labels.certificate }} certificate expires in {{ $value | humanizeDuration }}',
              },
            },
          ],
        },
      ],
    },
  };
}

/** Creates the default rules when absent (a restart never overwrites an operator's edits). */
export async function ensureDefaultRules(objects: ObjectStore): Promise<void> {
  const kind = kindFor('monitoring.coreos.com/v1', 'PrometheusRule')!;
  if (await objects.get(kind, DEFAULT_RULES_REF.namespace, DEFAULT_RULES_REF.name)) return;
  try {
    await objects.create(defaultRules(), DEFAULT_RULES_REF.namespace);
  } catch (err) {
    // Another server created it first.
    if ((err as { code?: number }).code !== 409) throw err;
  }
}
