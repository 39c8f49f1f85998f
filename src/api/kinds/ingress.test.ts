import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { resolveKind } from '../registry.ts';
import { strataIngressClass } from './ingressclass.ts';
import { invalid, valid } from './testing.ts';

const ing = (spec: Record<string, unknown>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', namespace: 'default' },
  spec,
});
const backend = (name: string, port: Record<string, unknown> = { number: 80 }) => ({
  service: { name, port },
});
const path = (p: Record<string, unknown>) => ({ rules: [{ host: 'a.example.com', http: { paths: [p] } }] });

describe('Ingress', () => {
  it('accepts host and path rules, a default backend and TLS; `ing` names it', () => {
    const i = valid(
      ing({
        ingressClassName: 'strata',
        defaultBackend: backend('fallback', { name: 'http' }),
        tls: [{ hosts: ['a.example.com', '*.b.example.com'], secretName: 'a-tls' }],
        rules: [
          {
            host: 'a.example.com',
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('a') }] },
          },
          {
            host: '*.b.example.com',
            http: { paths: [{ path: '/x', pathType: 'Exact', backend: backend('b') }] },
          },
          { http: { paths: [{ pathType: 'ImplementationSpecific', backend: backend('c') }] } },
        ],
      }),
    );
    expect(i.spec.rules).toHaveLength(3);
    expect(resolveKind('ing')?.kind).toBe('Ingress');
    expect(resolveKind('ingressclasses')?.namespaced).toBe(false);
    const cols = columnsFor('Ingress')!;
    expect(
      rowCells(cols, {
        ...i,
        metadata: { ...i.metadata, creationTimestamp: new Date().toISOString() },
      }).slice(0, 5),
    ).toEqual(['web', 'strata', 'a.example.com,*.b.example.com,*', '', '80, 443']);
  });

  it('refuses bad input naming the field, with kube-apiserver wording', () => {
    expect(invalid(ing({}))[0]).toMatchObject({
      field: 'spec.rules',
      message: expect.stringContaining('either `defaultBackend` or `rules` must be specified'),
    });
    expect(invalid(ing(path({ path: '/', backend: backend('a') })))[0]).toMatchObject({
      field: 'spec.rules[0].http.paths[0].pathType',
      message: 'Required value: pathType must be specified',
    });
    expect(invalid(ing(path({ path: 'x', pathType: 'Prefix', backend: backend('a') })))[0]).toMatchObject({
      field: 'spec.rules[0].http.paths[0].path',
      message: expect.stringContaining('must be an absolute path'),
    });
    expect(
      invalid(ing(path({ path: '/a//b', pathType: 'Exact', backend: backend('a') })))[0].message,
    ).toContain("must not contain '//'");
    expect(invalid(ing(path({ path: '/', pathType: 'Regex', backend: backend('a') })))[0].field).toBe(
      'spec.rules[0].http.paths[0].pathType',
    );
    expect(invalid(ing(path({ path: '/', pathType: 'Prefix', backend: backend('a', {}) })))[0]).toMatchObject(
      {
        field: 'spec.rules[0].http.paths[0].backend.service.port',
        message: expect.stringContaining('port name or number is required'),
      },
    );
    expect(
      invalid(
        ing(path({ path: '/', pathType: 'Prefix', backend: backend('a', { name: 'http', number: 80 }) })),
      )[0].message,
    ).toContain('cannot set both port name & port number');
    expect(invalid(ing(path({ path: '/', pathType: 'Prefix', backend: {} })))[0].message).toContain(
      'resource or service backend is required',
    );
    expect(invalid(ing({ rules: [{ host: '10.0.0.1' }] }))[0]).toMatchObject({
      field: 'spec.rules[0].host',
      message: expect.stringContaining('must be a DNS name, not an IP address'),
    });
    expect(invalid(ing({ defaultBackend: backend('a'), tls: [{ hosts: ['Bad_Host'] }] }))[0].field).toBe(
      'spec.tls[0].hosts[0]',
    );
  });
});

describe('IngressClass', () => {
  it('is cluster-scoped, needs a domain-prefixed controller; the strata class is the default', () => {
    const c = valid(strataIngressClass());
    expect(c.metadata.annotations['ingressclass.kubernetes.io/is-default-class']).toBe('true');
    const bad = (controller?: string) =>
      invalid({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'x' },
        spec: { controller },
      });
    expect(bad()[0]).toMatchObject({ field: 'spec.controller', message: 'Required value' });
    expect(bad('nginx')[0].message).toContain('must be a domain-prefixed path');
  });
});
