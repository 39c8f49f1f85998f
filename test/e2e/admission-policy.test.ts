// ValidatingAdmissionPolicies seen through the real kubectl (1.32) against a running cluster: the shipped
// example keeps container pods out of untrusted namespaces and lets wasm in; Warn prints kubectl's
// `Warning:` line; a policy whose expression does not compile is refused naming the field; an Audit
// policy fills the PolicyReport that `kubectl get polr` and `strata policy report` show.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './harness.ts';

let c: Cluster;
const kubectl = (args: string[], input?: string) => c.kubectl(args, { input });
const example = readFileSync(new URL('../../examples/policy-untrusted-tiers.yaml', import.meta.url), 'utf8');

function pod(name: string, runtimeClassName: string, labels = ''): string {
  return `
apiVersion: v1
kind: Pod
metadata: {name: ${name}${labels ? `, labels: {${labels}}` : ''}}
spec:
  runtimeClassName: ${runtimeClassName}
  restartPolicy: Never
  containers:
  - name: app
    image: ${runtimeClassName === 'wasm' ? 'build/wasm/hello.wasm' : 'localhost/httpd:1.0'}
`;
}

function policyWithBinding(
  name: string,
  action: string,
  expression: string,
  message: string,
  extra = '',
): string {
  return `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${name}
  annotations: {policies.strata.dev/severity: medium, policies.strata.dev/category: Labels}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "${expression}"
    message: "${message}"
${extra}---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${name}}
spec:
  policyName: ${name}
  validationActions: [${action}]
  matchResources:
    objectSelector: {matchLabels: {check: ${name}}}
`;
}

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
});
afterAll(async () => {
  await c?.stop();
});

