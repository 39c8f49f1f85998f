import { describe, expect, it } from 'vitest';
import { type Service, validateObject } from '../../api/index.ts';
import { serviceEnv } from './service-env.ts';

function svc(namespace: string, name: string, spec: Record<string, unknown>): Service {
  const r = validateObject({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.causes));
  return r.object as Service;
}

const kubernetes = svc('default', 'kubernetes', {
  clusterIP: '10.96.0.1',
  ports: [{ name: 'https', port: 443, targetPort: 6443 }],
});
const web = svc('shop', 'web-front', {
  clusterIP: '10.96.0.11',
  ports: [
    { name: 'http', port: 80 },
    { name: 'dns', port: 53, protocol: 'UDP' },
  ],
});
const headless = svc('shop', 'db', { clusterIP: 'None', ports: [{ port: 5432 }] });
const external = svc('shop', 'ext', { type: 'ExternalName', externalName: 'example.com' });
const elsewhere = svc('other', 'api', { clusterIP: '10.96.0.12', ports: [{ port: 80 }] });

describe('serviceEnv (the kubelet`s Service variables)', () => {
  it('gives the API Service to every pod and Docker-link variables of its namespace`s Services', () => {
    const env = serviceEnv([kubernetes, web, headless, external, elsewhere], 'shop');
    expect(env).toEqual({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
      WEB_FRONT_SERVICE_HOST: '10.96.0.11',
      WEB_FRONT_SERVICE_PORT: '80',
      WEB_FRONT_SERVICE_PORT_HTTP: '80',
      WEB_FRONT_SERVICE_PORT_DNS: '53',
      WEB_FRONT_PORT: 'tcp://10.96.0.11:80',
      WEB_FRONT_PORT_80_TCP: 'tcp://10.96.0.11:80',
      WEB_FRONT_PORT_80_TCP_PROTO: 'tcp',
      WEB_FRONT_PORT_80_TCP_PORT: '80',
      WEB_FRONT_PORT_80_TCP_ADDR: '10.96.0.11',
      WEB_FRONT_PORT_53_UDP: 'udp://10.96.0.11:53',
      WEB_FRONT_PORT_53_UDP_PROTO: 'udp',
      WEB_FRONT_PORT_53_UDP_PORT: '53',
      WEB_FRONT_PORT_53_UDP_ADDR: '10.96.0.11',
    });
  });

  it('with enableServiceLinks false, only the API Service', () => {
    const env = serviceEnv([kubernetes, web], 'shop', false);
    expect(Object.keys(env).every((k) => k.startsWith('KUBERNETES_'))).toBe(true);
    expect(env.KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
  });

  it('a Service named kubernetes in the pod`s namespace wins, as in the kubelet', () => {
    const own = svc('shop', 'kubernetes', { clusterIP: '10.96.0.99', ports: [{ port: 80 }] });
    expect(serviceEnv([kubernetes, own], 'shop').KUBERNETES_SERVICE_HOST).toBe('10.96.0.99');
    expect(serviceEnv([kubernetes, own], 'shop', false).KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
  });
});
