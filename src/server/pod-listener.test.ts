// The control plane as pods see it: the default/kubernetes Service (first service address, port 443)
// whose hand-kept EndpointSlice points at a listener on the machine's own address (not loopback, which
// pods cannot reach) serving the same API, and the kube-system/kube-dns Service on the tenth address.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpsAgent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { startControlPlane, type ControlPlane } from '../node/assemble-control-plane.ts';
import { advertiseAddress } from './pod-listener.ts';

const address = advertiseAddress();
if (!address)
  console.warn('skipping the pod listener tests: this machine has no IPv4 address besides loopback');

let dir: string;
let cp: ControlPlane;

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: new HttpsAgent({ ca }), timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!address)('the API for pods', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-podlistener-'));
    cp = await startControlPlane({ dataDir: dir, port: 0, logger: false, serviceCidr: '10.123.0.0/16' });
  });
  afterAll(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps default/kubernetes pointing at a listener on the machine address that serves the API', async () => {
    const svc = await cp.objects.get(kindFor('v1', 'Service')!, 'default', 'kubernetes');
    expect(svc.spec).toMatchObject({ clusterIP: '10.123.0.1', ports: [{ name: 'https', port: 443 }] });
    const slice = await cp.objects.get(
      kindFor('discovery.k8s.io/v1', 'EndpointSlice')!,
      'default',
      'kubernetes',
    );
    expect(slice.endpoints[0].addresses).toEqual([address]);
    const port = slice.ports[0].port;
    expect(svc.spec.ports[0].targetPort).toBe(port);
    // The same API, verified with the cluster CA under the machine's address.
    const res = await get(`https://${address}:${port}/version`, cp.pki!.ca.cert);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).gitVersion).toMatch(/^v1\./);
    // And authenticated like the loopback listener: no credentials, no pods.
    expect((await get(`https://${address}:${port}/api/v1/pods`, cp.pki!.ca.cert)).status).toBe(401);
  });

  it('creates kube-system/kube-dns on the tenth address, kept on this node', async () => {
    const dns = await cp.objects.get(kindFor('v1', 'Service')!, 'kube-system', 'kube-dns');
    expect(dns.spec).toMatchObject({ clusterIP: '10.123.0.10', internalTrafficPolicy: 'Local' });
    expect(dns.spec.ports.map((p: any) => `${p.port}/${p.protocol}`)).toEqual(['53/UDP', '53/TCP']);
  });

  it('the serving certificate names the kubernetes Service address', async () => {
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(cp.pki!.serving.cert);
    expect(cert.subjectAltName).toContain('IP Address:10.123.0.1');
  });
});

describe('--advertise-address', () => {
  it('none: no listener for pods and no kubernetes endpoint; a bad value is refused before anything starts', async () => {
    const d = mkdtempSync(join(tmpdir(), 'strata-noadvertise-'));
    try {
      await expect(
        startControlPlane({ dataDir: join(d, 'bad'), port: 0, logger: false, advertiseAddress: 'my-host' }),
      ).rejects.toThrow('--advertise-address my-host: expected an IPv4 address of this machine, or none');
      const loopbackOnly = await startControlPlane({
        dataDir: join(d, 'cp'),
        port: 0,
        logger: false,
        advertiseAddress: 'none',
      });
      try {
        expect(
          await loopbackOnly.objects.get(kindFor('v1', 'Service')!, 'default', 'kubernetes'),
        ).toBeUndefined();
      } finally {
        await loopbackOnly.stop();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
