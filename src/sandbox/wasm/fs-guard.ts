// Keeps a guest inside its mounts and read-only mounts read-only. Runs in the sandbox worker, around
// node:wasi's filesystem functions.
//
// Why node:wasi (uvwasi) alone is not enough:
//  - it checks `..` lexically but lets the kernel follow symlinks in the middle of a path, so a host
//    symlink inside a mount that points outside exposes the host (mounts.ts refuses those before start;
//    this guard re-checks every path with realpath at use, against symlinks that appear later);
//  - it lets the guest create symlinks (path_symlink), i.e. make such an escape itself: refused here;
//  - preopens carry no rights we could restrict, so read-only must be enforced here;
//  - it never closes host descriptors when an instance is discarded (preopens and files the guest left
//    open leak, ~4 per run): the guard tracks every descriptor so the worker can close them (closeAll).
//  - opening a FIFO would block the worker in open(2) where no stop can reach it: refused here;
//  - its fd_readdir leaves out `.` and `..` (wasmtime, like POSIX readdir, lists them): listed here;
//  - renumbering onto or away from stdio (wasmtime allows both) would close the worker's shared stdio
//    descriptors in uvwasi: the guest's numbers are mapped over node:wasi's instead (guest-fds.ts).

import {
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  symlinkSync,
  type Dirent,
} from 'node:fs';
import { posix } from 'node:path';
import { GuestFault, type GuestMemory } from './guest-memory.ts';
import { GuestFds, NO_FD } from './guest-fds.ts';
import type { FdKind } from './poll.ts';
import {
  DIRENT_SIZE,
  Errno,
  FD_ARGS,
  Fdflags,
  Filetype,
  LINUX_O,
  LOOKUP_SYMLINK_FOLLOW,
  Oflags,
  WRITE_RIGHTS,
} from './wasi-abi.ts';

export interface PreopenSpec {
  guestPath: string;
  /** Canonical (realpath) host directory. */
  hostPath: string;
  readOnly: boolean;
}

export type WasiFn = (...args: any[]) => number;

/** Longest path accepted from a guest (Linux PATH_MAX is 4096). */
const MAX_PATH_BYTES = 16 * 1024;

/** node:wasi numbers preopens from fd 3 in the order they are given. */
export const FIRST_PREOPEN_FD = 3;

interface FdEntry {
  mount: number;
  /** Canonical host path of the object: what the kernel resolves uvwasi's path for this fd to. */
  path: string;
  /** A directory (as opened). */
  dir: boolean;
}

type Target = { errno: number } | { entry: FdEntry; lexical: string; real?: string };

const DANGLING = Symbol('dangling');

export class FsGuard {
  private readonly mounts: PreopenSpec[];
  private readonly fds = new Map<number, FdEntry>();
  /** The guest's descriptor numbers (the keys of `fds` are node:wasi's). */
  private readonly numbers = new GuestFds();
  /** A directory's entries as last listed from cookie 0: later cookies page through the same list. */
  private readonly listings = new Map<number, Array<Dirent<Buffer>>>();
  private maxFd: number;

  constructor(mounts: PreopenSpec[]) {
    this.mounts = mounts;
    mounts.forEach((m, i) => this.fds.set(FIRST_PREOPEN_FD + i, { mount: i, path: m.hostPath, dir: true }));
    this.maxFd = FIRST_PREOPEN_FD + mounts.length - 1;
  }

  /** True once the guest's descriptor numbers differ from node:wasi's (see guest-fds.ts). */
  get mapped(): boolean {
    return this.numbers.mapped;
  }

  /** node:wasi's descriptor behind the guest's `fd` (NO_FD: none). */
  hostFd(fd: number): number {
    return this.numbers.host(fd);
  }

  /** What the guest's `fd` is, for poll_oneoff. */
  kindOf(fd: number): FdKind {
    const host = this.hostFd(fd);
    if (host === 0) return 'stdin';
    if (host === 1 || host === 2) return 'output';
    const e = this.fds.get(host);
    return !e ? 'bad' : e.dir ? 'directory' : 'file';
  }

