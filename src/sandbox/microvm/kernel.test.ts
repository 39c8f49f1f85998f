import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractVmlinux, loadGuestKernel } from './kernel.ts';
import { kernelDir } from './test-support.ts';

/** A minimal bzImage: a setup header ("HdrS", setup_sects, payload offset/length) and a payload. */
function bzImage(payload: Buffer, setupSects = 2, payloadOffset = 100): Buffer {
  const start = (setupSects + 1) * 512;
  const img = Buffer.alloc(start + payloadOffset + payload.length + 16);
  img[0x1f1] = setupSects;
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt32LE(payloadOffset, 0x248);
  img.writeUInt32LE(payload.length, 0x24c);
  payload.copy(img, start + payloadOffset);
  return img;
}

const elf = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
  Buffer.from('rest of a vmlinux '.repeat(100)),
]);

describe('extractVmlinux', () => {
  it('finds the payload through the setup header and decompresses gzip', () => {
    expect(extractVmlinux(bzImage(gzipSync(elf)))).toEqual(elf);
  });

  it('decompresses xz and lz4 payloads with the Debian tools, despite the trailing size', () => {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(elf.length);
    const xz = execFileSync('xz', ['-c', '--check=crc32'], { input: elf });
    expect(extractVmlinux(bzImage(Buffer.concat([xz, size])))).toEqual(elf);
    const lz4 = execFileSync('lz4', ['-l', '-c'], { input: elf });
    expect(extractVmlinux(bzImage(Buffer.concat([lz4, size])))).toEqual(elf);
  });

  it('says what is wrong with a file that is not a bzImage or not a kernel', () => {
    expect(() => extractVmlinux(Buffer.alloc(4096))).toThrow(/not a bzImage/);
    expect(() => extractVmlinux(bzImage(Buffer.from('plain text payload')))).toThrow(/unknown compression/);
    expect(() => extractVmlinux(bzImage(gzipSync(Buffer.from('not an elf'))))).toThrow(
      /did not decompress to an ELF/,
    );
    const lying = bzImage(gzipSync(elf));
    lying.writeUInt32LE(1 << 30, 0x24c);
    expect(() => extractVmlinux(lying)).toThrow(/outside the file/);
  });
});

describe.skipIf(!existsSync(`${kernelDir}/boot`))(
  'loadGuestKernel (the kernel scripts/setup.sh fetched)',
  () => {
    it('gives an uncompressed ELF vmlinux, the release and the modules directory', () => {
      const k = loadGuestKernel(kernelDir);
      expect(readFileSync(k.vmlinux).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      expect(k.release).toMatch(/^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
      expect(existsSync(`${k.modulesDir}/modules.builtin`)).toBe(true);
    }, 60_000);

    it('says where the kernel should be when there is none', () => {
      expect(() => loadGuestKernel('/nonexistent')).toThrow(/no kernel in \/nonexistent\/boot .*setup\.sh/);
    });
  },
);
