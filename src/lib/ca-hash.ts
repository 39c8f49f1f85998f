// kubeadm's CA pin: "sha256:" + hex of the SHA-256 of the CA's DER SubjectPublicKeyInfo. Light (node:crypto
// only): the server writes it, a joining agent checks the CA the server presents against it.
import { createHash, X509Certificate } from 'node:crypto';

export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Accepts "sha256:<64 hex>" (kubeadm's form); returns it lower-cased, or throws naming the problem. */
export function parseCACertHash(v: string): string {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(v.trim());
  if (!m) throw new Error(`--ca-cert-hash ${JSON.stringify(v)}: expected sha256:<64 hex digits>`);
  return `sha256:${m[1].toLowerCase()}`;
}
