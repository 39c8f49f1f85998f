// Keyed cosign signatures against Debian's docker-registry: sign with a key made here, push the
// signature manifest, show skopeo sees it, verify; unsigned, wrongly-signed and other-digest signatures
// are refused — by the check and by the pull hook, which stops the pull before any layer is fetched.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushCosignSignature, resolveDigest, signatureTag, verifyCosignSignature } from './cosign.ts';
import { ImageStore } from './image-store.ts';
import { pullImage } from './pull.ts';
import { parseReference } from './reference.ts';
import { RegistryClient } from './registry-client.ts';
import { ImageSignaturePolicy } from './signature-policy.ts';
import { tempDir, testImages, testImagesUnavailable } from './testing/fixtures.ts';
import {
  type LocalRegistry,
  registryUnavailable,
  startLocalRegistry,
  toolMissing,
} from './testing/local-registry.ts';

const skip = registryUnavailable() ?? testImagesUnavailable() ?? toolMissing('skopeo', 'skopeo');
if (skip) console.log(`skipping cosign tests: ${skip}`);

const keyPair = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
};

describe.skipIf(skip)('cosign signatures', () => {
  let reg: LocalRegistry;
  const client = new RegistryClient();
  const trusted = keyPair();
  const other = keyPair();
  const tmp = tempDir();

  const push = (repo: string) => {
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${testImages()}/busybox:latest`,
      `docker://${reg.host}/${repo}:1`,
    ]);
    return `${reg.host}/${repo}:1`;
  };
  const policy = () =>
    ImageSignaturePolicy.parse(`
apiVersion: policy.strata.dev/v1alpha1
kind: ImageSignaturePolicy
policies:
- name: signed-only
  images: ["${reg.host}/signed/**"]
  keys:
  - |
${trusted.pub
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`);

  beforeAll(async () => {
    reg = await startLocalRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
    tmp.cleanup();
  });

  it('a signed image verifies, and skopeo sees the sha256-<digest>.sig manifest', async () => {
    const image = push('signed/app');
    const ref = parseReference(image);
    const digest = await resolveDigest(client, ref);
    await pushCosignSignature(client, ref, digest, trusted.priv);
    const tags = JSON.parse(
      execFileSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${reg.host}/signed/app`], {
        encoding: 'utf8',
      }),
    ).Tags;
    expect(tags).toContain(signatureTag(digest));
    const raw = JSON.parse(
      execFileSync(
        'skopeo',
        ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/signed/app:${signatureTag(digest)}`],
        {
          encoding: 'utf8',
        },
      ),
    );
    expect(raw.layers[0].mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(raw.layers[0].annotations['dev.cosignproject.cosign/signature']).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(await verifyCosignSignature(client, ref, digest, [trusted.pub])).toEqual({
      verified: true,
      digest,
    });
    expect(await policy().check(image, client)).toEqual([
      { policy: 'signed-only', verdict: { verified: true, digest } },
    ]);
  });

  it('unsigned, signed by another key, and a signature naming another digest are refused', async () => {
    const unsigned = parseReference(push('signed/unsigned'));
    const d1 = await resolveDigest(client, unsigned);
    const v1 = await verifyCosignSignature(client, unsigned, d1, [trusted.pub]);
    expect(v1).toEqual({
      verified: false,
      digest: d1,
      reason: `no signature: ${reg.host}/signed/unsigned:${signatureTag(d1)} not found`,
    });

    const wrong = parseReference(push('signed/wrongkey'));
    const d2 = await resolveDigest(client, wrong);
    await pushCosignSignature(client, wrong, d2, other.priv);
    const v2 = await verifyCosignSignature(client, wrong, d2, [trusted.pub]);
    expect(v2).toEqual({
      verified: false,
      digest: d2,
      reason: 'signature does not verify with any trusted key',
    });

    // A valid signature of some other digest, copied under this image's signature tag.
    const forged = parseReference(push('signed/forged'));
    const d3 = await resolveDigest(client, forged);
    const fake = `sha256:${'0'.repeat(64)}` as const;
    await pushCosignSignature(client, forged, fake, trusted.priv);
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${reg.host}/signed/forged:${signatureTag(fake)}`,
      `docker://${reg.host}/signed/forged:${signatureTag(d3)}`,
    ]);
    const v3 = await verifyCosignSignature(client, forged, d3, [trusted.pub]);
    expect(v3).toEqual({ verified: false, digest: d3, reason: `payload is for ${fake}, not ${d3}` });
  });

  it('the pull hook refuses an unsigned image before fetching it and pulls a signed one', async () => {
    const store = new ImageStore(tmp.path, { verifyPull: policy().pullVerifier() });
    const unsigned = push('signed/pull-unsigned');
    await expect(pullImage(store, unsigned, { client })).rejects.toThrow(
      /does not satisfy image signature policy "signed-only": no signature/,
    );
    expect(await store.list()).toEqual([]);
    const signed = push('signed/pull-signed');
    const ref = parseReference(signed);
    await pushCosignSignature(client, ref, await resolveDigest(client, ref), trusted.priv);
    const r = await pullImage(store, signed, { client });
    expect(r.name).toBe(signed);
    // Images no policy covers pull as before.
    expect((await pullImage(store, push('free/app'), { client })).name).toBe(`${reg.host}/free/app:1`);
  });
});
