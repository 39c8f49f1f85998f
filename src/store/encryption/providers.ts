// The providers of an EncryptionConfiguration, as kube-apiserver names them: each turns an object's JSON
// into the string stored in its place (`k8s:enc:<provider>:<version>:<name>:` + base64 payload) and back.
//
//   aesgcm    AES-GCM under a key from the configuration file (16, 24 or 32 bytes), a random 96-bit nonce
//             per write. Payload: nonce(12) | ciphertext | tag(16).
//   kms       Envelope encryption, local: every write gets a fresh AES-256-GCM data key (DEK), and the DEK
//             is stored wrapped (AES-256-GCM) under the key-encryption key (KEK) read from a 0600 file.
//             Payload: version(1) | KEK id(8) | nonce(12) | wrapped DEK(32) | tag(16) | nonce(12) |
//             ciphertext | tag(16). The KEK id (the first 8 bytes of sha256 of the KEK) lets a read name
//             the KEK an object needs when the file holds another one.
//   identity  No encryption: the object is stored as the JSON document it is.
//
// Both ciphers authenticate the object's store key as additional data (as kube passes the etcd key): a
// ciphertext copied under another key does not decrypt, so objects cannot be swapped on disk.
import { type CipherGCMTypes, createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const ENC_PREFIX = 'k8s:enc:';

/** A value could not be turned back into an object; the message names the object and the key, never data. */
export class DecryptionError extends Error {
  readonly storeKey: string;
  constructor(storeKey: string, message: string) {
    super(`cannot decrypt ${storeKey}: ${message}`);
    this.name = 'DecryptionError';
    this.storeKey = storeKey;
  }
}

export interface Provider {
  /** `aesgcm key1`, `kms local`, `identity`: how errors and docs name it. */
  readonly label: string;
  /**
   * The prefix of the values this provider writes (undefined for identity). Reads pick the provider
   * whose prefix the stored value starts with.
   */
  readonly prefix: string | undefined;
  /** The stored form of `json` (the object's JSON text) under store key `key`. */
  seal(key: string, json: string): unknown;
  /** The object's JSON text back from a value that starts with `prefix`. */
  open(key: string, stored: string): string;
}

const NONCE = 12;
const TAG = 16;

function gcm(key: Buffer): CipherGCMTypes {
  return `aes-${key.length * 8}-gcm` as CipherGCMTypes;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv(gcm(key), key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([nonce, body, tail, c.getAuthTag()]);
}

/** undefined when the payload does not authenticate (wrong key, tampering, another object's value). */
function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < NONCE + TAG) return undefined;
  const d = createDecipheriv(gcm(key), key, sealed.subarray(0, NONCE));
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
  } catch {
    return undefined;
  }
}

export class AesGcmProvider implements Provider {
  readonly label: string;
  readonly prefix: string;
  readonly #key: Buffer;
  constructor(keyName: string, secret: Buffer) {
    if (![16, 24, 32].includes(secret.length))
      throw new RangeError(`aesgcm key ${keyName}: must be 16, 24 or 32 bytes, got ${secret.length}`);
    this.label = `aesgcm key "${keyName}"`;
    this.prefix = `${ENC_PREFIX}aesgcm:v1:${keyName}:`;
    this.#key = secret;
  }

  seal(key: string, json: string): string {
    return this.prefix + gcmSeal(this.#key, Buffer.from(json), Buffer.from(key)).toString('base64');
  }

  open(key: string, stored: string): string {
    const plain = gcmOpen(
      this.#key,
      Buffer.from(stored.slice(this.prefix.length), 'base64'),
      Buffer.from(key),
    );
    if (plain === undefined)
      throw new DecryptionError(
        key,
        `${this.label} does not authenticate it (a different key under the same name, or a damaged value)`,
      );
    return plain.toString();
  }
}

const ENVELOPE_VERSION = 1;
const KEK_ID = 8;
const WRAPPED_DEK = NONCE + 32 + TAG;

/** The id an envelope records for its KEK: the first 8 bytes of the KEK's sha256, shown in hex. */
export function kekId(kek: Buffer): Buffer {
  return createHash('sha256').update(kek).digest().subarray(0, KEK_ID);
}

export class LocalKmsProvider implements Provider {
  readonly label: string;
  readonly prefix: string;
  readonly #kek: Buffer;
  readonly #kekId: Buffer;
  readonly #kekPath: string;
  /** `name` is the kms provider's name in the configuration; `kek` the 32-byte key from `kekPath`. */
  constructor(name: string, apiVersion: string, kek: Buffer, kekPath: string) {
    if (kek.length !== 32)
      throw new RangeError(
        `kms ${name}: the key-encryption key in ${kekPath} must be 32 bytes, got ${kek.length}`,
      );
    this.label = `kms provider "${name}" (key-encryption key ${kekPath})`;
    this.prefix = `${ENC_PREFIX}kms:${apiVersion}:${name}:`;
    this.#kek = kek;
    this.#kekId = kekId(kek);
    this.#kekPath = kekPath;
  }

  seal(key: string, json: string): string {
    const dek = randomBytes(32);
    const wrapped = gcmSeal(this.#kek, dek, this.#kekId);
    const data = gcmSeal(dek, Buffer.from(json), Buffer.from(key));
    const head = Buffer.from([ENVELOPE_VERSION]);
    return this.prefix + Buffer.concat([head, this.#kekId, wrapped, data]).toString('base64');
  }

  open(key: string, stored: string): string {
    const b = Buffer.from(stored.slice(this.prefix.length), 'base64');
    if (b.length < 1 + KEK_ID + WRAPPED_DEK + NONCE + TAG || b[0] !== ENVELOPE_VERSION)
      throw new DecryptionError(key, `not an envelope ${this.label} can read (damaged value)`);
    const id = b.subarray(1, 1 + KEK_ID);
    if (!id.equals(this.#kekId))
      throw new DecryptionError(
        key,
        `its data key is wrapped under key-encryption key ${id.toString('hex')}, but ${this.#kekPath} holds ${this.#kekId.toString('hex')}`,
      );
    const dek = gcmOpen(this.#kek, b.subarray(1 + KEK_ID, 1 + KEK_ID + WRAPPED_DEK), id);
    const plain = dek && gcmOpen(dek, b.subarray(1 + KEK_ID + WRAPPED_DEK), Buffer.from(key));
    if (plain === undefined)
      throw new DecryptionError(key, `${this.label} does not authenticate it (a damaged value)`);
    return plain.toString();
  }
}

export class IdentityProvider implements Provider {
  readonly label = 'identity';
  readonly prefix = undefined;
  seal(_key: string, json: string): unknown {
    return JSON.parse(json);
  }
  open(_key: string, stored: string): string {
    return stored;
  }
}