  /** Whether node:wasi's `host` is an open descriptor (stdio always is). */
  private isOpen(host: number): boolean {
    return (host >= 0 && host <= 2) || this.fds.has(host);
  }

  /** Closes node:wasi's `host`, which no guest number refers to any more (never the shared stdio). */
  private closeHost(wasi: Record<string, WasiFn>, host: number): number {
    this.listings.delete(host);
    if (host <= 2 || host === NO_FD) return Errno.SUCCESS;
    const r = wasi.fd_close(host);
    if (r === Errno.SUCCESS) this.closed(host);
    return r;
  }

  /** Forgets node:wasi's `host` once it is closed. */
  private closed(host: number): void {
    this.fds.delete(host);
    this.listings.delete(host);
  }

  /** Replacements for node:wasi's filesystem functions. */
  wrap(wasi: Record<string, WasiFn>, mem: GuestMemory): Record<string, WasiFn> {
    const fns = this.wrapPaths(wasi, mem);
    // The wrong kind of descriptor is BADF, as in wasmtime (its get_file / get_dir_fd); uvwasi answers
    // NOTCAPABLE (a directory lacks fd_read...) or, for a file as the directory, NOTDIR.
    for (const name of FILE_ONLY) {
      const inner = fns[name] ?? wasi[name];
      fns[name] = (fd, ...rest) => (this.fds.get(fd)?.dir ? Errno.BADF : inner(fd, ...rest));
    }
    for (const name of DIR_ONLY) {
      const inner = fns[name] ?? wasi[name];
      const at = FD_ARGS[name];
      fns[name] = (...args) =>
        at.some((i) => this.fds.get(args[i])?.dir === false) ? Errno.BADF : inner(...args);
    }
    return fns;
  }

