// wasi:filesystem for components: the pod's volume mounts as preopens, through preview2-shim's
// `createFilesystem({ adapter, preopens })` (browser build) with an adapter of ours over node:fs.
// Confinement as for preview-1 guests (fs-guard.ts): paths are relative to a descriptor, `..` may not
// leave the mount, and every path is re-checked with `realpath` at use, so a symlink (made later, or
// by another pod sharing the volume) cannot lead out; read-only mounts refuse every write
// (`read-only`); the guest cannot make symlinks or hard links. mounts.ts (`prepareMounts`) has
// already refused volumes holding a symlink that points outside.
//
// No host descriptor stays open between calls (each read or write opens, works, closes): the shim's
// descriptors have no drop hook, and a descriptor a guest forgot must not leak in the agent process.
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';

/** WASI 0.2 `error-code` names for the errno values node:fs reports. */
const ERRNO: Record<string, string> = {
  ENOENT: 'no-entry',
  EEXIST: 'exist',
  ENOTDIR: 'not-directory',
  EISDIR: 'is-directory',
  EACCES: 'access',
  EPERM: 'not-permitted',
  ENOTEMPTY: 'not-empty',
  EROFS: 'read-only',
  ELOOP: 'loop',
  EINVAL: 'invalid',
  ENAMETOOLONG: 'name-too-long',
  ENOSPC: 'insufficient-space',
  EBADF: 'bad-descriptor',
  EXDEV: 'cross-device',
};

function fsCall<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (typeof err === 'string') throw err;
    throw ERRNO[(err as NodeJS.ErrnoException).code ?? ''] ?? 'io';
  }
}

export interface Mount {
  /** The mount's directory on the host. */
  hostPath: string;
  readOnly: boolean;
}

/** The shim's io stream constructors (component-host.ts passes them). */
export interface StreamFactory {
  inputStreamCreate(handler: { blockingRead(len: bigint): Uint8Array }): unknown;
  outputStreamCreate(handler: Record<string, unknown>): unknown;
}

interface Timestamp {
  seconds: bigint;
  nanoseconds: number;
}

const time = (ms: number): Timestamp => ({
  seconds: BigInt(Math.floor(ms / 1000)),
  nanoseconds: Math.round((ms % 1000) * 1e6),
});

