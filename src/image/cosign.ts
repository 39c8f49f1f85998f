// Keyed cosign signatures, the way `cosign sign --key` stores them and `cosign verify --key` checks them:
// a manifest tagged `sha256-<hex>.sig` beside the image, whose layers are simple-signing payloads
// (application/vnd.dev.cosign.simplesigning.v1+json) each carrying an ECDSA signature of the payload in
// the annotation `dev.cosignproject.cosign/signature`. A signature counts when it verifies under one of
// the trusted public keys (node:crypto) and its payload names the image's digest.
//
// OCI 1.1 referrers are not consulted: Debian's registry 2.8 has no referrers API, and the tag
// convention is what cosign falls back to there.
import { createPublicKey, createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore } from './content-store.ts';
import { type Digest, sha256 } from './digest.ts';
import { isImageError } from './errors.ts';
import { MediaType, type Descriptor } from './oci.ts';
import { type Reference, repositoryName, withTarget } from './reference.ts';
import type { RegistryClient } from './registry-client.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const SIGNATURE_TYPE = 'cosign container image signature';
/** Signature payloads are small JSON documents; anything bigger is not one. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

/** `sha256:abc…` → `sha256-abc….sig`, cosign's signature tag. */
export function signatureTag(digest: Digest): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The simple-signing payload cosign signs for an image. */
export function simpleSigningPayload(ref: Reference, digest: Digest): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repositoryName(ref) },
        image: { 'docker-manifest-digest': digest },
        type: SIGNATURE_TYPE,
      },
      optional: null,
    }),
  );
}

export type SignatureVerdict =
  { verified: true; digest: Digest } | { verified: false; digest: Digest; reason: string };

/** A scratch content store for payload blobs (the registry client downloads into a content store). */
function scratchStore(): { store: ContentStore; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-cosign-'));
  return { store: new ContentStore(dir), done: () => rmSync(dir, { recursive: true, force: true }) };
}

function payloadNames(payload: Buffer, digest: Digest): string | undefined {
  let doc: any;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'payload is not JSON';
  }
  if (doc?.critical?.type !== SIGNATURE_TYPE) return `payload type is not "${SIGNATURE_TYPE}"`;
  const named = doc?.critical?.image?.['docker-manifest-digest'];
  if (named !== digest) return `payload is for ${named}, not ${digest}`;
  return undefined;
}

/**
 * Checks the image at `digest` (the digest a tag resolved to, as cosign signs it) for a signature by one
 * of `keys` (PEM public keys). Never throws for an unsigned or badly signed image: says why instead.
 */
export async function verifyCosignSignature(
  client: RegistryClient,
  ref: Reference,
  digest: Digest,
  keys: readonly (string | KeyObject)[],
): Promise<SignatureVerdict> {
  const tag = signatureTag(digest);
  const sigRef = withTarget(ref, { tag });
  let manifest;
  try {
    manifest = await client.getManifest(sigRef, tag);
  } catch (err) {
    if (isImageError(err, 'NotFound'))
      return { verified: false, digest, reason: `no signature: ${repositoryName(ref)}:${tag} not found` };
    throw err;
  }
  if (manifest.parsed.kind !== 'manifest')
    return { verified: false, digest, reason: `${repositoryName(ref)}:${tag} is not a signature manifest` };
  const publicKeys = keys.map((k) => (typeof k === 'string' ? createPublicKey(k) : k));
  const layers = manifest.parsed.manifest.layers.filter(
    (l: Descriptor) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && l.annotations?.[SIGNATURE_ANNOTATION],
  );
  if (!layers.length)
    return { verified: false, digest, reason: `${repositoryName(ref)}:${tag} holds no signatures` };
  const scratch = scratchStore();
  const reasons: string[] = [];
  try {
    for (const layer of layers) {
      if (layer.size > MAX_PAYLOAD_BYTES) {
        reasons.push(`payload ${layer.digest} is too large`);
        continue;
      }
      await client.downloadBlob(sigRef, layer, scratch.store);
      const payload = await scratch.store.read(layer.digest, layer.size);
      const signature = Buffer.from(layer.annotations![SIGNATURE_ANNOTATION]!, 'base64');
      if (!publicKeys.some((key) => verify('sha256', payload, key, signature))) {
        reasons.push('signature does not verify with any trusted key');
        continue;
      }
      const wrong = payloadNames(payload, digest);
      if (wrong) {
        reasons.push(wrong);
        continue;
      }
      return { verified: true, digest };
    }
  } finally {
    scratch.done();
  }
  return { verified: false, digest, reason: [...new Set(reasons)].join('; ') };
}

/**
 * Signs the image at `digest` with an ECDSA private key (PEM) and pushes the signature manifest, as
 * `cosign sign --key` does (one signature per manifest; an existing one is replaced). Tests use it, and
 * so can a `strata image sign`.
 */
export async function pushCosignSignature(
  client: RegistryClient,
  ref: Reference,
  digest: Digest,
  privateKey: string | KeyObject,
): Promise<Digest> {
  const payload = simpleSigningPayload(ref, digest);
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const signature = sign('sha256', payload, key).toString('base64');
  const payloadDigest = sha256(payload);
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [payloadDigest] },
      config: {},
    }),
  );
  const scratch = scratchStore();
  try {
    const configDesc: Descriptor = {
      mediaType: MediaType.ociConfig,
      digest: sha256(config),
      size: config.length,
    };
    const layer: Descriptor = {
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: payloadDigest,
      size: payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: signature },
    };
    await scratch.store.put(config, configDesc);
    await scratch.store.put(payload, layer);
    await client.uploadBlob(ref, configDesc, scratch.store);
    await client.uploadBlob(ref, layer, scratch.store);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: configDesc,
        layers: [layer],
      }),
    );
    const desc: Descriptor = {
      mediaType: MediaType.ociManifest,
      digest: sha256(manifest),
      size: manifest.length,
    };
    return await client.putManifest(ref, signatureTag(digest), desc, manifest);
  } finally {
    scratch.done();
  }
}

/** The digest a reference names now: its pin, or what the registry resolves its tag to. */
export async function resolveDigest(client: RegistryClient, ref: Reference): Promise<Digest> {
  if (ref.digest) return ref.digest;
  const m = await client.getManifest(ref, ref.tag ?? 'latest');
  return m.descriptor.digest;
}
