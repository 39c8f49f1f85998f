import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { resolveKind } from '../registry.ts';
import { policyAffects } from './networkpolicy.ts';
import { invalid, valid } from './testing.ts';

const np = (spec: Record<string, unknown>, name = 'deny') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'default' },
  spec,
});

describe('NetworkPolicy', () => {
  it('is served as networkpolicies / netpol', () => {
    expect(resolveKind('netpol')).toMatchObject({ group: 'networking.k8s.io', plural: 'networkpolicies' });
  });

  it('defaults like kube-apiserver: an empty podSelector, Ingress, Egress only with egress rules, TCP', () => {
    const deny = valid(np({}));
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    const both = valid(np({ egress: [{ ports: [{ port: 53 }] }] }));
    expect(both.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(both.spec.egress[0].ports[0]).toEqual({ port: 53, protocol: 'TCP' });
    const egressOnly = valid(np({ policyTypes: ['Egress'] }));
    expect(egressOnly.spec.policyTypes).toEqual(['Egress']);
    expect(policyAffects(egressOnly, 'Ingress')).toBe(false);
    expect(policyAffects(egressOnly, 'Egress')).toBe(true);
  });

  it('accepts every peer and port form', () => {
    const ok = valid(
      np({
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { role: 'client' } } },
              { namespaceSelector: { matchLabels: { team: 'a' } } },
              {
                namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] },
                podSelector: {},
              },
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
            ],
            ports: [{ port: 5432 }, { port: 'metrics', protocol: 'TCP' }, { port: 8000, endPort: 8100 }],
          },
        ],
      }),
    );
    expect(ok.spec.ingress[0].from).toHaveLength(4);
  });

  it('names the field of bad input', () => {
    expect(invalid(np({ ingress: [{ from: [{}] }] }))[0]).toMatchObject({
      field: 'spec.ingress[0].from[0]',
      message: expect.stringContaining('must specify a peer'),
    });
    expect(
      invalid(np({ ingress: [{ from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }] }))[0],
    ).toMatchObject({ field: 'spec.ingress[0].from[0]', message: expect.stringContaining('ipBlock') });
    expect(invalid(np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0' } }] }] }))[0]).toMatchObject({
      field: 'spec.egress[0].to[0].ipBlock.cidr',
      message: expect.stringContaining('must be a valid CIDR'),
    });
    expect(
      invalid(np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.2.0.0/24'] } }] }] }))[0],
    ).toMatchObject({
      field: 'spec.egress[0].to[0].ipBlock.except[0]',
      message: expect.stringContaining('strict subset'),
    });
    expect(
      invalid(np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }] }] }))[0]
        .field,
    ).toBe('spec.egress[0].to[0].ipBlock.except[0]');
    expect(invalid(np({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }))[0]).toMatchObject({
      field: 'spec.ingress[0].ports[0].endPort',
      message: expect.stringContaining('non-numeric'),
    });
    expect(invalid(np({ ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }))[0]).toMatchObject({
      field: 'spec.ingress[0].ports[0].endPort',
      message: expect.stringContaining('greater than or equal'),
    });
    expect(invalid(np({ ingress: [{ ports: [{ endPort: 80 }] }] }))[0].field).toBe(
      'spec.ingress[0].ports[0].endPort',
    );
    expect(invalid(np({ ingress: [{ ports: [{ port: 70000 }] }] }))[0].field).toBe(
      'spec.ingress[0].ports[0].port',
    );
    expect(invalid(np({ ingress: [{ ports: [{ port: 80, protocol: 'ICMP' }] }] }))[0].field).toBe(
      'spec.ingress[0].ports[0].protocol',
    );
    expect(invalid(np({ policyTypes: ['Ingress', 'Ingress'] }))[0]).toMatchObject({
      field: 'spec.policyTypes[1]',
      reason: 'FieldValueDuplicate',
    });
    expect(invalid(np({ policyTypes: ['Sideways'] }))[0].field).toBe('spec.policyTypes[0]');
    expect(invalid(np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }))[0].field).toBe(
      'spec.podSelector.matchExpressions[0].values',
    );
  });

  it('prints kubectl columns', () => {
    const cols = columnsFor('NetworkPolicy')!;
    expect(cols.map((c) => c.name)).toEqual(['Name', 'Pod-Selector', 'Age']);
    const obj = valid(np({ podSelector: { matchLabels: { app: 'db' } } }));
    expect(rowCells(cols, obj).slice(0, 2)).toEqual(['deny', 'app=db']);
    expect(rowCells(cols, valid(np({}))).slice(0, 2)).toEqual(['deny', '<none>']);
  });
});
