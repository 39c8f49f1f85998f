import { describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { matchResources, type MatchRequest } from './matching.ts';

const pods = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;
const namespaces = kindFor('v1', 'Namespace')!;

function req(over: Partial<MatchRequest> = {}): MatchRequest {
  return {
    operation: 'CREATE',
    kind: pods,
    subresource: '',
    name: 'p',
    object: { metadata: { labels: { app: 'web' } } },
    oldObject: null,
    namespaceLabels: { tenancy: 'untrusted' },
    ...over,
  };
}

const podRule = {
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['CREATE' as const, 'UPDATE' as const],
  resources: ['pods'],
};

describe('matchResources', () => {
  it('resource rules: operation, group, version, resource, wildcards', () => {
    expect(matchResources({ resourceRules: [podRule] }, req(), true)).toBe(true);
    expect(matchResources({ resourceRules: [podRule] }, req({ operation: 'DELETE' }), true)).toBe(false);
    expect(matchResources({ resourceRules: [podRule] }, req({ kind: deployments }), true)).toBe(false);
    const any = { apiGroups: ['*'], apiVersions: ['*'], operations: ['*' as const], resources: ['*'] };
    expect(matchResources({ resourceRules: [any] }, req({ kind: deployments }), true)).toBe(true);
    expect(matchResources({ resourceRules: [any] }, req({ subresource: 'status' }), true)).toBe(false);
    expect(
      matchResources(
        { resourceRules: [{ ...any, resources: ['*/*'] }] },
        req({ subresource: 'status' }),
        true,
      ),
    ).toBe(true);
    expect(matchResources({ resourceRules: [{ ...podRule, resourceNames: ['other'] }] }, req(), true)).toBe(
      false,
    );
    expect(matchResources({ resourceRules: [{ ...podRule, scope: 'Cluster' }] }, req(), true)).toBe(false);
  });

  it('exclude rules win; a policy without rules matches nothing, a binding without rules narrows by selectors', () => {
    expect(matchResources({ resourceRules: [podRule], excludeResourceRules: [podRule] }, req(), true)).toBe(
      false,
    );
    expect(matchResources({}, req(), true)).toBe(false);
    expect(matchResources({}, req(), false)).toBe(true);
    expect(matchResources(undefined, req(), false)).toBe(true);
  });

  it('namespace and object selectors', () => {
    const untrusted = { matchLabels: { tenancy: 'untrusted' } };
    expect(matchResources({ resourceRules: [podRule], namespaceSelector: untrusted }, req(), true)).toBe(
      true,
    );
    expect(
      matchResources(
        { resourceRules: [podRule], namespaceSelector: untrusted },
        req({ namespaceLabels: {} }),
        true,
      ),
    ).toBe(false);
    expect(matchResources({ objectSelector: { matchLabels: { app: 'db' } } }, req(), false)).toBe(false);
    expect(
      matchResources(
        { objectSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] } },
        req(),
        false,
      ),
    ).toBe(true);
    // A Namespace is matched by the namespace selector on its own labels.
    const nsRule = {
      apiGroups: [''],
      apiVersions: ['v1'],
      operations: ['CREATE' as const],
      resources: ['namespaces'],
    };
    const ns = req({
      kind: namespaces,
      object: { metadata: { labels: { tenancy: 'untrusted' } } },
      namespaceLabels: undefined,
    });
    expect(matchResources({ resourceRules: [nsRule], namespaceSelector: untrusted }, ns, true)).toBe(true);
  });
});