  private wrapPaths(wasi: Record<string, WasiFn>, mem: GuestMemory): Record<string, WasiFn> {
    const follow = (flags: number): boolean => (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;
    const path = (fd: number, ptr: number, len: number, fol: boolean): Target | undefined =>
      // Bounded before decoding: a guest-chosen length must not become a huge string in our heap.
      // An empty path names nothing (POSIX ENOENT, as wasmtime; uvwasi says INVAL).
      len >>> 0 > MAX_PATH_BYTES
        ? { errno: Errno.NAMETOOLONG }
        : len >>> 0 === 0 && this.fds.has(fd)
          ? { errno: Errno.NOENT }
          : this.target(fd, mem.string(ptr, len), fol);
    const readOnly = (t: Target | undefined): boolean =>
      !!t && 'entry' in t && this.mounts[t.entry.mount].readOnly;
    const fdReadOnly = (fd: number): boolean => {
      const e = this.fds.get(fd);
      return !!e && this.mounts[e.mount].readOnly;
    };
    const denied = (t: Target | undefined): number | undefined => (t && 'errno' in t ? t.errno : undefined);

    /** Runs a mutation of one path: confined, refused on read-only mounts. */
    const mutate =
      (name: string, fol: (args: any[]) => boolean, pathArg: number) =>
      (...args: any[]): number =>
        guarded(() => {
          const t = path(args[0], args[pathArg], args[pathArg + 1], fol(args));
          const err = denied(t);
          if (err !== undefined) return err;
          if (readOnly(t)) return Errno.ROFS;
          return wasi[name](...args);
        });
    /** Runs a read of one path: confined. */
    const inspect =
      (name: string, fol: (args: any[]) => boolean, pathArg: number) =>
      (...args: any[]): number =>
        guarded(() => {
          const err = denied(path(args[0], args[pathArg], args[pathArg + 1], fol(args)));
          return err !== undefined ? err : wasi[name](...args);
        });
    const fdMutate =
      (name: string) =>
      (fd: number, ...rest: any[]): number =>
        fdReadOnly(fd) ? Errno.ROFS : wasi[name](fd, ...rest);

    return {
      path_open: (dirfd, dirflags, ptr, len, oflags, rightsBase, rightsInheriting, fdflags, fdPtr) =>
        guarded(() => {
          // A final symlink is never followed by O_CREAT|O_EXCL (EEXIST) nor without lookupflags.symlink_follow
          // (ELOOP, as O_NOFOLLOW); a trailing slash follows it (POSIX). uvwasi follows it regardless.
          const exclusive = (oflags & (Oflags.CREAT | Oflags.EXCL)) === (Oflags.CREAT | Oflags.EXCL);
          if (exclusive || !follow(dirflags)) {
            const own = path(dirfd, ptr, len, false);
            if (own && 'entry' in own && own.real && isSymlink(own.real)) {
              if (exclusive) return Errno.EXIST;
              if (!mem.string(ptr, len).endsWith('/')) return Errno.LOOP;
            }
          }
          const t = path(dirfd, ptr, len, follow(dirflags));
          const err = denied(t);
          if (err !== undefined) return err;
          const writes =
            (oflags & (Oflags.CREAT | Oflags.TRUNC)) !== 0 || (BigInt(rightsBase) & WRITE_RIGHTS) !== 0n;
          if (writes && readOnly(t)) return Errno.ROFS;
          if (t && 'entry' in t && t.real && isSpecialFile(t.real)) return Errno.NOTSUP;
          const r = wasi.path_open(
            dirfd,
            dirflags,
            ptr,
            len,
            oflags,
            rightsBase,
            rightsInheriting,
            fdflags,
            fdPtr,
          );
          if (r === Errno.SUCCESS) {
            const fd = mem.view().getUint32(fdPtr >>> 0, true);
            if (this.numbers.mapped) mem.view().setUint32(fdPtr >>> 0, this.numbers.adopt(fd), true);
            if (t && 'entry' in t) {
              const path = canonical(t.lexical);
              this.track(fd, { mount: t.entry.mount, path, dir: isDirectory(path) });
            } else this.maxFd = Math.max(this.maxFd, fd);
          }
          return r;
        }),
      path_create_directory: mutate('path_create_directory', () => false, 1),
      // rmdir of "." (or "x/.") is EINVAL in POSIX and wasmtime; uvwasi resolves it to the directory.
      path_remove_directory: (fd, ptr, len) =>
        guarded(() =>
          len >>> 0 > 0 && len >>> 0 <= MAX_PATH_BYTES && /(^|\/)\.\/*$/.test(mem.string(ptr, len))
            ? Errno.INVAL
            : mutate('path_remove_directory', () => false, 1)(fd, ptr, len),
        ),
      path_unlink_file: mutate('path_unlink_file', () => false, 1),
      path_filestat_set_times: mutate('path_filestat_set_times', (a) => follow(a[1]), 2),
      path_filestat_get: inspect('path_filestat_get', (a) => follow(a[1]), 2),
      // uvwasi answers NOBUFS when the link's text does not fit; wasmtime (preview1_readlink) truncates
      // it silently, bufused == buf_len, and an empty buffer is fine.
      path_readlink: (fd, ptr, len, buf, bufLen, bufusedPtr) =>
        guarded(() => {
          const r = inspect('path_readlink', () => false, 1)(fd, ptr, len, buf, bufLen, bufusedPtr);
          if (r !== Errno.NOBUFS) return r;
          const t = path(fd, ptr, len, false);
          if (!t || !('entry' in t) || !t.real) return r;
          let text: Buffer;
          try {
            text = readlinkSync(t.real, { encoding: 'buffer' });
          } catch (err) {
            return errnoOf(err);
          }
          const n = Math.min(text.length, bufLen >>> 0);
          mem.bytes(buf, n).set(text.subarray(0, n));
          mem.view().setUint32(bufusedPtr >>> 0, n, true);
          return Errno.SUCCESS;
        }),
      path_rename: (fd, oldPtr, oldLen, newFd, newPtr, newLen) =>
        guarded(() => {
          const from = path(fd, oldPtr, oldLen, false);
          const to = path(newFd, newPtr, newLen, false);
          const err = denied(from) ?? denied(to);
          if (err !== undefined) return err;
          if (readOnly(from) || readOnly(to)) return Errno.ROFS;
          return wasi.path_rename(fd, oldPtr, oldLen, newFd, newPtr, newLen);
        }),
      // A hard link out of a read-only mount would make its file writable through the other name.
      path_link: (oldFd, oldFlags, oldPtr, oldLen, newFd, newPtr, newLen) =>
        guarded(() => {
          const from = path(oldFd, oldPtr, oldLen, follow(oldFlags));
          const to = path(newFd, newPtr, newLen, false);
          const err = denied(from) ?? denied(to);
          if (err !== undefined) return err;
          if (readOnly(from) || readOnly(to)) return Errno.ROFS;
          return wasi.path_link(oldFd, oldFlags, oldPtr, oldLen, newFd, newPtr, newLen);
        }),
      // A guest may link inside its own volume (as wasmtime allows); a target that is absolute or leaves
      // the volume is refused outright. Made here, not by uvwasi, which vets the target against the
      // directory descriptor instead of the link's own directory. Following stays vetted at every use.
      path_symlink: (oldPtr, oldLen, fd, newPtr, newLen) =>
        guarded(() => {
          if (oldLen >>> 0 > MAX_PATH_BYTES) return Errno.NAMETOOLONG;
          const linkTarget = mem.string(oldPtr, oldLen);
          const t = path(fd, newPtr, newLen, false);
          const err = denied(t);
          if (err !== undefined) return err;
          if (!t || !('entry' in t)) return Errno.BADF;
          if (!t.real) return Errno.NOENT;
          if (readOnly(t)) return Errno.ROFS;
          const root = this.mounts[t.entry.mount].hostPath;
          if (linkTarget === '' || linkTarget.includes('\0')) return Errno.INVAL;
          if (linkTarget.startsWith('/') || !within(posix.resolve(posix.dirname(t.real), linkTarget), root)) {
            return Errno.PERM;
          }
          const trailing = mem.string(newPtr, newLen).endsWith('/');
          try {
            symlinkSync(linkTarget, trailing ? `${t.real}/` : t.real);
            return Errno.SUCCESS;
          } catch (e) {
            return errnoOf(e);
          }
        }),
      fd_filestat_set_times: fdMutate('fd_filestat_set_times'),
      fd_filestat_set_size: fdMutate('fd_filestat_set_size'),
      fd_allocate: fdMutate('fd_allocate'),
      // uvwasi answers INVAL for an open descriptor that is not a preopen; wasmtime (and wasi-libc's
      // preopen scan, which stops at BADF) expect BADF.
      fd_prestat_get: (fd, ptr) => {
        const r = wasi.fd_prestat_get(fd, ptr);
        return r === Errno.INVAL ? Errno.BADF : r;
      },
      // uvwasi reports the host's open(2) flags (O_RDWR|O_LARGEFILE...) as fs_flags: translate.
      fd_fdstat_get: (fd, ptr) =>
        guarded(() => {
          const r = wasi.fd_fdstat_get(fd, ptr);
          if (r !== Errno.SUCCESS) return r;
          const view = mem.view();
          const host = view.getUint16((ptr >>> 0) + 2, true) | 0;
          view.setUint16((ptr >>> 0) + 2, fdflagsOf(host), true);
          return r;
        }),
      // A preview1 guest has no sockets: every descriptor it holds is NOTSOCK (uvwasi's own sock_*
      // ended the whole process).
      sock_accept: (fd) => this.sockErrno(fd),
      sock_recv: (fd) => this.sockErrno(fd),
      sock_send: (fd) => this.sockErrno(fd),
      sock_shutdown: (fd) => this.sockErrno(fd),
      fd_readdir: (fd, buf, bufLen, cookie, bufusedPtr) =>
        guarded(() => {
          const e = this.fds.get(fd);
          if (e && !e.dir) return Errno.NOTDIR;
          // node:wasi vets the descriptor and its fd_readdir right (nothing is written with length 0).
          const r = wasi.fd_readdir(fd, buf, 0, 0n, bufusedPtr);
          if (r !== Errno.SUCCESS || !e) return r;
          return this.readdir(mem, fd, e, buf, bufLen, BigInt(cookie), bufusedPtr);
        }),
      // These two take the guest's own numbers (host-imports does not translate them).
      fd_close: (fd) => {
        fd >>>= 0;
        const host = this.numbers.host(fd);
        if (!this.numbers.mapped && host > 2) {
          const r = wasi.fd_close(host); // node:wasi's own answer (BADF for a bad one)
          if (r === Errno.SUCCESS) this.closed(host);
          return r;
        }
        if (!this.isOpen(host)) return Errno.BADF;
        if (host <= 2 && !this.numbers.mapped) {
          // Closing stdio: from now on the guest's numbers are its own (its fd 1 is gone, as in wasmtime;
          // node:wasi's stays open, the worker shares it).
          this.numbers.map(this.fds.keys());
        }
        return this.closeHost(wasi, this.numbers.drop(fd));
      },
      // Only `from` must be open (wasmtime's fd_renumber): renumbering onto an unused number moves it.
      fd_renumber: (from, to) => {
        from >>>= 0;
        to >>>= 0;
        const [hostFrom, hostTo] = [this.numbers.host(from), this.numbers.host(to)];
        if (!this.isOpen(hostFrom)) return Errno.BADF;
        if (from === to) return Errno.SUCCESS;
        this.listings.delete(hostFrom);
        this.listings.delete(hostTo);
        if (!this.numbers.mapped && from > 2 && to > 2 && this.isOpen(hostTo)) {
          // Both are node:wasi's own numbers: its renumber closes `to` and moves `from` there.
          const r = wasi.fd_renumber(from, to);
          if (r === Errno.SUCCESS) {
            const e = this.fds.get(from);
            this.fds.delete(from);
            if (e) this.track(to, e);
            else this.fds.delete(to);
          }
          return r;
        }
        // Onto or away from stdio (uvwasi would close the worker's shared stdio descriptors), or onto an
        // unused number (uvwasi refuses): the guest's numbers are mapped from now on.
        this.numbers.map(this.fds.keys());
        return this.closeHost(wasi, this.numbers.move(from, to));
      },
    };
  }

  /**
   * fd_readdir as wasmtime answers it: `.` (d_next 1), `..` (2), then the host's entries in its order
   * (3, 4, ...); entries are packed back to back and the last one is cut at the end of the buffer, so a
   * full buffer (bufused == buf_len) means "call again from the last whole entry's d_next". d_ino is the
   * entry's own inode (lstat); `..` repeats the directory's, as wasmtime does.
   */
  private readdir(
    mem: GuestMemory,
    fd: number,
    e: FdEntry,
    buf: number,
    bufLen: number,
    cookie: bigint,
    bufusedPtr: number,
  ): number {
    bufLen >>>= 0;
    mem.check(buf, bufLen);
    mem.check(bufusedPtr, 4);
    let entries = cookie === 0n ? undefined : this.listings.get(fd);
    if (!entries) {
      try {
        entries = readdirSync(e.path, { withFileTypes: true, encoding: 'buffer' });
      } catch (err) {
        return errnoOf(err);
      }
      this.listings.set(fd, entries);
    }
    const dirIno = inodeOf(e.path);
    const out = mem.bytes(buf, bufLen);
    const header = new DataView(new ArrayBuffer(DIRENT_SIZE));
    let used = 0;
    for (let i = cookie; used < bufLen && i < BigInt(entries.length) + 2n; i++) {
      const n = Number(i);
      const name = n === 0 ? DOT : n === 1 ? DOTDOT : entries[n - 2].name;
      const type = n < 2 ? Filetype.DIRECTORY : filetypeOf(entries[n - 2]);
      const ino = n < 2 ? dirIno : inodeOf(Buffer.concat([Buffer.from(`${e.path}/`), name]));
      header.setBigUint64(0, i + 1n, true);
      header.setBigUint64(8, ino, true);
      header.setUint32(16, name.length, true);
      header.setUint32(20, type, true); // d_type, then padding
      for (const part of [new Uint8Array(header.buffer), name]) {
        const n = Math.min(part.length, bufLen - used);
        out.set(part.subarray(0, n), used);
        used += n;
      }
    }
    mem.view().setUint32(bufusedPtr >>> 0, used, true);
    return Errno.SUCCESS;
  }

  /** Closes every descriptor the instance may still hold (node:wasi never does). */
  closeAll(fdClose: WasiFn): void {
    for (let fd = FIRST_PREOPEN_FD; fd <= this.maxFd; fd++) {
      try {
        fdClose(fd);
      } catch {
        // Already closed or never opened: nothing to release.
      }
    }
    this.fds.clear();
    this.listings.clear();
  }

  /** NOTSOCK for a descriptor the guest holds, BADF otherwise. */
  private sockErrno(fd: number): number {
    return fd >= 0 && (fd <= 2 || this.fds.has(fd)) ? Errno.NOTSOCK : Errno.BADF;
  }

  private track(fd: number, e: FdEntry): void {
    this.fds.set(fd, e);
    if (fd > this.maxFd) this.maxFd = fd;
  }

  /**
   * Where `guestPath` (relative to `dirfd`) really lands on the host, or the errno that refuses it.
   * undefined: dirfd is not a directory we track (stdio or bad fd) — node:wasi rejects that itself.
   */
  private target(dirfd: number, guestPath: string, follow: boolean): Target | undefined {
    const entry = this.fds.get(dirfd);
    if (!entry) return undefined;
    if (guestPath.includes('\0')) return { errno: Errno.INVAL };
    // A path relative to a file: NOTDIR, as wasmtime (uvwasi says NOTCAPABLE: a file lacks the rights).
    if (!isDirectory(entry.path)) return { errno: Errno.NOTDIR };
    const root = this.mounts[entry.mount].hostPath;
    // Mirrors uvwasi: normalise lexically; nothing may climb above the directory it is relative to.
    const lexical = posix.resolve(entry.path, guestPath);
    if (!within(lexical, entry.path)) return { errno: Errno.NOTCAPABLE };
    const real = realTarget(lexical, follow);
    if (real === DANGLING) return { errno: Errno.NOENT };
    if (real !== undefined && !within(real, root)) return { errno: Errno.NOTCAPABLE };
    const notDir = dotAfterNonDirectory(entry.path, guestPath, root);
    if (notDir !== undefined) return { errno: notDir };
    return { entry, lexical, real };
  }
}

/**
 * uvwasi drops `.` and `..` lexically, so "file/." opened the file and "file/../x" opened x; the kernel
 * (and wasmtime) resolve each component: what precedes a `.` or `..` must be a directory (NOTDIR), and
 * must exist (NOENT). Only prefixes inside the volume are looked at.
 */
function dotAfterNonDirectory(base: string, guestPath: string, root: string): number | undefined {
  if (!guestPath.includes('.')) return undefined;
  const parts = guestPath.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (parts[i] !== '.' && parts[i] !== '..') continue;
    const prefix = posix.resolve(base, parts.slice(0, i).join('/'));
    if (!within(prefix, root)) continue;
    try {
      if (!statSync(prefix).isDirectory()) return Errno.NOTDIR;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? Errno.NOTDIR : Errno.NOENT;
    }
  }
  return undefined;
}

/** Functions that need a file descriptor (wasmtime: BADF for a directory). */
const FILE_ONLY = [
  'fd_read',
  'fd_write',
  'fd_pread',
  'fd_pwrite',
  'fd_seek',
  'fd_tell',
  'fd_sync',
  'fd_datasync',
  'fd_allocate',
  'fd_filestat_set_size',
] as const;

/** path_* functions whose descriptors must be directories (wasmtime: BADF; path_open says NOTDIR). */
const DIR_ONLY = [
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
] as const;

/** True when `p` is `dir` or below it (both canonical). */
export function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * The canonical host path the kernel will use for `lexical`: the whole path resolved when the final
 * symlink is followed, else the parent resolved plus the final name. undefined when the parent does
 * not exist (the call itself will fail with ENOENT); DANGLING when following a broken symlink, whose
 * target we cannot vet.
 */
function realTarget(lexical: string, follow: boolean): string | typeof DANGLING | undefined {
  if (follow) {
    try {
      return realpathSync.native(lexical);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
      if (isSymlink(lexical)) return DANGLING;
    }
  }
  try {
    return posix.join(realpathSync.native(posix.dirname(lexical)), posix.basename(lexical));
  } catch {
    return undefined;
  }
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

function inodeOf(p: string | Buffer): bigint {
  try {
    return lstatSync(p, { bigint: true }).ino;
  } catch {
    return 0n; // vanished since it was listed
  }
}

function filetypeOf(d: Dirent<Buffer>): number {
  if (d.isDirectory()) return Filetype.DIRECTORY;
  if (d.isFile()) return Filetype.REGULAR_FILE;
  if (d.isSymbolicLink()) return Filetype.SYMBOLIC_LINK;
  if (d.isBlockDevice()) return Filetype.BLOCK_DEVICE;
  if (d.isCharacterDevice()) return Filetype.CHARACTER_DEVICE;
  if (d.isSocket()) return Filetype.SOCKET_STREAM;
  return Filetype.UNKNOWN;
}

function canonical(p: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    return p;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return true; // gone or unreadable: let the call itself report it
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** FIFOs, sockets and devices: open(2) or read(2) on them can block the worker indefinitely. */
function isSpecialFile(p: string): boolean {
  try {
    const st = statSync(p);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/** A host error from node:fs as a WASI errno. */
function errnoOf(e: unknown): number {
  const codes: Record<string, number> = {
    EEXIST: Errno.EXIST,
    ENOENT: Errno.NOENT,
    ENOTDIR: Errno.NOTDIR,
    EACCES: Errno.ACCES,
    EPERM: Errno.PERM,
    ENAMETOOLONG: Errno.NAMETOOLONG,
    ELOOP: Errno.LOOP,
    EROFS: Errno.ROFS,
    ENOSPC: Errno.NOSPC,
    EISDIR: Errno.ISDIR,
  };
  return codes[(e as NodeJS.ErrnoException).code ?? ''] ?? Errno.INVAL;
}

/**
 * fdflags from the open(2) flags uvwasi reports (16 bits of them). O_SYNC's bits do not fit; its
 * O_DSYNC part shows as DSYNC.
 */
function fdflagsOf(host: number): number {
  let f = 0;
  if (host & LINUX_O.APPEND) f |= Fdflags.APPEND;
  if (host & LINUX_O.NONBLOCK) f |= Fdflags.NONBLOCK;
  if (host & LINUX_O.DSYNC) f |= Fdflags.DSYNC;
  return f;
}

/** Maps faults in our own checks to errnos instead of letting them unwind the guest. */
function guarded(fn: () => number): number {
  try {
    return fn();
  } catch (err) {
    if (err instanceof GuestFault) return Errno.FAULT;
    return Errno.INVAL;
  }
}
