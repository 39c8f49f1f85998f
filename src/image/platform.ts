// Platform selection from an image index, with containerd's matching rules in small: os and
// architecture must match; a variant matches when equal, or when the index entry has none for an
// architecture whose variant is implied (amd64, arm64/v8).
import { ImageError } from './errors.ts';
import type { Descriptor, Platform } from './oci.ts';

export type { Platform } from './oci.ts';

const ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The platform of this node (linux/amd64 here). */
export function defaultPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  return { os: 'linux', architecture, ...(architecture === 'arm64' ? { variant: 'v8' } : {}) };
}

/** WASI module artifacts: the platform names wasm tooling writes into indexes. */
export const WASM_PLATFORMS: Platform[] = [
  { os: 'wasip1', architecture: 'wasm' },
  { os: 'wasi', architecture: 'wasm' },
  { os: 'wasip1', architecture: 'wasm32' },
  { os: 'wasi', architecture: 'wasm32' },
];

/** Parses "os/arch[/variant]", e.g. "linux/arm64/v8". */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p)))
    throw new ImageError(
      'InvalidReference',
      `invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`,
    );
  const [os, architecture, variant] = parts;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function normaliseVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '')) return 'v8';
  return p.variant || undefined;
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  const wv = normaliseVariant(want);
  return wv === undefined || wv === normaliseVariant(have);
}

/**
 * Picks the manifest for `want` (first matching platform in preference order) from an index's entries.
 * Entries without a platform (attestations, artifacts) are only chosen when nothing else exists.
 */
export function selectManifest(
  manifests: Descriptor[],
  want: Platform | Platform[],
  what = 'image index',
): Descriptor {
  const prefs = Array.isArray(want) ? want : [want];
  for (const p of prefs) {
    const hit = manifests.find((m) => platformMatches(p, m.platform));
    if (hit) return hit;
  }
  const real = manifests.filter((m) => m.platform && m.platform.os !== 'unknown');
  if (real.length === 0 && manifests.length === 1) return manifests[0];
  const available = real.map((m) => formatPlatform(m.platform)).join(', ') || 'none';
  throw new ImageError(
    'NoMatchingPlatform',
    `${what} has no manifest for ${prefs.map(formatPlatform).join(' or ')} (available: ${available})`,
  );
}
