import { describe, expect, it } from 'vitest';
import type { PolicyRule } from '../../api/kinds/rbac.ts';
import { describeRule, uncoveredRules } from './escalation.ts';

describe('escalation: does what one holds cover what one grants?', () => {
  const edit: PolicyRule[] = [
    {
      verbs: ['get', 'list', 'watch', 'create', 'delete'],
      apiGroups: [''],
      resources: ['pods', 'configmaps'],
    },
    { verbs: ['get'], nonResourceURLs: ['/apis/*'] },
  ];

  it('covers a subset', () => {
    expect(
      uncoveredRules(edit, [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods'] }]),
    ).toEqual([]);
    expect(uncoveredRules(edit, [{ verbs: ['get'], nonResourceURLs: ['/apis/apps'] }])).toEqual([]);
    // Named objects are covered by a rule without names.
    expect(
      uncoveredRules(edit, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }]),
    ).toEqual([]);
  });

  it('names exactly what is missing', () => {
    const missing = uncoveredRules(edit, [
      { verbs: ['get', 'update'], apiGroups: ['', 'apps'], resources: ['pods'] },
    ]);
    expect(missing.map(describeRule)).toEqual([
      '{APIGroups:["apps"], Resources:["pods"], Verbs:["get"]}',
      '{APIGroups:[""], Resources:["pods"], Verbs:["update"]}',
      '{APIGroups:["apps"], Resources:["pods"], Verbs:["update"]}',
    ]);
  });

  it('does not let a narrower owner grant wildcards, subresources or more names', () => {
    expect(uncoveredRules(edit, [{ verbs: ['*'], apiGroups: [''], resources: ['pods'] }])).toHaveLength(1);
    expect(
      uncoveredRules(edit, [{ verbs: ['get'], apiGroups: [''], resources: ['pods/exec'] }]),
    ).toHaveLength(1);
    const named: PolicyRule[] = [
      { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['a'] },
    ];
    expect(uncoveredRules(named, [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }])).toHaveLength(
      1,
    );
    expect(
      uncoveredRules(named, [
        { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['a'] },
      ]),
    ).toEqual([]);
  });

  it('lets */sub and * owners cover subresources', () => {
    const owner: PolicyRule[] = [{ verbs: ['update'], apiGroups: ['apps'], resources: ['*/scale'] }];
    expect(
      uncoveredRules(owner, [{ verbs: ['update'], apiGroups: ['apps'], resources: ['deployments/scale'] }]),
    ).toEqual([]);
    const admin: PolicyRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];
    expect(uncoveredRules(admin, [{ verbs: ['escalate'], apiGroups: ['x'], resources: ['y/z'] }])).toEqual(
      [],
    );
  });
});
