// A writer for the cpio "newc" format (SVR4, no CRC), the format the Linux kernel unpacks an initramfs
// from (Documentation/driver-api/early-userspace/buffer-format.rst). Uncompressed on purpose: the guest
// would spend TCG time decompressing it. Several archives concatenated are one initramfs to the kernel:
// the tier appends a small per-sandbox archive to a cached base one.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** One archive of `entries` (paths relative to the root, no leading slash), ending in the trailer. */
export function cpioArchive(entries: readonly CpioEntry[], firstInode = 1): Buffer {
  const parts: Buffer[] = [];
  let ino = firstInode;
  const put = (name: string, mode: number, data: Uint8Array, nlink: number): void => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const header =
      '070701' +
      hex8(name === TRAILER ? 0 : ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(nlink) +
      hex8(0) + // mtime: reproducible archives
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) + // devminor
      hex8(0) + // rdevmajor
      hex8(0) + // rdevminor
      hex8(nameBytes.length) +
      hex8(0); // check
    parts.push(Buffer.from(header, 'latin1'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
    parts.push(Buffer.from(data), Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (!path || path.split('/').includes('..'))
      throw new Error(`cpio entry "${e.path}": not a relative path`);
    if (e.type === 'dir') put(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), 2);
    else if (e.type === 'file') put(path, S_IFREG | (e.mode ?? 0o644), e.data, 1);
    else put(path, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), 1);
  }
  put(TRAILER, 0, new Uint8Array(0), 1);
  return Buffer.concat(parts);
}
