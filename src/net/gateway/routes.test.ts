import { describe, expect, it } from 'vitest';
import type { Ingress } from '../../api/index.ts';
import { IngressRouter, normalizeHost } from './routes.ts';

const svc = (name: string, port: number | string = 80) => ({
  service: { name, port: typeof port === 'number' ? { number: port } : { name: port } },
});

function ingress(name: string, spec: Ingress['spec'], created = '2026-01-01T00:00:00Z'): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'shop', creationTimestamp: created },
    spec,
  };
}

describe('IngressRouter', () => {
  const router = new IngressRouter([
    ingress('main', {
      defaultBackend: svc('fallback'),
      tls: [{ hosts: ['*.example.com'], secretName: 'wild' }, { secretName: 'own' }],
      rules: [
        {
          host: 'a.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: svc('root') },
              { path: '/api', pathType: 'Prefix', backend: svc('api', 'http') },
              { path: '/api/v1', pathType: 'Exact', backend: svc('exact') },
            ],
          },
        },
        { host: '*.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('wild') }] } },
        { http: { paths: [{ path: '/any', pathType: 'ImplementationSpecific', backend: svc('anyhost') }] } },
      ],
    }),
    ingress(
      'later',
      {
        rules: [
          {
            host: 'a.example.com',
            http: { paths: [{ path: '/api', pathType: 'Prefix', backend: svc('later') }] },
          },
        ],
      },
      '2026-02-01T00:00:00Z',
    ),
  ]);
  const to = (host: string, path: string) => router.match(host, path)?.service;

  it('matches exact hosts, then wildcards (one label), then host-less rules, then the default backend', () => {
    expect(to('a.example.com', '/')).toBe('root');
    expect(to('A.Example.com:8443', '/x')).toBe('root');
    expect(to('b.example.com', '/x')).toBe('wild');
    expect(to('c.b.example.com', '/any/thing')).toBe('anyhost');
    expect(to('other.org', '/nothing')).toBe('fallback');
  });

  it('matches Prefix by path element, Exact as is; the longest wins, Exact over Prefix, older Ingress on ties', () => {
    expect(to('a.example.com', '/api')).toBe('api');
    expect(to('a.example.com', '/api/')).toBe('api');
    expect(to('a.example.com', '/api/v2?x=1')).toBe('api');
    expect(to('a.example.com', '/apiary')).toBe('root');
    expect(to('a.example.com', '/api/v1')).toBe('exact');
    expect(to('a.example.com', '/api/v1/')).toBe('api');
    expect(router.match('a.example.com', '/api')?.port).toBe('http');
  });

  it('finds TLS Secrets by server name: exact entries, wildcards, and hosts of a tls entry without hosts', () => {
    expect(router.tlsSecret('a.example.com')).toEqual({ namespace: 'shop', name: 'own' });
    expect(router.tlsSecret('b.example.com')).toEqual({ namespace: 'shop', name: 'wild' });
    expect(router.tlsSecret('x.y.example.com')).toBeUndefined();
    expect(normalizeHost('[::1]:80')).toBe('[::1]');
    expect(normalizeHost('Example.COM.')).toBe('example.com');
  });
});
