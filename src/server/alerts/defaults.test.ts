// The shipped rules against crafted series: each fires on the situation it is named for and stays quiet
// on its near miss, and every expression evaluates without error.
import { describe, expect, it } from 'vitest';
import { defaultRules } from './defaults.ts';
import { compileRules, evaluateRule, type CompiledRule } from './rules.ts';
import { SampleStore } from './promql/sample-store.ts';
import type { Labels } from './promql/eval.ts';

const T0 = 1_800_000_000_000;
const STEP = 30_000;
const STEPS = 40; // 20 minutes of scrapes

type Gen = (i: number) => Array<{ labels: Labels; v: number }>;

function storeOf(gen: Gen): { store: SampleStore; end: number } {
  const store = new SampleStore();
  for (let i = 0; i <= STEPS; i++) store.append('test', T0 + i * STEP, gen(i));
  return { store, end: T0 + STEPS * STEP };
}

const rules = (() => {
  const { groups, errors } = compileRules(defaultRules(), 30_000);
  expect(errors).toEqual([]);
  const byName = new Map<string, CompiledRule>();
  for (const g of groups) for (const r of g.rules) byName.set(r.alert!, r);
  return byName;
})();

/** The label sets the rule returns at the end of the crafted history. */
function fires(alert: string, gen: Gen): Labels[] {
  const { store, end } = storeOf(gen);
  return evaluateRule(rules.get(alert)!, end, store).map((s) => s.labels);
}

const s = (name: string, labels: Labels, v: number) => ({ labels: { __name__: name, ...labels }, v });

