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
//  - opening a FIFO would block the worker in open(2) where no stop can reach it: refused here.

import { lstatSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { GuestFault, type GuestMemory } from './guest-memory.ts';
import { Errno, Fdflags, LINUX_O, LOOKUP_SYMLINK_FOLLOW, Oflags, WRITE_RIGHTS } from './wasi-abi.ts';

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
}

type Target = { errno: number } | { entry: FdEntry; lexical: string; real?: string };

const DANGLING = Symbol('dangling');

export class FsGuard {
  private readonly mounts: PreopenSpec[];
  private readonly fds = new Map<number, FdEntry>();
  private maxFd: number;

  constructor(mounts: PreopenSpec[]) {
    this.mounts = mounts;
    mounts.forEach((m, i) => this.fds.set(FIRST_PREOPEN_FD + i, { mount: i, path: m.hostPath }));
    this.maxFd = FIRST_PREOPEN_FD + mounts.length - 1;
  }

  /** Replacements for node:wasi's filesystem functions. */
  wrap(wasi: Record<string, WasiFn>, mem: GuestMemory): Record<string, WasiFn> {
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
            if (t && 'entry' in t) this.track(fd, { mount: t.entry.mount, path: canonical(t.lexical) });
            else this.maxFd = Math.max(this.maxFd, fd);
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
      path_readlink: inspect('path_readlink', () => false, 1),
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
      fd_readdir: (fd, ...rest) => {
        const e = this.fds.get(fd);
        return e && !isDirectory(e.path) ? Errno.NOTDIR : wasi.fd_readdir(fd, ...rest);
      },
      fd_close: (fd) => {
        // The stdio descriptors are shared by the worker across runs: closing them is a no-op.
        if (fd >= 0 && fd <= 2) return Errno.SUCCESS;
        const r = wasi.fd_close(fd);
        if (r === Errno.SUCCESS) this.fds.delete(fd);
        return r;
      },
      fd_renumber: (from, to) => {
        // uvwasi would close the host descriptor behind `to`; stdio ones are shared, so refuse.
        if (from <= 2 || to <= 2) return Errno.NOTSUP;
        const r = wasi.fd_renumber(from, to);
        if (r === Errno.SUCCESS) {
          const e = this.fds.get(from);
          this.fds.delete(from);
          if (e) this.track(to, e);
          else this.fds.delete(to);
        }
        return r;
      },
    };
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
    return { entry, lexical, real };
  }
}

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
