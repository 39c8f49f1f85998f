// Which images must carry a cosign signature, and by whose keys: Strata's image signature policy file
// (DATA/image-signatures.yaml), read by the control plane (pod admission) and by nodes (at pull).
//
//   apiVersion: policy.strata.dev/v1alpha1
//   kind: ImageSignaturePolicy
//   policies:
//   - name: team-images
//     images: ["registry.example.com/team/**", "127.0.0.1:*/signed/*"]
//     keys:
//     - |
//       -----BEGIN PUBLIC KEY-----
//       …                                  (an ECDSA P-256 public key, as `cosign generate-key-pair` writes)
//     # or keyFiles: [/etc/strata/cosign.pub]
//
// The file is DATA/image-signatures.yaml (IMAGE_SIGNATURE_POLICY_FILE) of the control plane and of each node.
// Globs match `registry/repository` (docker.io/library/… for short names): `*` within one path segment,
// `**` across segments. An image several policies match must satisfy each of them.
import { type KeyObject, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { type SignatureVerdict, resolveDigest, verifyCosignSignature } from './cosign.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { type Reference, parseReference, repositoryName } from './reference.ts';
import { RegistryClient } from './registry-client.ts';

export const IMAGE_SIGNATURE_POLICY_FILE = 'image-signatures.yaml';

const PolicyFile = z.strictObject({
  apiVersion: z.literal('policy.strata.dev/v1alpha1'),
  kind: z.literal('ImageSignaturePolicy'),
  policies: z.array(
    z.strictObject({
      name: z.string().min(1),
      images: z.array(z.string().min(1)).min(1),
      keys: z.array(z.string()).optional(),
      keyFiles: z.array(z.string()).optional(),
    }),
  ),
});

interface CompiledPolicy {
  name: string;
  patterns: RegExp[];
  keys: KeyObject[];
}

export interface PolicyOutcome {
  policy: string;
  verdict: SignatureVerdict;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class ImageSignaturePolicy {
  private readonly policies: CompiledPolicy[];

  private constructor(policies: CompiledPolicy[]) {
    this.policies = policies;
  }

  /** Parses a policy file's text; a bad file throws naming the field (the server refuses to start). */
  static parse(text: string, source = 'image signature policy'): ImageSignaturePolicy {
    const res = PolicyFile.safeParse(parse(text));
    if (!res.success) {
      const issue = res.error.issues[0]!;
      throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return new ImageSignaturePolicy(
      res.data.policies.map((p, i) => {
        const pems = [...(p.keys ?? []), ...(p.keyFiles ?? []).map((f) => readFileSync(f, 'utf8'))];
        if (!pems.length)
          throw new Error(`${source}: policies.${i}.keys: at least one public key is required`);
        const keys = pems.map((pem, k) => {
          try {
            return createPublicKey(pem);
          } catch (err) {
            throw new Error(
              `${source}: policies.${i}.keys.${k}: not a PEM public key (${(err as Error).message})`,
            );
          }
        });
        return { name: p.name, patterns: p.images.map(globToRegExp), keys };
      }),
    );
  }

  /** The policy in `path`, or undefined when there is no such file (no image needs a signature). */
  static load(path: string): ImageSignaturePolicy | undefined {
    return existsSync(path) ? ImageSignaturePolicy.parse(readFileSync(path, 'utf8'), path) : undefined;
  }

  /** Names of the policies an image falls under. */
  matching(ref: Reference): CompiledPolicy[] {
    const name = repositoryName(ref);
    return this.policies.filter((p) => p.patterns.some((re) => re.test(name)));
  }

  /**
   * Verifies an image against every policy it falls under; [] when none does. `digest` is what the
   * reference resolves to (looked up when not given).
   */
  async check(image: string, client: RegistryClient, digest?: Digest): Promise<PolicyOutcome[]> {
    const ref = parseReference(image);
    const policies = this.matching(ref);
    if (!policies.length) return [];
    const resolved = digest ?? (await resolveDigest(client, ref));
    const out: PolicyOutcome[] = [];
    for (const p of policies)
      out.push({ policy: p.name, verdict: await verifyCosignSignature(client, ref, resolved, p.keys) });
    return out;
  }

  /**
   * What pod admission asks (src/policy/signatures): each policy's verdict on an image, [] when none
   * covers it or it is not a registry reference (a wasm module's file path).
   */
  admissionCheck(
    client: RegistryClient = new RegistryClient(),
  ): (image: string) => Promise<{ policy: string; verified: boolean; reason?: string }[]> {
    return async (image) => {
      let ref: Reference;
      try {
        ref = parseReference(image);
      } catch {
        return [];
      }
      if (!this.matching(ref).length) return [];
      return (await this.check(image, client)).map(({ policy, verdict }) =>
        verdict.verified ? { policy, verified: true } : { policy, verified: false, reason: verdict.reason },
      );
    };
  }

  /** The hook an ImageStore calls at pull: refuses (ImageError 'Unauthorized') what a policy does not accept. */
  pullVerifier(): (ref: Reference, digest: Digest, client: RegistryClient) => Promise<void> {
    return async (ref, digest, client) => {
      for (const { policy, verdict } of await this.check(repositoryName(ref), client, digest))
        if (!verdict.verified)
          throw new ImageError(
            'Unauthorized',
            `${repositoryName(ref)}@${digest} does not satisfy image signature policy "${policy}": ${verdict.reason}`,
          );
    };
  }
}
