// Path handling for extraction into a root directory, done here rather than trusted to a library:
// every path component is resolved inside the root with lstat and never through a symlink, so no entry
// of a hostile archive (absolute path, "..", a symlink planted by an earlier entry, a hardlink to a host
// file) can make us write, link or chmod anything outside the root.
import type { Stats } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from './errors.ts';

/**
 * Splits a tar entry name into components. "./" prefixes and empty or "." components are dropped (tar
 * writers differ); absolute names, ".." components and NUL bytes are refused outright: neutralising them
 * would silently put the file somewhere its author did not mean.
 */
export function entryComponents(name: string, what: string): string[] {
  if (name.includes('\0')) throw unsafe(what, `entry name ${JSON.stringify(name)} contains a NUL byte`);
  if (name.startsWith('/')) throw unsafe(what, `entry ${JSON.stringify(name)} has an absolute path`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw unsafe(what, `entry ${JSON.stringify(name)} has a ".." component`);
  return parts;
}

export function unsafe(what: string, detail: string): ImageError {
  return new ImageError('UnsafeLayer', `${what}: ${detail}; refusing to unpack it`);
}

export class RootedTree {
  readonly root: string;
  private readonly what: string;
  /** Relative paths known to be real directories (we created or lstat'ed them and have not replaced them since). */
  private readonly dirs = new Set<string>(['']);

  constructor(root: string, what: string) {
    this.root = root;
    this.what = what;
  }

  abs(components: string[]): string {
    return join(this.root, ...components);
  }

  /**
   * Makes sure every component is a real directory (creating missing ones with mode 0755), refusing to
   * go through a symlink or a non-directory. Returns the absolute path.
   */
  async ensureDir(components: string[], entry: string): Promise<string> {
    let rel = '';
    for (const c of components) {
      rel = rel ? `${rel}/${c}` : c;
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      const st = await lstatOrUndefined(abs);
      if (!st) await mkdir(abs, { mode: 0o755 });
      else if (st.isSymbolicLink())
        throw unsafe(
          this.what,
          `entry ${JSON.stringify(entry)} would be written through the symlink "${rel}"`,
        );
      else if (!st.isDirectory())
        throw unsafe(
          this.what,
          `entry ${JSON.stringify(entry)} needs "${rel}" to be a directory, but it is a file`,
        );
      this.dirs.add(rel);
    }
    return join(this.root, ...components);
  }

  /** lstat of an existing path whose parents are all real directories; undefined when any is missing. */
  async lookup(components: string[], entry: string): Promise<Stats | undefined> {
    let rel = '';
    for (let i = 0; i < components.length; i++) {
      rel = rel ? `${rel}/${components[i]}` : components[i];
      const last = i === components.length - 1;
      if (!last && this.dirs.has(rel)) continue;
      const st = await lstatOrUndefined(join(this.root, rel));
      if (!st) return undefined;
      if (last) return st;
      if (st.isSymbolicLink())
        throw unsafe(this.what, `entry ${JSON.stringify(entry)} refers through the symlink "${rel}"`);
      if (!st.isDirectory()) return undefined;
      this.dirs.add(rel);
    }
    return lstatOrUndefined(this.root);
  }

  /** True when the path is (still) a real directory reached through real directories. */
  async isRealDir(components: string[]): Promise<boolean> {
    let abs = this.root;
    for (const c of components) {
      abs = join(abs, c);
      const st = await lstatOrUndefined(abs);
      if (!st || !st.isDirectory()) return false;
    }
    return true;
  }

  /** Records that a directory now exists at this path (we just created it). */
  markDir(components: string[]): void {
    this.dirs.add(components.join('/'));
  }

  /**
   * Removes whatever is at the path (recursively, without following symlinks) so a new entry can take
   * its place, and forgets every cached directory at or below it.
   */
  async clear(components: string[]): Promise<void> {
    const rel = components.join('/');
    await rm(join(this.root, rel), { recursive: true, force: true });
    for (const d of this.dirs) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
  }
}

export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