function typeOf(st: Stats): string {
  if (st.isFile()) return 'regular-file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic-link';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

function statOf(st: Stats) {
  return {
    type: typeOf(st),
    linkCount: BigInt(st.nlink),
    size: BigInt(st.size),
    dataAccessTimestamp: time(st.atimeMs),
    dataModificationTimestamp: time(st.mtimeMs),
    statusChangeTimestamp: time(st.ctimeMs),
  };
}

/** One open descriptor: a directory or file inside a mount. */
class HostDescriptor {
  private readonly mount: Mount & { realRoot: string };
  private readonly path: string;
  private readonly streams: StreamFactory;
  private readonly flags: { read: boolean; write: boolean };

  constructor(
    mount: Mount & { realRoot: string },
    path: string,
    streams: StreamFactory,
    flags: { read: boolean; write: boolean },
  ) {
    this.mount = mount;
    this.path = path;
    this.streams = streams;
    this.flags = flags;
  }

  /** `rel` against this descriptor, inside the mount, its existing part's real path inside too. */
  private at(rel: string): string {
    if (isAbsolute(rel)) throw 'not-permitted';
    const target = resolve(this.path, rel);
    const inside = (p: string, root: string) => p === root || p.startsWith(root + sep);
    if (!inside(target, this.mount.hostPath)) throw 'not-permitted';
    // The deepest existing ancestor (or the target) must really be inside: no symlink out.
    let probe = target;
    for (;;) {
      try {
        if (!inside(realpathSync(probe), this.mount.realRoot)) throw 'not-permitted';
        break;
      } catch (err) {
        if (err === 'not-permitted') throw err;
        const parent = resolve(probe, '..');
        if (parent === probe || !inside(parent, this.mount.hostPath)) throw 'not-permitted';
        probe = parent;
      }
    }
    return target;
  }

  private writable(): void {
    if (this.mount.readOnly) throw 'read-only';
  }

  private child(path: string, flags: { read: boolean; write: boolean }): HostDescriptor {
    return new HostDescriptor(this.mount, path, this.streams, flags);
  }

  readViaStream(offset: bigint) {
    let pos = Number(offset);
    const path = this.path;
    return this.streams.inputStreamCreate({
      blockingRead(len: bigint) {
        const buf = new Uint8Array(Math.min(Number(len), 1 << 20));
        const n = fsCall(() => {
          const fd = openSync(path, 'r');
          try {
            return readSync(fd, buf, 0, buf.length, pos);
          } finally {
            closeSync(fd);
          }
        });
        if (n === 0 && len > 0n) throw { tag: 'closed' };
        pos += n;
        return buf.subarray(0, n);
      },
    });
  }

  writeViaStream(offset: bigint, append = false) {
    this.writable();
    let pos = Number(offset);
    const path = this.path;
    const write = (buf: Uint8Array): void =>
      fsCall(() => {
        const fd = openSync(path, append ? 'a' : 'r+');
        try {
          pos += writeSync(fd, buf, 0, buf.length, append ? null : pos);
        } finally {
          closeSync(fd);
        }
      });
    return this.streams.outputStreamCreate({
      write,
      blockingWriteAndFlush: write,
      checkWrite: () => 1n << 20n,
      flush() {},
      blockingFlush() {},
    });
  }

  appendViaStream() {
    return this.writeViaStream(0n, true);
  }

  advise() {}
  syncData() {}
  sync() {}

  getFlags() {
    return {
      read: this.flags.read,
      write: this.flags.write && !this.mount.readOnly,
      mutateDirectory: !this.mount.readOnly,
    };
  }

  getType() {
    return typeOf(fsCall(() => lstatSync(this.path)));
  }

  setSize(size: bigint) {
    this.writable();
    fsCall(() => {
      const fd = openSync(this.path, 'r+');
      try {
        ftruncateSync(fd, Number(size));
      } finally {
        closeSync(fd);
      }
    });
  }

  setTimes() {
    this.writable();
  }

  read(length: bigint, offset: bigint): [Uint8Array, boolean] {
    const buf = new Uint8Array(Math.min(Number(length), 1 << 24));
    return fsCall(() => {
      const fd = openSync(this.path, 'r');
      try {
        const n = readSync(fd, buf, 0, buf.length, Number(offset));
        return [buf.subarray(0, n), Number(offset) + n >= fstatSync(fd).size];
      } finally {
        closeSync(fd);
      }
    });
  }

  write(buffer: Uint8Array, offset: bigint): bigint {
    this.writable();
    return fsCall(() => {
      const fd = openSync(this.path, 'r+');
      try {
        return BigInt(writeSync(fd, buffer, 0, buffer.length, Number(offset)));
      } finally {
        closeSync(fd);
      }
    });
  }

  readDirectory() {
    const entries = fsCall(() => readdirSync(this.path, { withFileTypes: true }));
    let i = 0;
    return {
      readDirectoryEntry: () => {
        const e = entries[i++];
        if (!e) return undefined;
        const type = e.isFile()
          ? 'regular-file'
          : e.isDirectory()
            ? 'directory'
            : e.isSymbolicLink()
              ? 'symbolic-link'
              : 'unknown';
        return { name: e.name, type };
      },
    };
  }

  createDirectoryAt(path: string) {
    this.writable();
    const target = this.at(path);
    fsCall(() => mkdirSync(target));
  }

  stat() {
    return statOf(fsCall(() => statSync(this.path)));
  }

  statAt(pathFlags: { symlinkFollow?: boolean }, path: string) {
    const target = this.at(path);
    return statOf(fsCall(() => (pathFlags.symlinkFollow ? statSync(target) : lstatSync(target))));
  }

  setTimesAt() {
    this.writable();
  }

  linkAt(): never {
    throw 'not-permitted';
  }

  symlinkAt(): never {
    throw 'not-permitted';
  }

  readlinkAt(): never {
    throw 'invalid';
  }

  openAt(
    _pathFlags: { symlinkFollow?: boolean },
    path: string,
    openFlags: { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean },
    flags: { read?: boolean; write?: boolean },
  ) {
    const target = this.at(path);
    const wantsWrite = !!(flags.write || openFlags.create || openFlags.truncate);
    if (wantsWrite) this.writable();
    if (openFlags.create) {
      fsCall(() => {
        const fd = openSync(target, openFlags.exclusive ? 'wx' : 'a');
        closeSync(fd);
      });
    }
    const st = fsCall(() => statSync(target));
    if (openFlags.directory && !st.isDirectory()) throw 'not-directory';
    if (!st.isDirectory() && !st.isFile()) throw 'not-permitted'; // no FIFOs or devices
    if (openFlags.truncate) {
      if (st.isDirectory()) throw 'is-directory';
      fsCall(() => ftruncateSyncPath(target));
    }
    return this.child(target, { read: flags.read !== false, write: !!flags.write });
  }

  removeDirectoryAt(path: string) {
    this.writable();
    const target = this.at(path);
    fsCall(() => rmdirSync(target));
  }

  renameAt(oldPath: string, newDescriptor: HostDescriptor, newPath: string) {
    this.writable();
    newDescriptor.writable();
    const from = this.at(oldPath);
    const to = newDescriptor.at(newPath);
    fsCall(() => renameSync(from, to));
  }

  unlinkFileAt(path: string) {
    this.writable();
    const target = this.at(path);
    fsCall(() => unlinkSync(target));
  }

  isSameObject(other: HostDescriptor) {
    const a = fsCall(() => statSync(this.path));
    const b = fsCall(() => statSync(other.path));
    return a.dev === b.dev && a.ino === b.ino;
  }

  metadataHash() {
    const st = fsCall(() => statSync(this.path));
    return { lower: BigInt(st.ino), upper: BigInt(st.dev) };
  }

  metadataHashAt(pathFlags: { symlinkFollow?: boolean }, path: string) {
    const target = this.at(path);
    const st = fsCall(() => (pathFlags.symlinkFollow ? statSync(target) : lstatSync(target)));
    return { lower: BigInt(st.ino), upper: BigInt(st.dev) };
  }
}

function ftruncateSyncPath(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, 0);
  } finally {
    closeSync(fd);
  }
}

/** The adapter preview2-shim's `createFilesystem` takes: a capability (a mount) → its root descriptor. */
export function hostAdapter(streams: StreamFactory) {
  return {
    getRoot(mount: Mount): HostDescriptor {
      const realRoot = realpathSync(mount.hostPath);
      return new HostDescriptor({ ...mount, realRoot }, mount.hostPath, streams, {
        read: true,
        write: !mount.readOnly,
      });
    },
  };
}
