import { describe, expect, it } from 'vitest';
import { columnsFor, rowCells } from '../columns.ts';
import { endpointReady, endpointServing } from './endpointslice.ts';
import { invalid, valid } from './testing.ts';

const slice = (over: Record<string, unknown> = {}) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc12', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    {
      addresses: ['10.88.0.5'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'node-1',
      zone: 'z1',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'u1' },
    },
  ],
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  ...over,
});

describe('EndpointSlice', () => {
  it('accepts what the endpoints controller writes', () => {
    const s = valid(slice());
    expect(s.endpoints[0].targetRef.name).toBe('web-1');
    expect(valid(slice({ ports: [{ port: 80 }] })).ports[0].protocol).toBe('TCP');
    expect(valid(slice({ endpoints: undefined })).endpoints).toEqual([]);
  });

  it('checks addresses against addressType', () => {
    expect(invalid(slice({ addressType: 'IPv6' }))[0]).toMatchObject({
      field: 'endpoints[0].addresses[0]',
      message: 'Invalid value: "10.88.0.5": must be a valid IPv6 address',
    });
    expect(invalid(slice({ endpoints: [{ addresses: [] }] }))[0].field).toBe('endpoints[0].addresses');
    expect(invalid(slice({ addressType: 'IPX' }))[0]).toMatchObject({
      field: 'addressType',
      reason: 'FieldValueNotSupported',
    });
    expect(
      valid(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] })).addressType,
    ).toBe('FQDN');
  });

  it('refuses duplicate port names and ports out of range', () => {
    expect(
      invalid(
        slice({
          ports: [
            { name: 'a', port: 1 },
            { name: 'a', port: 2 },
          ],
        }),
      )[0],
    ).toMatchObject({
      field: 'ports[1].name',
      reason: 'FieldValueDuplicate',
    });
    expect(invalid(slice({ ports: [{ port: 0 }] }))[0].field).toBe('ports[0].port');
  });

  it('reads conditions with nil meaning ready, as Kubernetes does', () => {
    expect(endpointReady({ addresses: ['1.2.3.4'] })).toBe(true);
    expect(endpointReady({ addresses: ['1.2.3.4'], conditions: { ready: false } })).toBe(false);
    expect(
      endpointServing({
        addresses: ['1.2.3.4'],
        conditions: { ready: false, serving: true, terminating: true },
      }),
    ).toBe(true);
  });

  it('prints kubectl columns', () => {
    const now = Date.parse('2026-01-01T00:00:30Z');
    const obj = {
      ...valid(
        slice({
          endpoints: ['10.88.0.5', '10.88.0.6', '10.88.0.7', '10.88.0.8'].map((a) => ({ addresses: [a] })),
        }),
      ),
      metadata: { name: 'web-abc12', creationTimestamp: '2026-01-01T00:00:00Z' },
    };
    expect(rowCells(columnsFor('EndpointSlice'), obj, now)).toEqual([
      'web-abc12',
      'IPv4',
      '8080',
      '10.88.0.5,10.88.0.6,10.88.0.7 + 1 more...',
      '30s',
    ]);
    expect(
      rowCells(columnsFor('EndpointSlice'), { ...obj, endpoints: [], ports: [] }, now).slice(2, 4),
    ).toEqual(['<unset>', '<unset>']);
  });
});
