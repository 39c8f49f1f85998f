// PKCS#10 certificate requests and the cluster CA's signature on them, with @peculiar/x509 over WebCrypto
// (no hand-written ASN.1): a node makes a key and a request (CN system:node:NAME, O system:nodes), the
// control plane reads requests (subject, names, a signature made by the requested key) and the signer
// issues a certificate for the request's own public key — the private key never leaves the node.
import '../pki.ts'; // sets @peculiar/x509's crypto provider (and imports reflect-metadata first)
import * as x509 from '@peculiar/x509';
import { webcrypto, X509Certificate } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { KeyPair } from '../pki.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** What a request asks for, once its signature is checked. */
export interface ParsedCsr {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
}

export class CsrError extends Error {}

function der(pem: string, type: string): Buffer {
  const m = new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`).exec(pem);
  if (!m) throw new CsrError(`not a PEM ${type}`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

function pem(type: string, bytes: ArrayBuffer | Buffer): string {
  const b64 = Buffer.from(bytes as ArrayBuffer)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

function subjectName(cn: string, orgs: string[]): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${esc(cn)}`, ...orgs.map((o) => `O=${esc(o)}`)].join(', ');
}

/** A new ECDSA P-256 key and a request for a client certificate naming `commonName` in `organizations`. */
export async function createClientCsr(
  commonName: string,
  organizations: string[],
): Promise<{ csr: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(commonName, organizations),
    keys,
    signingAlgorithm: ALG,
  });
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { csr: req.toString('pem') + '\n', key };
}

function sans(req: x509.Pkcs10CertificateRequest): readonly x509.GeneralName[] {
  const ext = req.getExtension(
    x509.SubjectAlternativeNameExtension.NAME,
  ) as x509.SubjectAlternativeNameExtension | null;
  return ext ? ext.names.items : [];
}

/** Reads a PEM request and checks that the key it names signed it; throws CsrError otherwise. */
export async function parseCsr(requestPem: string): Promise<ParsedCsr> {
  let req: x509.Pkcs10CertificateRequest;
  try {
    req = new x509.Pkcs10CertificateRequest(der(requestPem, 'CERTIFICATE REQUEST'));
  } catch (err) {
    throw new CsrError(`the request is not a PKCS#10 certificate request: ${(err as Error).message}`);
  }
  let valid = false;
  try {
    valid = await req.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrError('the request is not signed by the key it names');
  const names = sans(req);
  const of = (type: string) => names.filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: req.subjectName.getField('CN')[0] ?? '',
    organizations: req.subjectName.getField('O'),
    dnsNames: of('dns'),
    ipAddresses: of('ip'),
    emailAddresses: of('email'),
    uris: of('url'),
  };
}

async function importCAKey(keyPem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', der(keyPem, 'PRIVATE KEY'), ALG, true, ['sign']);
}

const KEY_USAGE_FLAGS: Record<string, number> = {
  'digital signature': x509.KeyUsageFlags.digitalSignature,
  'content commitment': x509.KeyUsageFlags.nonRepudiation,
  'key encipherment': x509.KeyUsageFlags.keyEncipherment,
  'key agreement': x509.KeyUsageFlags.keyAgreement,
  'data encipherment': x509.KeyUsageFlags.dataEncipherment,
  'cert sign': x509.KeyUsageFlags.keyCertSign,
  'crl sign': x509.KeyUsageFlags.cRLSign,
  'encipher only': x509.KeyUsageFlags.encipherOnly,
  'decipher only': x509.KeyUsageFlags.decipherOnly,
};
const EXT_KEY_USAGES: Record<string, string> = {
  'server auth': x509.ExtendedKeyUsage.serverAuth,
  'client auth': x509.ExtendedKeyUsage.clientAuth,
  'code signing': x509.ExtendedKeyUsage.codeSigning,
  'email protection': x509.ExtendedKeyUsage.emailProtection,
  timestamping: x509.ExtendedKeyUsage.timeStamping,
  'ocsp signing': x509.ExtendedKeyUsage.ocspSigning,
};

export interface SignOptions {
  /** certificates/v1 key usages of the request. */
  usages: string[];
  /** The request's spec.expirationSeconds (honoured when shorter than maxSeconds). */
  expirationSeconds?: number;
  /** The signer's ceiling (kube-controller-manager's --cluster-signing-duration; default one year). */
  maxSeconds?: number;
  now?: number;
}

/** kube's signer backdates certificates by five minutes, for clocks a little behind. */
const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_SIGNING_SECONDS = 365 * 86_400;

/**
 * A certificate for the request's public key and subject, signed by `ca`, with the requested usages; valid
 * from five minutes ago for min(expirationSeconds, maxSeconds), and never past the CA's own expiry.
 */
export async function signCsr(ca: KeyPair, requestPem: string, o: SignOptions): Promise<string> {
  const req = new x509.Pkcs10CertificateRequest(der(requestPem, 'CERTIFICATE REQUEST'));
  if (!(await req.verify())) throw new CsrError('the request is not signed by the key it names');
  const caCert = new x509.X509Certificate(ca.cert);
  const now = o.now ?? Date.now();
  const seconds = Math.min(o.expirationSeconds ?? Infinity, o.maxSeconds ?? DEFAULT_SIGNING_SECONDS);
  const caEnd = Date.parse(new X509Certificate(ca.cert).validTo);
  const notAfter = new Date(Math.min(now + seconds * 1000, caEnd));
  let flags = 0;
  for (const u of o.usages) flags |= KEY_USAGE_FLAGS[u] ?? 0;
  const eku = o.usages.map((u) => EXT_KEY_USAGES[u]).filter((x): x is string => !!x);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(flags, true),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (eku.length) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  const names = sans(req);
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names.map((n) => n.toJSON())));
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: req.subjectName,
    issuer: caCert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingKey: await importCAKey(ca.key),
    publicKey: req.publicKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

/** The certificate's validity window (ms since epoch). */
export function validity(certPem: string): { notBefore: number; notAfter: number } {
  const c = new X509Certificate(certPem);
  return { notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) };
}
