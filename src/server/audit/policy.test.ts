import { describe, expect, it } from 'vitest';
import { AuditPolicy, parseAuditPolicy, type AuditAttributes } from './policy.ts';

const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ['system:kube-proxy']
    verbs: [watch]
  - level: None
    nonResourceURLs: ['/healthz*', /version]
  - level: RequestResponse
    resources:
      - group: ''
        resources: [pods/log, secrets]
  - level: Request
    userGroups: [team-a]
    namespaces: [dev]
    resources:
      - group: apps
        resources: ['*/scale']
      - group: ''
        resources: [configmaps]
        resourceNames: [app-config]
  - level: Metadata
    omitStages: [ResponseStarted]
`;

const req = (o: Partial<AuditAttributes>): AuditAttributes => ({
  user: { username: 'alice', groups: ['team-a', 'system:authenticated'] },
  verb: 'get',
  resourceRequest: true,
  path: '/api/v1/x',
  ...o,
});

describe('audit policy', () => {
  const p = parseAuditPolicy(POLICY, 'policy.yaml');

  it('the first matching rule decides; no rule means None', () => {
    expect(p.decide(req({ user: { username: 'system:kube-proxy', groups: [] }, verb: 'watch' })).level).toBe(
      'None',
    );
    expect(p.decide(req({ user: { username: 'system:kube-proxy', groups: [] }, verb: 'list' })).level).toBe(
      'Metadata',
    );
    expect(p.decide(req({ resourceRequest: false, path: '/healthz/ready', verb: 'get' })).level).toBe('None');
    expect(p.decide(req({ resourceRequest: false, path: '/version', verb: 'get' })).level).toBe('None');
    expect(p.decide(req({ resourceRequest: false, path: '/versions', verb: 'get' })).level).toBe('Metadata');
    expect(p.decide(req({ apiGroup: '', resource: 'pods', subresource: 'log' })).level).toBe(
      'RequestResponse',
    );
    expect(p.decide(req({ apiGroup: '', resource: 'pods' })).level).toBe('Metadata');
    // group, namespace, userGroups, subresource wildcard and resourceNames all have to match.
    const scale = { apiGroup: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'dev' };
    expect(p.decide(req(scale)).level).toBe('Request');
    expect(p.decide(req({ ...scale, namespace: 'prod' })).level).toBe('Metadata');
    expect(p.decide(req({ ...scale, user: { username: 'bob', groups: ['team-b'] } })).level).toBe('Metadata');
    expect(p.decide(req({ ...scale, apiGroup: 'batch' })).level).toBe('Metadata');
    const cm = { apiGroup: '', resource: 'configmaps', namespace: 'dev' };
    expect(p.decide(req({ ...cm, name: 'other' })).level).toBe('Metadata');
    const none = new AuditPolicy({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      rules: [{ level: 'Request', users: ['x'] }],
    });
    expect(none.decide(req({})).level).toBe('None');
    // An unauthenticated request matches no rule that names users or groups.
    expect(none.decide(req({ user: undefined })).level).toBe('None');
  });

  it('secrets, configmaps, token reviews and token requests never go above Metadata', () => {
    expect(p.decide(req({ apiGroup: '', resource: 'secrets' })).level).toBe('Metadata');
    expect(
      p.decide(req({ apiGroup: '', resource: 'configmaps', namespace: 'dev', name: 'app-config' })).level,
    ).toBe('Metadata');
    const all = new AuditPolicy({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      rules: [{ level: 'RequestResponse' }],
    });
    expect(all.decide(req({ apiGroup: 'authentication.k8s.io', resource: 'tokenreviews' })).level).toBe(
      'Metadata',
    );
    expect(all.decide(req({ resource: 'serviceaccounts', subresource: 'token' })).level).toBe('Metadata');
    expect(all.decide(req({ resource: 'serviceaccounts' })).level).toBe('RequestResponse');
  });

  it('omitStages: the policy-wide list plus the rule own', () => {
    expect(p.decide(req({ resource: 'nodes' })).omitStages).toEqual(['RequestReceived', 'ResponseStarted']);
    expect(AuditPolicy.metadataForAll().decide(req({})).level).toBe('Metadata');
  });

  it('refuses a malformed policy naming the field', () => {
    expect(() =>
      parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]', 'p.yaml'),
    ).toThrow(/^p\.yaml: rules\.0\.level: /);
    expect(() =>
      parseAuditPolicy(
        'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, usr: [a]}]',
        'p.yaml',
      ),
    ).toThrow(/^p\.yaml: rules\.0: .*usr/);
  });
});
