import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { altNamesOf, caCertHash, createCA, daysLeft, issue, selfSignedServing, type KeyPair } from './pki.ts';

let ca: KeyPair;
beforeAll(async () => {
  ca = await createCA('strata-ca');
});

describe('pki', () => {
  it('creates a 10-year ECDSA P-256 CA that openssl reads as a CA', () => {
    const c = new X509Certificate(ca.cert);
    expect(c.ca).toBe(true);
    expect(c.subject).toBe('CN=strata-ca');
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(daysLeft(ca.cert)).toBeGreaterThan(3649);
    const dir = mkdtempSync(join(tmpdir(), 'pki-'));
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text']).toString();
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
  });

  it("computes kubeadm's CA hash (sha256 of the DER SubjectPublicKeyInfo), as openssl does", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pki-'));
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    // kubeadm's documented recipe for --discovery-token-ca-cert-hash.
    const hex = execFileSync('sh', [
      '-c',
      `openssl x509 -pubkey -in ${join(dir, 'ca.crt')} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'`,
    ])
      .toString()
      .trim();
    expect(caCertHash(ca.cert)).toBe(`sha256:${hex}`);
  });

  it('issues a serving certificate with the names asked for, verified by the CA', async () => {
    const s = await issue(ca, {
      commonName: 'strata-apiserver',
      altNames: ['localhost', 'kubernetes.default.svc', '127.0.0.1', '::1', '10.96.0.1'],
      usage: 'server',
      days: 365,
    });
    const c = new X509Certificate(s.cert);
    expect(c.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(c.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(c.ca).toBe(false);
    expect(altNamesOf(s.cert)).toEqual([
      'localhost',
      'kubernetes.default.svc',
      '127.0.0.1',
      '0:0:0:0:0:0:0:1',
      '10.96.0.1',
    ]);
    expect(c.checkHost('kubernetes.default.svc')).toBe('kubernetes.default.svc');
    expect(c.checkIP('10.96.0.1')).toBe('10.96.0.1');
    expect(c.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('issues client certificates whose CN is the user and each O a group', async () => {
    const c = await issue(ca, {
      commonName: 'jane',
      organizations: ['dev', 'ops'],
      usage: 'client',
      days: 30,
    });
    const x = new X509Certificate(c.cert);
    expect(x.subject.split('\n')).toEqual(['CN=jane', 'O=dev', 'O=ops']);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(daysLeft(c.cert)).toBeGreaterThan(29);
  });

  it('can back-date a certificate (for expiry tests) and reports negative days left', async () => {
    const c = await issue(ca, {
      commonName: 'old',
      usage: 'client',
      days: 1,
      notBefore: new Date(Date.now() - 10 * 86_400_000),
    });
    expect(daysLeft(c.cert)).toBeLessThan(-8);
  });

  it('makes self-signed serving certificates that are their own trust anchor', async () => {
    const s = await selfSignedServing('strata-agent:x', ['127.0.0.1', 'localhost']);
    const x = new X509Certificate(s.cert);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });
});
