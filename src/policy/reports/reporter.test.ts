import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { startTestServer, type TestServer } from '../../server/testing.ts';
import { startAdmissionPolicies, type AdmissionPolicies } from '../admission-policies.ts';
import { REPORT_NAME } from './reporter.ts';

const policyReports = kindFor('wgpolicyk8s.io/v1alpha2', 'PolicyReport')!;

function policy(name: string, expression: string, severity: string) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: {
      name,
      annotations: { 'policies.kyverno.io/severity': severity, 'policies.strata.dev/category': 'Labels' },
    },
    spec: {
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['configmaps'],
          },
        ],
      },
      validations: [{ expression, message: `${name} failed` }],
    },
  };
}

describe('policy reports', () => {
  let ts: TestServer;
  let policies: AdmissionPolicies;
  beforeAll(async () => {
    ts = await startTestServer();
    policies = await startAdmissionPolicies(ts.objects, {
      size: 1,
      reports: { flushMs: 50 },
      scan: { debounceMs: 60_000 },
    });
  });
  afterAll(async () => {
    await policies.stop();
    await ts.close();
  });

  it('an audit policy fills the namespace report; counts match the violations; the scan audits existing objects', async () => {
    // Two objects exist before the policy: the scan must find the one that fails.
    for (const name of ['old-ok', 'old-bad'])
      await ts.objects.create(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, labels: name === 'old-ok' ? { team: 'a' } : {} },
        },
        'default',
      );
    await ts.req('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      body: policy('team-label', "has(object.metadata.labels) && 'team' in object.metadata.labels", 'high'),
    });
    await ts.req('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: 'team-label' },
        spec: { policyName: 'team-label', validationActions: ['Audit'] },
      },
    });
    for (let i = 0; i < 200 && policies.plugin.bindings.list().length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    const violating = 5;
    for (let i = 0; i < violating; i++) {
      const res = await ts.req('POST', '/api/v1/namespaces/default/configmaps', {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `new-${i}` } },
      });
      expect(res.statusCode).toBe(201);
    }
    expect(policies.plugin.violations.recent(100).filter((v) => v.policy === 'team-label')).toHaveLength(
      violating,
    );
    const scan = await policies.scanner.scan();
    // 2 old + 5 new objects (+ any ConfigMaps the server made), each evaluated once.
    expect(scan.fail).toBe(violating + 1);
    expect(scan.pass).toBeGreaterThanOrEqual(1);
    await policies.reporter.flush();
    const report = await ts.objects.get(policyReports, 'default', REPORT_NAME);
    const mine = report.results.filter((r: any) => r.policy === 'team-label');
    const fails = mine.filter((r: any) => r.result === 'fail');
    expect(fails.map((r: any) => r.resources[0].name).sort()).toEqual([
      'new-0',
      'new-1',
      'new-2',
      'new-3',
      'new-4',
      'old-bad',
    ]);
    expect(fails[0]).toMatchObject({
      severity: 'high',
      category: 'Labels',
      message: 'team-label failed',
      source: 'ValidatingAdmissionPolicy',
    });
    expect(report.summary.fail).toBe(fails.length);
    expect(report.summary.pass).toBe(mine.filter((r: any) => r.result === 'pass').length);
    // Through the API, as kubectl get polr reads it.
    const res = await ts.req('GET', '/apis/wgpolicyk8s.io/v1alpha2/namespaces/default/policyreports');
    expect(res.json().items[0].summary.fail).toBe(violating + 1);
  });

  it('the report stays bounded', async () => {
    const r = policies.reporter;
    for (let i = 0; i < r.maxResults + 50; i++)
      r.upsert('bounded', `k${i}`, {
        policy: 'p',
        result: 'fail',
        resources: [{ kind: 'ConfigMap', name: `c${i}` }],
      });
    await ts.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bounded' } });
    await r.flush();
    const report = await ts.objects.get(policyReports, 'bounded', REPORT_NAME);
    expect(report.results).toHaveLength(r.maxResults);
    expect(report.results.at(-1).resources[0].name).toBe(`c${r.maxResults + 49}`);
  });
});