describe('default alert rules', () => {
  it('carry a priority and a severity each', () => {
    for (const [name, r] of rules) {
      expect(r.labels.priority, name).toMatch(/^P[0-3]$/);
      expect(['critical', 'warning', 'info'], name).toContain(r.labels.severity);
    }
  });

  it('KubeNodeNotReady (P0): a node whose Ready condition is not true', () => {
    const got = fires('KubeNodeNotReady', () => [
      s('kube_node_status_condition', { node: 'n1', condition: 'Ready', status: 'true' }, 0),
      s('kube_node_status_condition', { node: 'n1', condition: 'Ready', status: 'unknown' }, 1),
      s('kube_node_status_condition', { node: 'n2', condition: 'Ready', status: 'true' }, 1),
    ]);
    expect(got.map((l) => l.node)).toEqual(['n1']);
  });

  it('KubePodCrashLooping (P1): CrashLoopBackOff seen in the last 5 minutes', () => {
    const got = fires('KubePodCrashLooping', (i) => [
      // Flapping between backoff and running: still crash looping.
      ...(i % 2
        ? [
            s(
              'kube_pod_container_status_waiting_reason',
              { namespace: 'a', pod: 'p', container: 'c', reason: 'CrashLoopBackOff' },
              1,
            ),
          ]
        : []),
      // Crash looped 15 minutes ago, fine since: not any more.
      ...(i < 10
        ? [
            s(
              'kube_pod_container_status_waiting_reason',
              { namespace: 'a', pod: 'q', container: 'c', reason: 'CrashLoopBackOff' },
              1,
            ),
          ]
        : []),
    ]);
    expect(got.map((l) => l.pod)).toEqual(['p']);
  });

  it('KubeContainerOOMKilled (P1): a restart caused by OOM in the last 10 minutes, or a container that ended OOMKilled', () => {
    const got = fires('KubeContainerOOMKilled', (i) => {
      const c = (pod: string) => ({ namespace: 'a', pod, uid: `u-${pod}`, container: 'c' });
      return [
        // restarted (OOM) 5 minutes ago
        s('kube_pod_container_status_restarts_total', c('recent'), i < STEPS - 10 ? 1 : 2),
        s('kube_pod_container_status_last_terminated_reason', { ...c('recent'), reason: 'OOMKilled' }, 1),
        // OOM-killed long ago, running since: quiet
        s('kube_pod_container_status_restarts_total', c('old'), 1),
        s('kube_pod_container_status_last_terminated_reason', { ...c('old'), reason: 'OOMKilled' }, 1),
        // restarted recently, but for another reason: quiet
        s('kube_pod_container_status_restarts_total', c('error'), i < STEPS - 10 ? 1 : 2),
        s('kube_pod_container_status_last_terminated_reason', { ...c('error'), reason: 'Error' }, 1),
        // never restarts (restartPolicy Never) and ended OOMKilled
        s('kube_pod_container_status_terminated_reason', { ...c('hog'), reason: 'OOMKilled' }, 1),
      ];
    });
    expect(got.map((l) => l.pod).sort()).toEqual(['hog', 'recent']);
  });

  it('KubeDeploymentRolloutStuck (P2): Progressing=False', () => {
    const got = fires('KubeDeploymentRolloutStuck', () => [
      s(
        'kube_deployment_status_condition',
        {
          namespace: 'a',
          deployment: 'stuck',
          condition: 'Progressing',
          status: 'false',
          reason: 'ProgressDeadlineExceeded',
        },
        1,
      ),
      s(
        'kube_deployment_status_condition',
        {
          namespace: 'a',
          deployment: 'ok',
          condition: 'Progressing',
          status: 'false',
          reason: 'NewReplicaSetAvailable',
        },
        0,
      ),
    ]);
    expect(got.map((l) => l.deployment)).toEqual(['stuck']);
  });

  it('KubeDeploymentReplicasMismatch (P2): fewer available than wanted and no rollout progress', () => {
    const got = fires('KubeDeploymentReplicasMismatch', (i) => [
      s('kube_deployment_spec_replicas', { namespace: 'a', deployment: 'short' }, 3),
      s('kube_deployment_status_replicas_available', { namespace: 'a', deployment: 'short' }, 1),
      s('kube_deployment_status_replicas_updated', { namespace: 'a', deployment: 'short' }, 3),
      // rolling out: updated replicas changing
      s('kube_deployment_spec_replicas', { namespace: 'a', deployment: 'rolling' }, 3),
      s('kube_deployment_status_replicas_available', { namespace: 'a', deployment: 'rolling' }, 1),
      s('kube_deployment_status_replicas_updated', { namespace: 'a', deployment: 'rolling' }, i % 3),
    ]);
    expect(got.map((l) => l.deployment)).toEqual(['short']);
  });

  it('CPUThrottlingHigh (P3): throttled in more than 25 % of CFS periods (from the history figures)', () => {
    const got = fires('CPUThrottlingHigh', () => [
      s('strata_pod_cfs_periods', { namespace: 'a', pod: 'busy' }, 100),
      s('strata_pod_cfs_throttled_periods', { namespace: 'a', pod: 'busy' }, 40),
      s('strata_pod_cfs_periods', { namespace: 'a', pod: 'calm' }, 100),
      s('strata_pod_cfs_throttled_periods', { namespace: 'a', pod: 'calm' }, 5),
    ]);
    expect(got).toEqual([{ namespace: 'a', pod: 'busy' }]);
  });

  it('policy violations by severity: critical → P1, high → P2, the rest → P3', () => {
    const gen: Gen = (i) =>
      ['critical', 'high', 'medium'].map((severity) =>
        s(
          'strata_policy_violations_total',
          { policy: `p-${severity}`, severity, action: 'Deny' },
          i < STEPS - 5 ? 0 : 2,
        ),
      );
    expect(fires('PolicyViolationCritical', gen).map((l) => l.policy)).toEqual(['p-critical']);
    expect(fires('PolicyViolationHigh', gen).map((l) => l.policy)).toEqual(['p-high']);
    expect(fires('PolicyViolation', gen).map((l) => l.policy)).toEqual(['p-medium']);
  });

  it('certificate expiry: within 7 days P1, within 30 days P2', () => {
    const end = (T0 + STEPS * STEP) / 1000;
    const gen: Gen = () => [
      s('strata_certificate_expiration_timestamp_seconds', { certificate: 'soon' }, end + 3 * 86400),
      s('strata_certificate_expiration_timestamp_seconds', { certificate: 'month' }, end + 20 * 86400),
      s('strata_certificate_expiration_timestamp_seconds', { certificate: 'year' }, end + 300 * 86400),
    ];
    expect(fires('CertificateExpiresSoon', gen).map((l) => l.certificate)).toEqual(['soon']);
    expect(fires('CertificateExpiresIn30Days', gen).map((l) => l.certificate)).toEqual(['month']);
  });
});
