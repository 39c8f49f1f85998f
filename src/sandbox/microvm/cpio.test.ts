import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../wasm/test-support.ts';
import { cpioArchive } from './cpio.ts';

describe('cpioArchive (newc)', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(() => tmp?.remove());

  it('writes directories, files with modes and symlinks that cpio extracts as such', () => {
    tmp = tempDir('strata-cpio-');
    const archive = cpioArchive([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/tool', data: Buffer.from('#!/bin/sh\necho odd-length\n'), mode: 0o755 },
      { type: 'symlink', path: 'bin/alias', target: 'tool' },
      { type: 'file', path: '/etc-conf', data: Buffer.from('x') },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(archive.toString('latin1')).toContain('TRAILER!!!');
    execFileSync('/bin/busybox', ['cpio', '-i', '-d'], {
      cwd: tmp.path,
      input: archive,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    expect(readFileSync(join(tmp.path, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho odd-length\n');
    expect(lstatSync(join(tmp.path, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(tmp.path, 'bin/alias'))).toBe('tool');
    expect(readFileSync(join(tmp.path, 'etc-conf'), 'utf8')).toBe('x');
  });

  it('refuses paths that leave the root', () => {
    expect(() => cpioArchive([{ type: 'file', path: '../escape', data: Buffer.from('') }])).toThrow(
      /not a relative path/,
    );
    expect(() => cpioArchive([{ type: 'dir', path: '/' }])).toThrow(/not a relative path/);
  });
});
