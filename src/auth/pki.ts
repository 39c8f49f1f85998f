// Certificates for the cluster, issued with @peculiar/x509 over WebCrypto (no hand-written ASN.1): the
// cluster CA (ECDSA P-256, 10 years), serving certificates (server and agents) and client certificates
// (CN = user, O = groups, as Kubernetes reads them). Keys are PKCS#8 PEM, which node:tls accepts.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface IssueOptions {
  commonName: string;
  /** Subject O= entries (Kubernetes reads them as the user's groups). */
  organizations?: string[];
  /** DNS names and IP addresses for a serving certificate. */
  altNames?: string[];
  usage: 'server' | 'client' | 'server+client';
  days: number;
  /** For tests: a validity window that starts (and may end) in the past. */
  notBefore?: Date;
}

function subjectName(cn: string, orgs: string[] = []): string {
  // x509.Name parses RFC 4514 strings; escape the characters that are special there.
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${esc(cn)}`, ...orgs.map((o) => `O=${esc(o)}`)].join(', ');
}

function serial(): string {
  // Positive 128-bit serial (top bit clear), as RFC 5280 asks.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'), ALG, true, ['sign']);
}

/** A self-signed certificate with these extensions (the keys are new; validity starts a minute ago). */
async function selfSigned(
  commonName: string,
  days: number,
  extensions: (keys: CryptoKeyPair) => Promise<x509.Extension[]>,
): Promise<KeyPair> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subjectName(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: await extensions(keys),
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}

function altNameExtension(names: string[]): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
  );
}

/** A new self-signed certificate authority. */
export function createCA(commonName: string, days = 3650): Promise<KeyPair> {
  return selfSigned(commonName, days, async (keys) => [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ]);
}

/** A certificate signed by `ca`. */
export async function issue(ca: KeyPair, o: IssueOptions): Promise<KeyPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await importKey(ca.key);
  const keys = await generateKeys();
  const notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
  const eku: string[] = [];
  if (o.usage !== 'client') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (o.usage !== 'server') eku.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(eku),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (o.altNames?.length) extensions.push(altNameExtension(o.altNames));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subjectName(o.commonName, o.organizations),
    issuer: caCert.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + o.days * DAY_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}

export { caCertHash } from '../lib/ca-hash.ts';

/** Days until the certificate expires (negative when it has). */
export function daysLeft(certPem: string, now = Date.now()): number {
  return (Date.parse(new X509Certificate(certPem).validTo) - now) / DAY_MS;
}

/** The DNS names and IPs in a certificate's subjectAltName. */
export function altNamesOf(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .filter(Boolean)
    .map((e) => e.replace(/^(DNS|IP Address):/, ''));
}

/**
 * A self-signed serving certificate (a node agent's own, before any CA signs for it): clients pin it
 * exactly — it is its own trust anchor — so it needs no name the client checks.
 */
export function selfSignedServing(commonName: string, altNames: string[], days = 365): Promise<KeyPair> {
  return selfSigned(commonName, days, async () => [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    altNameExtension(altNames),
  ]);
}
