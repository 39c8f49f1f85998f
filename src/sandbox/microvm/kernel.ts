// The guest kernel: an uncompressed vmlinux (an ELF that QEMU boots through PVH, skipping the bzImage's
// self-decompression, which costs ~4–5 s of guest time under TCG) and the kernel's modules the Strata
// init loads (the Debian cloud kernel has virtio as modules).
//
// The kernel comes from a package unpacked with `dpkg -x` by scripts/setup.sh into a kernel directory:
//   <dir>/boot/vmlinuz-<release>          the bzImage
//   <dir>/lib/modules/<release>/...        its modules
// extractVmlinux() pulls the compressed payload out of the bzImage (located through the setup header's
// payload_offset/payload_length, as the boot protocol defines them) and decompresses it once; the result
// is cached beside the bzImage as vmlinux-<release>.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface GuestKernel {
  /** The uncompressed vmlinux QEMU boots. */
  vmlinux: string;
  /** `uname -r` of the guest. */
  release: string;
  /** lib/modules/<release> of the kernel. */
  modulesDir: string;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Compression formats a bzImage payload may use, by their magic, and how to undo each. */
const FORMATS: { name: string; magic: number[]; decompress(data: Buffer): Buffer }[] = [
  { name: 'gzip', magic: [0x1f, 0x8b], decompress: (d) => gunzipSync(d) },
  {
    name: 'xz',
    magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
    decompress: (d) => tool('xz', ['-dc', '-q'], d),
  },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], decompress: (d) => tool('zstd', ['-dcq'], d) },
  // The kernel writes LZ4's legacy frame (lz4 -l).
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], decompress: (d) => tool('lz4', ['-dcq'], d) },
];

function tool(bin: string, args: string[], input: Buffer): Buffer {
  try {
    // The kernel appends the decompressed size after the stream: the tools may complain about it
    // (non-zero exit) after writing the whole image, so their output is checked, not their status.
    return execFileSync(bin, args, { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: Buffer };
    if (e.code === 'ENOENT') throw new Error(`${bin} not found: it is needed to decompress the kernel`);
    if (e.stdout && e.stdout.length > 0) return e.stdout;
    throw err;
  }
}

/**
 * The uncompressed kernel inside a bzImage. Throws when the file is not a bzImage (no "HdrS" setup
 * header), its payload is in an unknown format, or the result is not an ELF.
 */
export function extractVmlinux(bzImage: Buffer): Buffer {
  if (bzImage.length < 0x260 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    throw new Error('not a bzImage (no HdrS setup header at 0x202)');
  }
  const setupSects = bzImage[0x1f1] || 4;
  const protectedModeStart = (setupSects + 1) * 512;
  const payloadOffset = bzImage.readUInt32LE(0x248);
  const payloadLength = bzImage.readUInt32LE(0x24c);
  const start = protectedModeStart + payloadOffset;
  const payload = bzImage.subarray(start, start + payloadLength);
  if (payloadLength === 0 || start + payloadLength > bzImage.length) {
    throw new Error(`bzImage payload ${payloadOffset}+${payloadLength} lies outside the file`);
  }
  const format = FORMATS.find((f) => f.magic.every((b, i) => payload[i] === b));
  if (!format) {
    const head = [...payload.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`bzImage payload has an unknown compression (starts ${head})`);
  }
  const out = format.decompress(payload);
  if (!out.subarray(0, 4).equals(ELF_MAGIC)) {
    throw new Error(`the ${format.name} payload of the bzImage did not decompress to an ELF vmlinux`);
  }
  return out;
}

/**
 * The kernel unpacked in `dir` (see the header): its vmlinux, extracted on first use and cached beside
 * the bzImage. Throws naming what is missing (run scripts/setup.sh).
 */
export function loadGuestKernel(dir: string): GuestKernel {
  const boot = join(dir, 'boot');
  const images = existsSync(boot) ? readdirSync(boot).filter((f) => f.startsWith('vmlinuz-')) : [];
  if (images.length === 0) {
    throw new Error(`no kernel in ${boot} (scripts/setup.sh fetches Debian's linux-image-cloud-amd64)`);
  }
  const release = images.sort().at(-1)!.slice('vmlinuz-'.length);
  const modulesDir = join(dir, 'lib/modules', release);
  if (!existsSync(modulesDir)) throw new Error(`kernel ${release} has no modules in ${modulesDir}`);
  const vmlinux = join(boot, `vmlinux-${release}`);
  if (!existsSync(vmlinux)) {
    const tmp = `${vmlinux}.${process.pid}.tmp`;
    writeFileSync(tmp, extractVmlinux(readFileSync(join(boot, `vmlinuz-${release}`))));
    renameSync(tmp, vmlinux);
  }
  return { vmlinux, release, modulesDir };
}
