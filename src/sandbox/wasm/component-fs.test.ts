// wasi:filesystem for components over real directories, through the same preview2-shim descriptors the
// transpiled glue calls (componentFilesystem): reads and writes inside a mount, and the confinement —
// `..`, absolute paths, a symlink made after start that points outside, read-only mounts, no links.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentFilesystem } from './component-host.ts';
import { tempDir } from './test-support.ts';

let tmp: ReturnType<typeof tempDir>;
let rw: any;
let ro: any;
const RD = { read: true };
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return 'nothing thrown';
};

function readAll(stream: any): string {
  const parts: Uint8Array[] = [];
  for (;;) {
    try {
      parts.push(stream.blockingRead(65536n));
    } catch (e) {
      if ((e as { tag?: string }).tag === 'closed') break;
      throw e;
    }
  }
  return Buffer.concat(parts).toString('utf8');
}

beforeAll(() => {
  tmp = tempDir('strata-component-fs-');
  mkdirSync(join(tmp.path, 'data/sub'), { recursive: true });
  mkdirSync(join(tmp.path, 'config'));
  mkdirSync(join(tmp.path, 'outside'));
  writeFileSync(join(tmp.path, 'data/a.txt'), 'alpha\n');
  writeFileSync(join(tmp.path, 'config/settings'), 'x=1\n');
  writeFileSync(join(tmp.path, 'outside/secret'), 'secret\n');
  const fs = componentFilesystem([
    { guestPath: '/data', hostPath: join(tmp.path, 'data'), readOnly: false },
    { guestPath: '/config', hostPath: join(tmp.path, 'config'), readOnly: true },
  ]);
  const dirs = fs.preopens.getDirectories();
  expect(dirs.map(([, p]) => p)).toEqual(['/data', '/config']);
  rw = dirs[0][0];
  ro = dirs[1][0];
});
afterAll(() => tmp?.remove());

describe('component filesystem', () => {
  it('reads, writes, lists, renames and removes inside a writable mount', () => {
    const a = rw.openAt({ symlinkFollow: true }, 'a.txt', {}, RD);
    expect(readAll(a.readViaStream(0n))).toBe('alpha\n');
    expect(a.stat()).toMatchObject({ type: 'regular-file', size: 6n });

    const b = rw.openAt({}, 'sub/b.txt', { create: true }, { read: true, write: true });
    const out = b.writeViaStream(0n);
    out.blockingWriteAndFlush(new TextEncoder().encode('written by the guest\n'));
    expect(readFileSync(join(tmp.path, 'data/sub/b.txt'), 'utf8')).toBe('written by the guest\n');

    const listing = rw.openAt({}, 'sub', { directory: true }, RD).readDirectory();
    const names: string[] = [];
    for (let e = listing.readDirectoryEntry(); e; e = listing.readDirectoryEntry()) names.push(e.name);
    expect(names).toEqual(['b.txt']);

    rw.renameAt('sub/b.txt', rw, 'c.txt');
    expect(rw.statAt({}, 'c.txt')).toMatchObject({ type: 'regular-file' });
    rw.unlinkFileAt('c.txt');
    expect(thrown(() => rw.statAt({}, 'c.txt'))).toBe('no-entry');
    expect(thrown(() => rw.openAt({}, 'a.txt', { create: true, exclusive: true }, RD))).toBe('exist');
  });

  it('keeps the guest inside its mounts', () => {
    expect(thrown(() => rw.openAt({}, '../outside/secret', {}, RD))).toBe('not-permitted');
    expect(thrown(() => rw.openAt({}, '/etc/passwd', {}, RD))).toBe('not-permitted');
    expect(thrown(() => rw.statAt({}, 'sub/../../outside'))).toBe('not-permitted');
    // A symlink that appears after start (another pod, the node) leads nowhere.
    symlinkSync(join(tmp.path, 'outside'), join(tmp.path, 'data/escape'));
    expect(thrown(() => rw.openAt({ symlinkFollow: true }, 'escape/secret', {}, RD))).toBe('not-permitted');
    expect(thrown(() => rw.openAt({}, 'escape/new', { create: true }, RD))).toBe('not-permitted');
    expect(thrown(() => rw.symlinkAt('/etc', 'link'))).toBe('not-permitted');
  });

  it('refuses every write to a read-only mount', () => {
    const s = ro.openAt({}, 'settings', {}, RD);
    expect(readAll(s.readViaStream(0n))).toBe('x=1\n');
    expect(thrown(() => ro.openAt({}, 'new', { create: true }, { write: true }))).toBe('read-only');
    expect(thrown(() => s.writeViaStream(0n))).toBe('read-only');
    expect(thrown(() => ro.unlinkFileAt('settings'))).toBe('read-only');
    expect(thrown(() => ro.createDirectoryAt('d'))).toBe('read-only');
    expect(readFileSync(join(tmp.path, 'config/settings'), 'utf8')).toBe('x=1\n');
  });
});
