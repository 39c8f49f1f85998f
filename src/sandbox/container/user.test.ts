import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './test-support.ts';
import { resolveUser } from './user.ts';

const tmp = tempDir('strata-user-');
afterAll(() => tmp.remove());

function rootfs(passwd: string, group: string): string {
  const dir = join(tmp.path, `r${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/passwd'), passwd);
  writeFileSync(join(dir, 'etc/group'), group);
  return dir;
}

const r = rootfs(
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  'root:x:0:\napp:x:1000:\nvideo:x:44:app,other\nwww:x:33:\n',
);

describe('resolveUser', () => {
  it('defaults to root with its home', () => {
    expect(resolveUser(r, undefined)).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [],
      home: '/root',
      name: 'root',
    });
  });

  it('resolves names and groups from the image, with memberships', () => {
    expect(resolveUser(r, 'app')).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [44],
      home: '/home/app',
      name: 'app',
    });
    expect(resolveUser(r, 'app:www')).toMatchObject({ uid: 1000, gid: 33, additionalGids: [44] });
    expect(resolveUser(r, '1000:7')).toMatchObject({ uid: 1000, gid: 7 });
  });

  it('runs an unknown numeric uid with gid 0 and HOME /', () => {
    expect(resolveUser(r, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });

  it('applies runAsUser/runAsGroup/supplementalGroups over the image', () => {
    expect(resolveUser(r, 'root', { runAsUser: 1000, runAsGroup: 5, supplementalGroups: [9, 5] })).toEqual({
      uid: 1000,
      gid: 5,
      additionalGids: [9, 44],
      home: '/home/app',
      name: 'app',
    });
  });

  it('refuses unknown names and bad ids', () => {
    expect(() => resolveUser(r, 'ghost')).toThrow(/not found/);
    expect(() => resolveUser(r, 'app:ghosts')).toThrow(/not found/);
    expect(() => resolveUser(r, undefined, { runAsUser: -1 })).toThrow(/valid id/);
  });

  it('ignores image files that resolve outside the rootfs (a symlink to a host file)', () => {
    const evil = join(tmp.path, 'evil');
    mkdirSync(join(evil, 'etc'), { recursive: true });
    const host = join(tmp.path, 'host-passwd');
    writeFileSync(host, 'root:x:0:0:root:/secret-home:/bin/sh\n');
    symlinkSync(host, join(evil, 'etc/passwd'));
    expect(resolveUser(evil, undefined).home).toBe('/');
  });
});
