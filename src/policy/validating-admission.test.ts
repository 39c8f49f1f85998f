import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { startTestServer, type TestServer } from '../server/testing.ts';
import {
  ValidatingAdmission,
  VALIDATION_FAILURE_ANNOTATION,
  EVALUATION_ERROR_ANNOTATION,
} from './validating-admission.ts';

const POLICIES = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
const PODS = '/api/v1/namespaces/default/pods';

function policy(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, annotations },
    spec: {
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] },
        ],
      },
      ...spec,
    },
  };
}

function binding(name: string, policyName: string, actions: string[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: { policyName, validationActions: actions, ...extra },
  };
}

function pod(name: string, runtimeClassName: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { runtimeClassName, containers: [{ name: 'c', image: 'build/wasm/hello.wasm' }] },
  };
}

describe('ValidatingAdmission through the API', () => {
  let ts: TestServer;
  let plugin: ValidatingAdmission;
  const annotations: Record<string, string> = {};

  beforeAll(async () => {
    ts = await startTestServer();
    plugin = new ValidatingAdmission(ts.objects, { size: 1, budgetMs: 2000 });
    await plugin.install();
  });
  afterAll(async () => {
    await plugin.stop();
    await ts.close();
  });

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  }
  async function create(path: string, body: unknown) {
    const res = await ts.req('POST', path, { body });
    return { code: res.statusCode, body: res.json(), headers: res.headers };
  }

  it('a policy whose expression does not parse is refused with the field and position; nothing is stored', async () => {
    const res = await create(
      POLICIES,
      policy('bad', { validations: [{ expression: 'object.spec.replicas >' }] }),
    );
    expect(res.code).toBe(422);
    expect(res.body.details.causes[0].field).toBe('spec.validations[0].expression');
    expect(res.body.message).toMatch(
      /spec\.validations\[0\]\.expression: Invalid value: "object\.spec\.replicas >": compilation failed: ERROR: <input>:1:22: Syntax error/,
    );
    expect((await ts.req('GET', `${POLICIES}/bad`)).statusCode).toBe(404);
  });

  it('a validation of the wrong type is refused at create', async () => {
    const res = await create(POLICIES, policy('wrong-type', { validations: [{ expression: "'wasm'" }] }));
    expect(res.code).toBe(422);
    expect(res.body.message).toMatch(/validation must evaluate to bool, got string/);
    const msg = await create(
      POLICIES,
      policy('wrong-msg', { validations: [{ expression: 'true', messageExpression: '1 + 1' }] }),
    );
    expect(msg.body.details.causes[0].field).toBe('spec.validations[0].messageExpression');
  });

  it('a binding with Deny and Warn together is refused', async () => {
    const res = await create(BINDINGS, binding('both', 'x', ['Deny', 'Warn']));
    expect(res.code).toBe(422);
    expect(res.body.message).toMatch(/spec.validationActions: Invalid value/);
  });

  it('Deny refuses the write with 422 (reason Invalid) or 403 (reason Forbidden); a passing pod is created', async () => {
    expect(
      (
        await create(
          POLICIES,
          policy(
            'only-wasm',
            {
              validations: [
                {
                  expression: "object.spec.runtimeClassName == 'wasm'",
                  messageExpression: "'runtimeClassName ' + object.spec.runtimeClassName + ' is not allowed'",
                },
              ],
            },
            { 'policies.strata.dev/severity': 'high', 'policies.strata.dev/category': 'Tiers' },
          ),
        )
      ).code,
    ).toBe(201);
    expect(
      (
        await create(
          BINDINGS,
          binding('only-wasm', 'only-wasm', ['Deny'], {
            matchResources: { objectSelector: { matchLabels: { policy: 'deny' } } },
          }),
        )
      ).code,
    ).toBe(201);
    await until(() => plugin.bindings.list().length === 1 && plugin.policies.list().length === 1);
    const denied = await create(PODS, pod('c1', 'container', { policy: 'deny' }));
    expect(denied.code).toBe(422);
    expect(denied.body.reason).toBe('Invalid');
    expect(denied.body.message).toBe(
      "ValidatingAdmissionPolicy 'only-wasm' with binding 'only-wasm' denied request: runtimeClassName container is not allowed",
    );
    expect((await ts.req('GET', `${PODS}/c1`)).statusCode).toBe(404);
    expect((await create(PODS, pod('w1', 'wasm', { policy: 'deny' }))).code).toBe(201);
    // Outside the binding's objectSelector the policy does not apply.
    expect((await create(PODS, pod('c-free', 'container'))).code).toBe(201);

    await create(
      POLICIES,
      policy('forbid-name', {
        validations: [
          { expression: "object.metadata.name != 'root'", reason: 'Forbidden', message: 'no root' },
        ],
      }),
    );
    await create(BINDINGS, binding('forbid-name', 'forbid-name', ['Deny']));
    await until(() => plugin.bindings.list().length === 2 && plugin.policies.list().length === 2);
    const forbidden = await create(PODS, pod('root', 'wasm'));
    expect(forbidden.code).toBe(403);
    expect(forbidden.body.reason).toBe('Forbidden');
    const v = plugin.violations.recent(10).find((x) => x.policy === 'only-wasm')!;
    expect(v).toMatchObject({
      action: 'Deny',
      severity: 'high',
      category: 'Tiers',
      user: 'admin',
      rule: 'validations[0]',
    });
    expect(v.resource).toMatchObject({ kind: 'Pod', namespace: 'default', name: 'c1' });
  });

  it('Warn lets the write through with a Warning header', async () => {
    await create(
      POLICIES,
      policy('warn-label', {
        validations: [
          {
            expression: "has(object.metadata.labels) && 'team' in object.metadata.labels",
            message: 'pods should carry a team label',
          },
        ],
      }),
    );
    await create(
      BINDINGS,
      binding('warn-label', 'warn-label', ['Warn'], {
        matchResources: { objectSelector: { matchLabels: { policy: 'warn' } } },
      }),
    );
    await until(() => plugin.bindings.list().length === 3 && plugin.policies.list().length === 3);
    const res = await create(PODS, pod('warned', 'wasm', { policy: 'warn' }));
    expect(res.code).toBe(201);
    expect(String(res.headers.warning)).toContain(
      "Validation failed for ValidatingAdmissionPolicy 'warn-label' with binding 'warn-label': pods should carry a team label",
    );
  });

  it('Audit records the validation_failure annotation; an evaluation error under Ignore is allowed and annotated', async () => {
    await create(
      POLICIES,
      policy('audit-replicas', {
        validations: [
          { expression: "object.metadata.name.startsWith('prod-')", message: 'name must start with prod-' },
        ],
        auditAnnotations: [{ key: 'tier', valueExpression: 'object.spec.runtimeClassName' }],
      }),
    );
    await create(
      BINDINGS,
      binding('audit-replicas', 'audit-replicas', ['Audit'], {
        matchResources: { objectSelector: { matchLabels: { policy: 'audit' } } },
      }),
    );
    await create(
      POLICIES,
      policy('ignore-errors', {
        failurePolicy: 'Ignore',
        validations: [{ expression: 'object.spec.nosuchfield == 1' }],
      }),
    );
    await create(
      BINDINGS,
      binding('ignore-errors', 'ignore-errors', ['Deny'], {
        matchResources: { objectSelector: { matchLabels: { policy: 'audit' } } },
      }),
    );
    await until(() => plugin.bindings.list().length === 5 && plugin.policies.list().length === 5);
    const podsKind = kindFor('v1', 'Pod')!;
    await ts.objects.create(pod('audited', 'wasm', { policy: 'audit' }), 'default', {
      user: { username: 'alice', groups: [] },
      annotate: (k, v) => (annotations[k] = v),
    });
    expect(await ts.objects.get(podsKind, 'default', 'audited')).toBeTruthy();
    expect(JSON.parse(annotations[VALIDATION_FAILURE_ANNOTATION])).toEqual([
      {
        message: 'name must start with prod-',
        policy: 'audit-replicas',
        binding: 'audit-replicas',
        expressionIndex: 0,
        validationActions: ['Audit'],
      },
    ]);
    expect(annotations['audit-replicas/tier']).toBe('wasm');
    expect(JSON.parse(annotations[EVALUATION_ERROR_ANNOTATION])[0]).toMatchObject({
      policy: 'ignore-errors',
    });
    expect(plugin.violations.recent(1)[0]).toMatchObject({
      action: 'Audit',
      user: 'alice',
      policy: 'audit-replicas',
    });
  });

  it('a hostile expression hits its budget: Fail denies with a clear message', async () => {
    const loop =
      'object.metadata.labels.all(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(b, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(c, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(d, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(e, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(f, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(g, a != "" && b + c + d + e + f + g > 0)))))))';
    await create(POLICIES, policy('hostile', { validations: [{ expression: loop }] }));
    await create(
      BINDINGS,
      binding('hostile', 'hostile', ['Deny'], {
        matchResources: { objectSelector: { matchLabels: { policy: 'hostile' } } },
      }),
    );
    await until(() => plugin.bindings.list().length === 6);
    const res = await create(PODS, pod('slow', 'wasm', { policy: 'hostile' }));
    expect(res.code).toBe(422);
    expect(res.body.message).toBe(
      "ValidatingAdmissionPolicy 'hostile' with binding 'hostile' denied request: evaluation exceeded its budget of 2000ms",
    );
    expect(plugin.pool.replaced).toBeGreaterThanOrEqual(1);
  });

  it('params: a named ConfigMap feeds the expression; a missing one with parameterNotFoundAction Deny denies', async () => {
    await create('/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'limits' },
      data: { prefix: 'team-' },
    });
    await create(
      POLICIES,
      policy('name-prefix', {
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        validations: [
          {
            expression: 'object.metadata.name.startsWith(params.data.prefix)',
            messageExpression: "'name must start with ' + params.data.prefix",
          },
        ],
      }),
    );
    await create(
      BINDINGS,
      binding('name-prefix', 'name-prefix', ['Deny'], {
        paramRef: { name: 'limits', parameterNotFoundAction: 'Deny' },
        matchResources: { objectSelector: { matchLabels: { policy: 'params' } } },
      }),
    );
    await create(
      BINDINGS,
      binding('name-prefix-missing', 'name-prefix', ['Deny'], {
        paramRef: { name: 'nope', parameterNotFoundAction: 'Deny' },
        matchResources: { objectSelector: { matchLabels: { policy: 'params-missing' } } },
      }),
    );
    await until(() => plugin.bindings.list().length === 8);
    expect((await create(PODS, pod('team-a', 'wasm', { policy: 'params' }))).code).toBe(201);
    const bad = await create(PODS, pod('other', 'wasm', { policy: 'params' }));
    expect(bad.body.message).toMatch(/name must start with team-/);
    const missing = await create(PODS, pod('team-b', 'wasm', { policy: 'params-missing' }));
    expect(missing.body.message).toMatch(
      /no params found for policy binding with `Deny` parameterNotFoundAction/,
    );
  });
});
