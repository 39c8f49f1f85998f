// The service-account signing key: one ECDSA P-256 key (ES256, as kube-apiserver's
// --service-account-key-file may hold) generated at first start into DATA/sa.key (PKCS#8 PEM, 0600) and
// kept across restarts, so tokens issued before a restart still verify after it. Its `kid` is kube's:
// base64url(sha256(DER SubjectPublicKeyInfo)), so verifiers that match keys by kid find it in the JWKS.
import { createHash, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importPKCS8,
  importSPKI,
  type CryptoKey,
  type JWK,
} from 'jose';

export const SERVICE_ACCOUNT_KEY_FILE = 'sa.key';
export const SIGNING_ALGORITHM = 'ES256';

export interface SigningKey {
  /** Signs tokens; never leaves this process. */
  privateKey: CryptoKey;
  /** Verifies them. */
  publicKey: CryptoKey;
  /** The public key as the JWKS serves it (kid, alg, use). */
  jwk: JWK;
  kid: string;
  /** Where the private key lives (0600). */
  path: string;
}

/** A key from PKCS#8 PEM (the file's content). */
export async function signingKeyFromPem(pem: string, path = ''): Promise<SigningKey> {
  const spkiDer = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  const kid = createHash('sha256').update(spkiDer).digest('base64url');
  const spkiPem = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  const privateKey = await importPKCS8(pem, SIGNING_ALGORITHM);
  const publicKey = await importSPKI(spkiPem, SIGNING_ALGORITHM, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' };
  return { privateKey, publicKey, jwk, kid, path };
}

/** A fresh key (tests, and the first start). */
export async function generateSigningKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  return exportPKCS8(privateKey);
}

/** Returns the data directory's signing key, creating it (0600) on first start. */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, SERVICE_ACCOUNT_KEY_FILE);
  if (!existsSync(path)) {
    try {
      writeFileSync(path, await generateSigningKeyPem(), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process of the same data dir made it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  chmodSync(path, 0o600);
  try {
    return await signingKeyFromPem(readFileSync(path, 'utf8'), path);
  } catch (err) {
    throw new Error(`${path}: not a PKCS#8 P-256 private key: ${(err as Error).message}`);
  }
}
