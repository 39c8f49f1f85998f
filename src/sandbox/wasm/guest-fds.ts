// The guest's descriptor numbers, over node:wasi's own.
//
// A guest sees node:wasi's numbers unchanged until it renumbers onto or away from stdin, stdout or
// stderr (or closes one): uvwasi cannot do that itself — its 0..2 are host descriptors the worker shares
// across runs (the stdout/stderr capture reads fd 1 and 2 at fd_write), and its fd_renumber would close
// them. From then on this table maps every guest number to node:wasi's (wasmtime keeps such a table for
// preview 1 too): renumbering moves an entry, closing removes one, and a descriptor node:wasi opens gets
// its own number unless a renumbered one holds it already.

/**
 * What a guest number that refers to nothing becomes for node:wasi: a number it never hands out (BADF;
 * node:wasi answers INVAL for a negative one).
 */
export const NO_FD = 0xffff_ffff;

export class GuestFds {
  /** guest number → node:wasi number; undefined while the two are the same. */
  private table: Map<number, number> | undefined;

  /** True once numbers are mapped (then every call's descriptors are translated). */
  get mapped(): boolean {
    return this.table !== undefined;
  }

  /** node:wasi's number behind the guest's `fd` (NO_FD when the guest has none by that number). */
  host(fd: number): number {
    if (!this.table) return fd;
    return this.table.get(fd) ?? NO_FD;
  }

  /** Starts mapping, from the descriptors open now (stdio and `open`, all under their own numbers). */
  map(open: Iterable<number>): void {
    if (this.table) return;
    this.table = new Map([0, 1, 2, ...open].map((fd) => [fd, fd]));
  }

  /** The guest's number for a descriptor node:wasi has just opened as `host`. */
  adopt(host: number): number {
    if (!this.table) return host;
    let fd = host;
    if (this.table.has(fd)) for (fd = 3; this.table.has(fd); fd++);
    this.table.set(fd, host);
    return fd;
  }

  /** Forgets the guest's `fd`; returns node:wasi's number, which no guest number refers to any more. */
  drop(fd: number): number {
    const host = this.host(fd);
    this.table?.delete(fd);
    return host;
  }

  /**
   * fd_renumber(from, to) once mapped: `to` takes `from`'s descriptor, `from` is gone. Returns
   * node:wasi's number `to` had (NO_FD if none), which no guest number refers to any more.
   */
  move(from: number, to: number): number {
    const released = this.drop(to);
    this.table!.set(to, this.drop(from));
    return released;
  }
}
