import { describe, expect, it } from 'vitest';
import { sha256 } from './digest.ts';
import { MediaType } from './oci.ts';
import {
  defaultPlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
  WASM_PLATFORMS,
} from './platform.ts';

const entry = (platform?: { os: string; architecture: string; variant?: string }) => ({
  mediaType: MediaType.ociManifest,
  digest: sha256(JSON.stringify(platform ?? 'none')),
  size: 1,
  ...(platform ? { platform } : {}),
});

describe('platform selection', () => {
  const amd = entry({ os: 'linux', architecture: 'amd64' });
  const arm64 = entry({ os: 'linux', architecture: 'arm64' });
  const armv7 = entry({ os: 'linux', architecture: 'arm', variant: 'v7' });
  const attestation = entry({ os: 'unknown', architecture: 'unknown' });
  const wasi = entry({ os: 'wasip1', architecture: 'wasm' });
  const all = [attestation, armv7, arm64, amd];

  it('defaults to this node (linux/amd64 here)', () => {
    expect(defaultPlatform().os).toBe('linux');
    if (process.arch === 'x64') expect(defaultPlatform()).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  it('matches os, architecture and variant, with implied variants', () => {
    expect(selectManifest(all, { os: 'linux', architecture: 'amd64' })).toBe(amd);
    expect(selectManifest(all, parsePlatform('linux/arm64/v8'))).toBe(arm64);
    expect(selectManifest(all, parsePlatform('linux/arm/v7'))).toBe(armv7);
    expect(platformMatches(parsePlatform('linux/arm/v6'), armv7.platform)).toBe(false);
  });

  it('takes the first preference that matches', () => {
    expect(selectManifest([amd, wasi], [...WASM_PLATFORMS, { os: 'linux', architecture: 'amd64' }])).toBe(
      wasi,
    );
    expect(selectManifest([amd], [...WASM_PLATFORMS, { os: 'linux', architecture: 'amd64' }])).toBe(amd);
  });

  it('names the available platforms when none matches', () => {
    expect(() => selectManifest(all, parsePlatform('linux/riscv64'))).toThrow(
      'image index has no manifest for linux/riscv64 (available: linux/arm/v7, linux/arm64, linux/amd64)',
    );
  });

  it('takes the only entry of an index without platforms (an artifact)', () => {
    const bare = entry();
    expect(selectManifest([bare], parsePlatform('linux/amd64'))).toBe(bare);
  });

  it('rejects malformed platforms', () => {
    expect(() => parsePlatform('linux')).toThrow(/expected os\/arch\[\/variant\]/);
    expect(() => parsePlatform('Linux/AMD64')).toThrow(/invalid platform/);
  });
});
