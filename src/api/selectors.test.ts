import { describe, expect, it } from 'vitest';
import { kindFor } from './registry.ts';
import {
  fieldSelectorFields,
  labelSelectorMatcher,
  labelSelectorToString,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';

const web = { app: 'web', tier: 'frontend', env: 'prod' };
const db = { app: 'db', tier: 'backend' };

describe('parseLabelSelector', () => {
  const match = (sel: string, labels: Record<string, string> | undefined) => parseLabelSelector(sel)(labels);

  it('matches equality and inequality', () => {
    expect(match('app=web', web)).toBe(true);
    expect(match('app==web', web)).toBe(true);
    expect(match('app=web', db)).toBe(false);
    expect(match('app!=web', db)).toBe(true);
    expect(match('env!=prod', db)).toBe(true); // missing label satisfies !=
    expect(match('app!=web', web)).toBe(false);
  });

  it('matches set-based requirements', () => {
    expect(match('tier in (frontend, backend)', web)).toBe(true);
    expect(match('tier in (cache)', web)).toBe(false);
    expect(match('tier notin (frontend)', web)).toBe(false);
    expect(match('tier notin (frontend)', db)).toBe(true);
    expect(match('env notin (prod)', db)).toBe(true);
    expect(match('env', web)).toBe(true);
    expect(match('env', db)).toBe(false);
    expect(match('!env', db)).toBe(true);
    expect(match('! env', web)).toBe(false);
  });

  it('ANDs comma-joined requirements and tolerates whitespace', () => {
    expect(match(' app = web , tier in (frontend),!missing ', web)).toBe(true);
    expect(match('app=web,tier=backend', web)).toBe(false);
    expect(match('example.com/role=x', { 'example.com/role': 'x' })).toBe(true);
    expect(match('a=', { a: '' })).toBe(true);
  });

  it('the empty selector matches everything, including no labels', () => {
    expect(match('', undefined)).toBe(true);
    expect(match('  ', web)).toBe(true);
    expect(match('app', undefined)).toBe(false);
  });

  it.each([
    ['app=web,', /expected a label key, found end of input/],
    ['app in (a,b', /expected ',' or '\)'/],
    ['app in ()', /must not be empty/],
    ['app >= 3', /expected an operator/],
    ['app=web tier=x', /expected ','/],
    ['app=bad value!', /expected ','/],
    ['-bad=x', /invalid label key "-bad"/],
    ['app=-x', /invalid label value "-x"/],
  ])('rejects %j', (sel, err) => {
    expect(() => parseLabelSelector(sel)).toThrow(err);
  });
});

describe('labelSelectorMatcher', () => {
  it('applies matchLabels and matchExpressions', () => {
    const m = labelSelectorMatcher({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['frontend', 'edge'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'env', operator: 'Exists' },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
      ],
    });
    expect(m(web)).toBe(true);
    expect(m({ ...web, canary: 'yes' })).toBe(false);
    expect(m({ ...web, zone: 'b' })).toBe(false);
    expect(m(db)).toBe(false);
  });

  it('an empty selector matches everything; an absent one nothing', () => {
    expect(labelSelectorMatcher({})(db)).toBe(true);
    expect(labelSelectorMatcher(undefined)(db)).toBe(false);
  });

  it('renders the string form, which parses back to the same selector', () => {
    const sel = {
      matchLabels: { tier: 'frontend', app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In' as const, values: ['prod', 'dev'] },
        { key: 'canary', operator: 'DoesNotExist' as const },
      ],
    };
    const s = labelSelectorToString(sel);
    expect(s).toBe('app=web,!canary,env in (dev,prod),tier=frontend');
    expect(parseLabelSelector(s)(web)).toBe(labelSelectorMatcher(sel)(web));
    expect(parseLabelSelector(s)(db)).toBe(false);
  });
});

describe('parseFieldSelector', () => {
  const pod = {
    metadata: { name: 'p1', namespace: 'default' },
    spec: { nodeName: 'n1' },
    status: { phase: 'Running' },
  };
  const podFields = fieldSelectorFields('Pod');

  it('matches =, == and != on dotted paths', () => {
    expect(parseFieldSelector('spec.nodeName=n1', podFields)(pod)).toBe(true);
    expect(parseFieldSelector('spec.nodeName==n2', podFields)(pod)).toBe(false);
    expect(parseFieldSelector('status.phase!=Failed,metadata.namespace=default', podFields)(pod)).toBe(true);
    expect(parseFieldSelector('metadata.name=p1,status.phase=Pending', podFields)(pod)).toBe(false);
  });

  it('treats a missing field as the empty string (unscheduled pods: spec.nodeName=)', () => {
    expect(parseFieldSelector('spec.nodeName=', podFields)({ metadata: { name: 'x' }, spec: {} })).toBe(true);
    expect(parseFieldSelector('spec.nodeName=', podFields)(pod)).toBe(false);
  });

  it('supports escaped commas and equals signs in values', () => {
    const obj = { metadata: { name: 'a,b=c' } };
    expect(parseFieldSelector('metadata.name=a\\,b\\=c', ['metadata.name'])(obj)).toBe(true);
  });

  it('rejects unsupported fields, naming the allowed ones', () => {
    expect(() => parseFieldSelector('spec.nodeName=n1', fieldSelectorFields('ConfigMap'))).toThrow(
      'field label not supported: "spec.nodeName" (supported fields: metadata.name, metadata.namespace)',
    );
    expect(() => parseFieldSelector('metadata.name', podFields)).toThrow(/is not field=value/);
  });

  it('lists fields per kind', () => {
    expect(fieldSelectorFields(kindFor('v1', 'Pod')!)).toEqual([
      'metadata.name',
      'metadata.namespace',
      'spec.nodeName',
      'status.phase',
      'spec.priorityClassName',
      'status.nominatedNodeName',
    ]);
    expect(fieldSelectorFields('events')).toContain('involvedObject.uid');
    expect(fieldSelectorFields('no')).toContain('spec.unschedulable');
    expect(fieldSelectorFields(kindFor('apps/v1', 'Deployment')!)).toEqual([
      'metadata.name',
      'metadata.namespace',
    ]);
  });
});
