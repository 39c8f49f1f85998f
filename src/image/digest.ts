// Content digests. Only sha256 is accepted: it is what every registry and OCI tool writes, and one
// algorithm keeps blob paths and comparisons simple. Anything else is a clear "unsupported" error.
import { createHash } from 'node:crypto';
import { ImageError } from './errors.ts';

export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256.test(s);
}

/** Validates a digest string; `what` names it in the error ("layer digest", "manifest digest"). */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  const alg = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):/.exec(s)?.[1];
  if (alg && alg !== 'sha256')
    throw new ImageError('Unsupported', `${what} ${JSON.stringify(s)}: only sha256 digests are supported`);
  throw new ImageError('InvalidDigest', `${what} ${JSON.stringify(s)} is not a sha256:<64 hex> digest`);
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** First 12 hex characters, as docker and skopeo print layer ids. */
export function shortDigest(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}