describe('admission policies with kubectl', () => {
  it('the example: a container pod is refused in an untrusted namespace, a wasm one is created', async () => {
    const applied = await kubectl(['apply', '-f', '-'], example);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain(
      'validatingadmissionpolicy.admissionregistration.k8s.io/untrusted-tiers created',
    );
    expect(applied.stdout).toContain(
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/untrusted-tiers created',
    );
    expect((await kubectl(['create', 'namespace', 'guests'])).code).toBe(0);
    expect((await kubectl(['label', 'namespace', 'guests', 'tenancy=untrusted'])).code).toBe(0);
    // The plugin sees the binding through its watch: retry until the refusal shows.
    const refused = await waitFor('the example policy to refuse a container pod', async () => {
      const r = await kubectl(['apply', '-n', 'guests', '-f', '-'], pod('web', 'container'));
      return r.code !== 0 ? r : undefined;
    });
    expect(refused.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": ValidatingAdmissionPolicy 'untrusted-tiers' with binding 'untrusted-tiers' denied request: ` +
        'runtimeClassName "container" is not allowed in namespace guests (tenancy=untrusted): use wasm or microvm',
    );
    expect((await kubectl(['get', 'pod', 'web', '-n', 'guests'])).code).not.toBe(0);
    const ok = await kubectl(['apply', '-n', 'guests', '-f', '-'], pod('hello', 'wasm'));
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('pod/hello created');
    // Other namespaces are not bound: a container pod in default is admitted.
    const other = await kubectl(['apply', '-f', '-'], pod('web', 'container'));
    expect(other.stdout.trim()).toBe('pod/web created');
    // A Deployment does not carry container pods past the policy: the pods its ReplicaSet creates are
    // admitted like a client's, refused, and the ReplicaSet says why.
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: sneaky }
spec:
  replicas: 1
  selector: { matchLabels: { app: sneaky } }
  template:
    metadata: { labels: { app: sneaky } }
    spec:
      runtimeClassName: container
      containers: [{ name: main, image: localhost/busybox:1.0 }]
`;
    expect((await kubectl(['apply', '-n', 'guests', '-f', '-'], deployment)).code).toBe(0);
    const event = await waitFor('the ReplicaSet to report the refusal', async () => {
      const r = await kubectl(['get', 'events', '-n', 'guests', '-o', 'json']);
      const items = JSON.parse(r.stdout).items as Array<{ reason: string; message: string }>;
      return items.find((e) => e.reason === 'FailedCreate');
    });
    expect(event.message).toContain("ValidatingAdmissionPolicy 'untrusted-tiers'");
    const pods = JSON.parse(
      (await kubectl(['get', 'pods', '-n', 'guests', '-l', 'app=sneaky', '-o', 'json'])).stdout,
    );
    expect(pods.items).toHaveLength(0);
  });

  it('Warn: the pod is created and kubectl prints the Warning line', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      policyWithBinding(
        'team-label',
        'Warn',
        "'team' in object.metadata.labels",
        'pods should carry a team label',
      ),
    );
    const warned = await waitFor('the Warn policy to warn', async () => {
      const r = await kubectl(
        ['apply', '-f', '-'],
        pod(`warned-${Date.now() % 100000}`, 'wasm', 'check: team-label'),
      );
      return r.stderr.includes('Warning:') ? r : undefined;
    });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain(
      "Warning: Validation failed for ValidatingAdmissionPolicy 'team-label' with binding 'team-label': pods should carry a team label",
    );
    expect(warned.stdout).toMatch(/pod\/warned-\d+ created/);
  });

  it('a policy with a syntax error or a wrong type is refused at create, naming the field', async () => {
    const syntax = await kubectl(
      ['apply', '-f', '-'],
      policyWithBinding('broken', 'Deny', 'object.spec.runtimeClassName ==', 'x').split('---')[0],
    );
    expect(syntax.code).not.toBe(0);
    expect(syntax.stderr).toContain(
      'is invalid: spec.validations[0].expression: Invalid value: "object.spec.runtimeClassName ==": compilation failed: ERROR: <input>:1:',
    );
    expect(syntax.stderr).toContain('Syntax error');
    const wrongType = await kubectl(
      ['apply', '-f', '-'],
      policyWithBinding('wrong', 'Deny', "object.metadata.name + '!'", 'x').split('---')[0],
    );
    expect(wrongType.stderr).toContain('validation must evaluate to bool, got string');
    expect((await kubectl(['get', 'validatingadmissionpolicy', 'broken'])).code).not.toBe(0);
  });

  it('Audit: violations fill the PolicyReport and strata policy report counts them', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      policyWithBinding(
        'prod-prefix',
        'Audit',
        "object.metadata.name.startsWith('prod-')",
        'name must start with prod-',
      ),
    );
    await waitFor('the prod-prefix binding', async () => {
      const r = await kubectl(['get', 'validatingadmissionpolicybinding', 'prod-prefix']);
      return r.code === 0 ? true : undefined;
    });
    // Wait for the binding to be live (an audited pod yields a report result), then make three more.
    await waitFor('the Audit policy to report', async () => {
      await kubectl(['apply', '-f', '-'], pod('audited-0', 'wasm', 'check: prod-prefix'));
      const r = await kubectl(['get', 'policyreport', 'strata-policies', '-o', 'json']);
      if (r.code !== 0) return undefined;
      const report = JSON.parse(r.stdout);
      return report.results?.some((x: any) => x.policy === 'prod-prefix') ? true : undefined;
    });
    for (let i = 1; i <= 3; i++) {
      const r = await kubectl(['apply', '-f', '-'], pod(`audited-${i}`, 'wasm', 'check: prod-prefix'));
      expect(r.stdout.trim()).toBe(`pod/audited-${i} created`);
    }
    const report = await waitFor('four audit results in the report', async () => {
      const r = await kubectl(['get', 'policyreport', 'strata-policies', '-o', 'json']);
      const rep = JSON.parse(r.stdout);
      const fails = rep.results.filter((x: any) => x.policy === 'prod-prefix' && x.result === 'fail');
      return fails.length === 4 ? rep : undefined;
    });
    const prod = report.results.filter((x: any) => x.policy === 'prod-prefix');
    expect(prod.map((x: any) => x.resources[0].name).sort()).toEqual([
      'audited-0',
      'audited-1',
      'audited-2',
      'audited-3',
    ]);
    expect(prod[0]).toMatchObject({
      result: 'fail',
      severity: 'medium',
      category: 'Labels',
      message: 'name must start with prod-',
    });
    const listed = await kubectl(['get', 'polr', '-n', 'default']);
    expect(listed.stdout).toContain('strata-policies');
    const out = await c.cli(['policy', 'report', '-n', 'default']);
    expect(out.code).toBe(0);
    const medium = out.stdout.split('\n').find((l) => l.startsWith('medium'))!;
    // 4 audited + warned pods of the Warn policy (medium, warn column) in default.
    expect(Number(medium.trim().split(/\s+/)[1])).toBe(4);
    expect(out.stdout).toContain('name must start with prod-');
    expect(out.stdout).toMatch(/Most recent violations \(\d+ of \d+\):/);
  });
});
