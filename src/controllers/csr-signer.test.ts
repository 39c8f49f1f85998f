// The CSR approver and signer on a real store, with the real request parser and the cluster CA's signer.
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { createCA, type KeyPair } from '../auth/pki.ts';
import { createClientCsr, parseCsr, signCsr } from '../auth/bootstrap/csr.ts';
import { csrCreateAdmission, csrPrepareUpdate } from '../auth/bootstrap/csr-admission.ts';
import type { ObjectStore } from '../store/objects.ts';
import { CsrApprover } from './csr-approver.ts';
import { CsrSigner } from './csr-signer.ts';
import { type TestObjects, openTestObjects, until } from './testutil.ts';

const CSR = kindFor('certificates.k8s.io/v1', 'CertificateSigningRequest')!;
let t: TestObjects;
let objects: ObjectStore;
let ca: KeyPair;
let approver: CsrApprover;
let signer: CsrSigner;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  objects.addCreateHook(csrCreateAdmission);
  objects.addPrepareUpdateHook(csrPrepareUpdate);
  ca ??= await createCA('test-ca');
  approver = new CsrApprover({ objects, parse: parseCsr });
  signer = new CsrSigner({ objects, parse: parseCsr, sign: (r, o) => signCsr(ca, r, o) });
  await approver.start();
  await signer.start();
});

afterEach(async () => {
  await approver.stop();
  await signer.stop();
  await t.close();
});

const bootstrapper = {
  username: 'system:bootstrap:abcdef',
  groups: ['system:bootstrappers', 'system:authenticated'],
};
const node = (name: string) => ({
  username: `system:node:${name}`,
  groups: ['system:nodes', 'system:authenticated'],
});

async function request(
  name: string,
  cn: string,
  user: { username: string; groups: string[] } | undefined,
  extra: { orgs?: string[]; usages?: string[]; expirationSeconds?: number } = {},
) {
  const { csr } = await createClientCsr(cn, extra.orgs ?? ['system:nodes']);
  return objects.create(
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: {
        request: Buffer.from(csr).toString('base64'),
        signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
        usages: extra.usages ?? ['digital signature', 'client auth'],
        ...(extra.expirationSeconds ? { expirationSeconds: extra.expirationSeconds } : {}),
        // What a client claims is replaced by who it is.
        username: 'someone-else',
        groups: ['system:masters'],
      },
    },
    undefined,
    { user },
  );
}

const issued = (name: string) =>
  until(async () => (await objects.get(CSR, undefined, name))?.status?.certificate, `${name} issued`);

async function settled(): Promise<any> {
  await approver.whenIdle();
  await signer.whenIdle();
}

describe('node client certificates', () => {
  it('approves and signs a joining node’s request made with a bootstrap token, for the time asked', async () => {
    const created = await request('node-csr-1', 'system:node:n1', bootstrapper, { expirationSeconds: 3600 });
    expect(created.spec.username).toBe('system:bootstrap:abcdef');
    expect(created.spec.groups).toEqual(bootstrapper.groups);
    const pem = Buffer.from(await issued('node-csr-1'), 'base64').toString('utf8');
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe('CN=system:node:n1\nO=system:nodes');
    expect(cert.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    // An hour, plus the five minutes the signer backdates by.
    expect(lifetime).toBe(3600_000 + 300_000);
    const csr = await objects.get(CSR, undefined, 'node-csr-1');
    expect(csr.status.conditions.map((c: any) => [c.type, c.reason])).toEqual([['Approved', 'AutoApproved']]);
  });

  it('approves a node renewing its own identity, not one asking for another node', async () => {
    await request('renew-own', 'system:node:n1', node('n1'));
    await issued('renew-own');
    await request('renew-other', 'system:node:n2', node('n1'));
    await settled();
    const other = await objects.get(CSR, undefined, 'renew-other');
    expect(other.status?.conditions ?? []).toEqual([]);
    expect(other.status?.certificate).toBeUndefined();
  });

  it('leaves other requests to a human: other users, other identities, other usages', async () => {
    await request('from-user', 'system:node:n1', { username: 'alice', groups: ['system:authenticated'] });
    await request('admin-identity', 'system:node:n1', bootstrapper, { orgs: ['system:masters'] });
    await request('not-a-node', 'alice', bootstrapper);
    await request('server-usage', 'system:node:n1', bootstrapper, {
      usages: ['digital signature', 'server auth'],
    });
    await settled();
    for (const name of ['from-user', 'admin-identity', 'not-a-node', 'server-usage']) {
      const c = await objects.get(CSR, undefined, name);
      expect(c.status?.conditions ?? [], name).toEqual([]);
      expect(c.status?.certificate, name).toBeUndefined();
    }
  });

  it('will not sign a request for another identity even when a human approved it: Failed', async () => {
    await request('approved-admin', 'admin', bootstrapper, { orgs: ['system:masters'] });
    await objects.mutate(
      CSR,
      undefined,
      'approved-admin',
      (c) => {
        c.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove' }] };
        return c;
      },
      'status',
    );
    const failed = await until(async () => {
      const c = await objects.get(CSR, undefined, 'approved-admin');
      return c.status?.conditions?.find((x: any) => x.type === 'Failed');
    }, 'Failed condition');
    expect(failed.reason).toBe('SignerValidationFailure');
    expect((await objects.get(CSR, undefined, 'approved-admin')).status.certificate).toBeUndefined();
  });

  it('refuses a request that is not a signed PKCS#10 request, naming spec.request', async () => {
    const { csr } = await createClientCsr('system:node:n1', ['system:nodes']);
    // Flip a byte inside the signature: the request no longer verifies.
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(
      objects.create({
        apiVersion: 'certificates.k8s.io/v1',
        kind: 'CertificateSigningRequest',
        metadata: { name: 'forged' },
        spec: {
          request: Buffer.from(forged).toString('base64'),
          signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
          usages: ['digital signature', 'client auth'],
        },
      }),
    ).rejects.toMatchObject({ code: 422, message: expect.stringContaining('spec.request') });
    expect(await objects.get(CSR, undefined, 'forged')).toBeUndefined();
  });

  it('keeps the spec as it was asked on update', async () => {
    await request('immutable', 'system:node:n3', { username: 'alice', groups: [] });
    const c = await objects.get(CSR, undefined, 'immutable');
    c.spec.signerName = 'example.com/other';
    c.metadata.labels = { a: 'b' };
    const updated = await objects.update(c);
    expect(updated.spec.signerName).toBe('kubernetes.io/kube-apiserver-client-kubelet');
    expect(updated.metadata.labels).toEqual({ a: 'b' });
  });
});
