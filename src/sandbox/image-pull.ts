// What every tier that pulls through the node's image store agrees on: Kubernetes' default pull policy,
// which registries may be reached over plain HTTP, and the `@sha256:` pin on an image reference.
import { RegistryClient, parseReference } from '../image/index.ts';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** Kubernetes' default: Always for `:latest` (or no tag), IfNotPresent otherwise. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const ref = parseReference(image);
  return !ref.digest && (ref.tag ?? 'latest') === 'latest' ? 'Always' : 'IfNotPresent';
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/** A registry client for the image's registry: plain HTTP is allowed for loopback registries only. */
export function registryClientFor(
  image: string,
  credentials?: Record<string, { username: string; password: string }>,
): RegistryClient {
  return new RegistryClient({
    insecure: LOOPBACK.test(parseReference(image).registry),
    ...(credentials ? { credentials } : {}),
  });
}

/** `ref@sha256:<hex>` → the reference and the digest it must have. */
export function parseImagePin(image: string): { ref: string; digest?: string } {
  const m = /^(.*)@(sha256:[0-9a-f]{64})$/.exec(image);
  return m ? { ref: m[1], digest: m[2] } : { ref: image };
}
