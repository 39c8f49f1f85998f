import { describe, expect, it } from 'vitest';
import { validateStatus } from '../validate.ts';
import { approvalStatus, csrConditionText } from './certificatesigningrequest.ts';
import { invalid, valid } from './testing.ts';

// A syntactically fine PEM block: the signature is checked at admission (src/auth/bootstrap/csr-admission.ts).
const REQUEST = Buffer.from(
  '-----BEGIN CERTIFICATE REQUEST-----\nMIGbMEMCAQAwETEPMA0GA1UEAxMGbm9kZS0x\n-----END CERTIFICATE REQUEST-----\n',
).toString('base64');

const csr = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'certificates.k8s.io/v1',
  kind: 'CertificateSigningRequest',
  metadata: { name: 'node-csr-x' },
  spec: {
    request: REQUEST,
    signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
    usages: ['digital signature', 'client auth'],
    ...spec,
  },
});

const fields = (causes: { field: string }[]) => causes.map((c) => c.field);

describe('CertificateSigningRequest', () => {
  it('accepts a request for a known signer with usages', () => {
    expect(valid(csr({ expirationSeconds: 600 })).spec.expirationSeconds).toBe(600);
  });

  it('names the field of each problem', () => {
    expect(fields(invalid(csr({ request: Buffer.from('hello').toString('base64') })))).toEqual([
      'spec.request',
    ]);
    expect(fields(invalid(csr({ signerName: 'nodomain' })))).toEqual(['spec.signerName']);
    expect(fields(invalid(csr({ expirationSeconds: 599 })))).toEqual(['spec.expirationSeconds']);
    expect(fields(invalid(csr({ usages: [] })))).toEqual(['spec.usages']);
    expect(fields(invalid(csr({ usages: ['client auth', 'client auth'] })))).toEqual(['spec.usages[1]']);
    expect(invalid(csr({ usages: ['root of all trust'] }))[0].field).toMatch(/^spec\.usages/);
  });

  it('keeps Approved and Denied apart and certificates as PEM', () => {
    expect(
      fields(
        validateStatus('CertificateSigningRequest', {
          conditions: [
            { type: 'Approved', status: 'True' },
            { type: 'Denied', status: 'True' },
          ],
        }),
      ),
    ).toEqual(['status.conditions']);
    expect(
      fields(
        validateStatus('CertificateSigningRequest', {
          certificate: Buffer.from('not pem').toString('base64'),
        }),
      ),
    ).toEqual(['status.certificate']);
  });

  it('approval: takes the conditions, keeps the certificate, never drops Approved', () => {
    const current = {
      ...valid(csr()),
      status: { conditions: [{ type: 'Approved', status: 'True' as const }], certificate: 'AAAA' },
    };
    expect(csrConditionText(current)).toBe('Approved,Issued');
    const dropped = approvalStatus(current, { status: { conditions: [] } });
    expect('causes' in dropped && dropped.causes[0].message).toMatch(
      /may not remove a condition of type "Approved"/,
    );
    const kept = approvalStatus(current, {
      status: {
        conditions: [
          { type: 'Approved', status: 'True' },
          { type: 'Extra', status: 'True' },
        ],
      },
    });
    expect('status' in kept && kept.status.certificate).toBe('AAAA');
  });
});
