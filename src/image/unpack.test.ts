import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  readdirSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from './digest.ts';
import { unpackLayer, type UnpackOptions } from './unpack.ts';
import { chunks, gzip, tarOf, tempDir } from './testing/fixtures.ts';

const isRoot = process.getuid?.() === 0;

describe('unpackLayer', () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string;
  let outside: string;

  beforeEach(() => {
    tmp = tempDir();
    root = join(tmp.path, 'root');
    outside = join(tmp.path, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'host secret\n');
  });
  afterEach(() => tmp.cleanup());

  const unpack = async (entries: Parameters<typeof tarOf>[0], opts: UnpackOptions = {}, compress = false) => {
    const t = await tarOf(entries);
    return unpackLayer(chunks(compress ? gzip(t) : t), root, { what: 'layer test', ...opts });
  };
  const outsideUntouched = (): void => {
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('host secret\n');
  };

  it('unpacks files, directories, symlinks and hardlinks with their metadata, and reports the diff_id', async () => {
    const entries = [
      { name: 'etc/', type: 'directory' as const, mode: 0o750 },
      {
        name: 'etc/hosts',
        data: '127.0.0.1 localhost\n',
        mode: 0o640,
        uid: 12,
        gid: 34,
        mtime: new Date(1_000_000_000),
      },
      { name: './bin/sh', data: '#!fake\n', mode: 0o755 },
      { name: 'bin/ash', type: 'symlink' as const, linkname: 'sh' },
      { name: 'bin/abs', type: 'symlink' as const, linkname: '/bin/sh' },
      { name: 'bin/hard', type: 'link' as const, linkname: 'bin/sh' },
      { name: 'ro/', type: 'directory' as const, mode: 0o555 },
      { name: 'ro/file', data: 'x' },
    ];
    const t = await tarOf(entries);
    const r = await unpackLayer(chunks(gzip(t)), root);
    expect(r.diffId).toBe(sha256(t));
    expect(r.entries).toBe(entries.length);
    expect(r.warnings).toEqual([]);
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
    const hosts = statSync(join(root, 'etc/hosts'));
    expect(hosts.mode & 0o7777).toBe(0o640);
    expect(hosts.mtimeMs).toBe(1_000_000_000);
    if (isRoot) expect([hosts.uid, hosts.gid]).toEqual([12, 34]);
    expect(statSync(join(root, 'etc')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(root, 'ro')).mode & 0o7777).toBe(0o555);
    expect(readlinkSync(join(root, 'bin/ash'))).toBe('sh');
    expect(readlinkSync(join(root, 'bin/abs'))).toBe('/bin/sh'); // created as is, resolved in the container later
    expect(statSync(join(root, 'bin/hard')).ino).toBe(statSync(join(root, 'bin/sh')).ino);
  });

  it('accepts an uncompressed tar and checks the diff_id', async () => {
    const t = await tarOf([{ name: 'a', data: 'a' }]);
    await expect(unpackLayer(chunks(t), root, { diffId: sha256(t) })).resolves.toMatchObject({
      diffId: sha256(t),
    });
  });

  it('rejects a layer whose content does not match the config diff_id', async () => {
    await expect(unpack([{ name: 'a', data: 'a' }], { diffId: sha256('other') })).rejects.toMatchObject({
      code: 'DigestMismatch',
    });
  });

  it('later entries replace earlier ones at the same path', async () => {
    await unpack([
      { name: 'x', data: 'first' },
      { name: 'x', data: 'second' },
      { name: 'd/', type: 'directory' },
      { name: 'd/f', data: 'f' },
      { name: 'd', data: 'now a file' },
    ]);
    expect(readFileSync(join(root, 'x'), 'utf8')).toBe('second');
    expect(readFileSync(join(root, 'd'), 'utf8')).toBe('now a file');
  });

  describe.skipIf(!isRoot)('whiteouts (as root)', () => {
    it('turns .wh.NAME into an overlay whiteout and .wh..wh..opq into an opaque directory', async () => {
      const r = await unpack([
        { name: 'data/', type: 'directory' },
        { name: 'data/.wh.gone', data: '' },
        { name: 'data/dir/.wh..wh..opq', data: '' },
        { name: 'data/dir/new', data: 'new' },
        { name: '.wh..wh.plnk/', type: 'directory' },
      ]);
      expect(r.warnings).toEqual([]);
      const wh = lstatSync(join(root, 'data/gone'));
      expect(wh.isCharacterDevice()).toBe(true);
      expect(wh.rdev).toBe(0);
      expect(existsSync(join(root, 'data/.wh.gone'))).toBe(false);
      const opaque = execFileSync(
        'getfattr',
        ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(root, 'data/dir')],
        {
          encoding: 'utf8',
        },
      );
      expect(opaque).toBe('y');
      expect(readFileSync(join(root, 'data/dir/new'), 'utf8')).toBe('new');
      expect(existsSync(join(root, '.wh..wh.plnk'))).toBe(false);
    });
  });

  it('drops extended attributes (file capabilities) with a warning', async () => {
    const r = await unpack([
      { name: 'bin/ping', data: 'x', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': 'caps' } },
    ]);
    expect(readFileSync(join(root, 'bin/ping'), 'utf8')).toBe('x');
    expect(r.warnings).toEqual(['dropped extended attributes of "bin/ping"']);
  });

  it('rejects a whiteout that names no file', async () => {
    await expect(unpack([{ name: 'a/.wh...', data: '' }])).rejects.toMatchObject({ code: 'UnsafeLayer' });
  });

  describe('confinement', () => {
    it('refuses entries with absolute paths', async () => {
      const err = await unpack([{ name: `${outside}/abs-escape`, data: 'pwned' }]).catch((e) => e);
      expect(err).toMatchObject({ code: 'UnsafeLayer' });
      expect(err.message).toMatch(/has an absolute path; refusing to unpack it/);
      outsideUntouched();
    });

    it.each(['../outside/escape', 'a/../../outside/escape', 'a/b/../../../outside/escape'])(
      'refuses ".." components: %s',
      async (name) => {
        const err = await unpack([{ name, data: 'pwned' }]).catch((e) => e);
        expect(err).toMatchObject({ code: 'UnsafeLayer' });
        expect(err.message).toMatch(/has a "\.\." component/);
        outsideUntouched();
        expect(existsSync(join(tmp.path, 'escape'))).toBe(false);
      },
    );

    it('never writes through a symlink an earlier entry planted (relative or absolute target)', async () => {
      for (const linkname of ['../outside', outside]) {
        const err = await unpack([
          { name: 'link', type: 'symlink', linkname },
          { name: 'link/pwned', data: 'pwned' },
        ]).catch((e) => e);
        expect(err).toMatchObject({ code: 'UnsafeLayer' });
        expect(err.message).toMatch(/would be written through the symlink "link"/);
        outsideUntouched();
      }
    });

    it('refuses a directory entry under a planted symlink', async () => {
      await expect(
        unpack([
          { name: 'etc', type: 'symlink', linkname: outside },
          { name: 'etc/cron.d/', type: 'directory' },
        ]),
      ).rejects.toMatchObject({ code: 'UnsafeLayer' });
      outsideUntouched();
    });

    it('replaces a planted symlink with a file instead of writing through it', async () => {
      await unpack([
        { name: 'target', type: 'symlink', linkname: join(outside, 'secret') },
        { name: 'target', data: 'layer content' },
      ]);
      expect(lstatSync(join(root, 'target')).isFile()).toBe(true);
      expect(readFileSync(join(root, 'target'), 'utf8')).toBe('layer content');
      outsideUntouched();
    });

    it('replaces a planted symlink with a real directory', async () => {
      await unpack([
        { name: 'd', type: 'symlink', linkname: outside },
        { name: 'd/', type: 'directory', mode: 0o777 },
        { name: 'd/f', data: 'inside' },
      ]);
      expect(lstatSync(join(root, 'd')).isDirectory()).toBe(true);
      expect(readFileSync(join(root, 'd/f'), 'utf8')).toBe('inside');
      outsideUntouched();
    });

    it('does not chmod through a symlink that replaced a directory', async () => {
      chmodSync(outside, 0o700);
      await unpack([
        { name: 'd/', type: 'directory', mode: 0o777 },
        { name: 'd', type: 'symlink', linkname: outside },
      ]);
      expect(statSync(outside).mode & 0o777).toBe(0o700);
      expect(lstatSync(join(root, 'd')).isSymbolicLink()).toBe(true);
    });

    it('refuses hardlinks to files outside the layer', async () => {
      for (const linkname of [join(outside, 'secret'), '../outside/secret']) {
        await expect(unpack([{ name: 'h', type: 'link', linkname }])).rejects.toMatchObject({
          code: 'UnsafeLayer',
        });
      }
      const err = await unpack([
        { name: 's', type: 'symlink', linkname: outside },
        { name: 'h', type: 'link', linkname: 's/secret' },
      ]).catch((e) => e);
      expect(err).toMatchObject({ code: 'UnsafeLayer' });
      expect(err.message).toMatch(/refers through the symlink "s"/);
      expect(statSync(join(outside, 'secret')).nlink).toBe(1);
      outsideUntouched();
    });

    it('refuses hardlinks to directories and to files not in the layer', async () => {
      await expect(
        unpack([
          { name: 'd/', type: 'directory' },
          { name: 'h', type: 'link', linkname: 'd' },
        ]),
      ).rejects.toThrow(/which is not a file/);
      await expect(unpack([{ name: 'h', type: 'link', linkname: 'etc/passwd' }])).rejects.toThrow(
        /not in this layer/,
      );
    });

    it('skips device nodes and fifos (never creates them)', async () => {
      const r = await unpack([
        { name: 'dev/', type: 'directory' },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
        { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o640 },
        { name: 'dev/kmsg-ish', type: 'character-device', devmajor: 0, devminor: 0 },
        { name: 'dev/fifo', type: 'fifo' },
        { name: 'dev/ok', data: 'ok' },
      ]);
      expect(readdirSync(join(root, 'dev'))).toEqual(['ok']);
      expect(r.warnings).toEqual([
        'skipped block-device "dev/sda"',
        'skipped character-device "dev/mem"',
        'skipped character-device "dev/kmsg-ish"',
        'skipped fifo "dev/fifo"',
      ]);
    });

    it('strips setuid and setgid bits from files unless allowed', async () => {
      const entries = [
        { name: 'bin/su', data: 'x', mode: 0o4755 },
        { name: 'bin/wall', data: 'x', mode: 0o2755 },
        { name: 'shared/', type: 'directory' as const, mode: 0o2775 },
      ];
      const r = await unpack(entries);
      expect(statSync(join(root, 'bin/su')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(root, 'bin/wall')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(root, 'shared')).mode & 0o7777).toBe(0o2775); // group inheritance on dirs is harmless
      expect(r.warnings).toEqual([
        'removed setuid/setgid from "bin/su"',
        'removed setuid/setgid from "bin/wall"',
      ]);
      tmp.cleanup();
      mkdirSync(root, { recursive: true });
      mkdirSync(outside);
      writeFileSync(join(outside, 'secret'), 'host secret\n');
      await unpack(entries, { allowSetuid: true });
      expect(statSync(join(root, 'bin/su')).mode & 0o7777).toBe(0o4755);
    });

    it('stops a decompression bomb at the size cap', async () => {
      const bomb = gzip(await tarOf([{ name: 'zeros', data: Buffer.alloc(64 << 20) }]));
      expect(bomb.length).toBeLessThan(1 << 20);
      const t0 = Date.now();
      const err = await unpackLayer(chunks(bomb), root, { what: 'layer bomb', maxBytes: 8 << 20 }).catch(
        (e) => e,
      );
      expect(err).toMatchObject({ code: 'TooLarge' });
      expect(err.message).toMatch(/layer bomb unpacks to more than 8388608 bytes/);
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('stops an entry flood at the entry cap', async () => {
      const entries = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: '' }));
      await expect(unpack(entries, { maxEntries: 20 })).rejects.toMatchObject({ code: 'TooLarge' });
    });

    it('rejects data that is not a tar, and a truncated gzip stream', async () => {
      await expect(
        unpackLayer(chunks(Buffer.from('definitely not a tar archive'.repeat(40))), root),
      ).rejects.toMatchObject({
        code: 'InvalidLayer',
      });
      await expect(unpackLayer(chunks(gzip(Buffer.from('x')).subarray(0, 10)), root)).rejects.toMatchObject({
        code: 'InvalidLayer',
      });
    });
  });
});
