// A node's identity against a real control plane (HTTPS, CSR controllers, bootstrap tokens, the Node
// authorizer): join with a token, reuse the kept certificate, rotate under the current identity.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { startControlPlane, type ControlPlane } from './assemble-control-plane.ts';
import { Client } from '../client/client.ts';
import {
  CertificateRotator,
  NODE_CLIENT_FILE,
  createJoinToken,
  loadOrJoin,
  storedNodeCertificate,
} from './node-identity.ts';

let dir: string;
let cp: ControlPlane;
let admin: Client;
const log = { info: () => {}, warn: () => {} };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-node-identity-'));
  cp = await startControlPlane({
    dataDir: join(dir, 'server'),
    port: 0,
    logger: false,
    advertiseAddress: 'none',
  });
  admin = new Client({ server: cp.url, token: cp.adminToken, tls: { ca: cp.pki!.ca.cert } });
}, 60_000);

afterAll(async () => {
  admin?.close();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const whoami = (c: Client) =>
  c.json('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });

describe('node identity', () => {
  it('joins with a token, keeps the certificate 0600, and reuses it without the token', async () => {
    const nodeDir = join(dir, 'n1');
    const ca = cp.pki!.ca.cert;
    await expect(loadOrJoin({ server: cp.url, ca, dataDir: nodeDir, nodeName: 'n1', log })).rejects.toThrow(
      /join with --token/,
    );
    const token = await createJoinToken(admin, 600, 'test');
    const kp = await loadOrJoin({ server: cp.url, ca, dataDir: nodeDir, nodeName: 'n1', token, log });
    expect(statSync(join(nodeDir, NODE_CLIENT_FILE)).mode & 0o777).toBe(0o600);
    const client = new Client({ server: cp.url, tls: { ca, cert: kp.cert, key: kp.key } });
    expect((await whoami(client)).status.userInfo.username).toBe('system:node:n1');
    client.close();
    // Again: no token needed, the same certificate.
    const again = await loadOrJoin({ server: cp.url, ca, dataDir: nodeDir, nodeName: 'n1', log });
    expect(again.cert).toBe(kp.cert);
    // Not for another node name.
    expect(storedNodeCertificate(nodeDir, ca, 'n2')).toBeUndefined();
  });

  it('a refused join token says so', async () => {
    await expect(
      loadOrJoin({
        server: cp.url,
        ca: cp.pki!.ca.cert,
        dataDir: join(dir, 'n9'),
        nodeName: 'n9',
        token: 'abcdef.0123456789abcdef',
        log,
      }),
    ).rejects.toThrow(/join token was refused/);
  });

  it('rotates: a new certificate requested under the current one, written and used', async () => {
    const nodeDir = join(dir, 'n2');
    const ca = cp.pki!.ca.cert;
    const token = await createJoinToken(admin, 600, 'test');
    const first = await loadOrJoin({ server: cp.url, ca, dataDir: nodeDir, nodeName: 'n2', token, log });
    // The token is gone before rotation: the node renews with its own identity.
    await admin.delete(kindFor('v1', 'Secret')!, 'kube-system', `bootstrap-token-${token.slice(0, 6)}`);
    const client = new Client({ server: cp.url, tls: { ca, cert: first.cert, key: first.key } });
    const rotated = await new Promise<{ cert: string }>((resolve) => {
      const r = new CertificateRotator({
        client,
        current: first,
        dataDir: nodeDir,
        nodeName: 'n2',
        log,
        rotationPoint: () => 0, // due at once
        onRotated: (kp) => {
          r.stop();
          resolve(kp);
        },
      });
      r.start();
    });
    expect(rotated.cert).not.toBe(first.cert);
    expect(readFileSync(join(nodeDir, NODE_CLIENT_FILE), 'utf8')).toContain(rotated.cert.trim());
    expect(client.transport.tls.cert).toBe(rotated.cert);
    expect((await whoami(client)).status.userInfo.username).toBe('system:node:n2');
    const csrs = await admin.json('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests');
    const requesters = csrs.items.map((c: any) => c.spec.username);
    expect(requesters).toContain('system:node:n2');
    client.close();
  });
});
