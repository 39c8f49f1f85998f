import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expandSubPathExpr, resolveSubPath } from './volume-subpath.ts';

let dir: string;
let vol: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'subpath-'));
  vol = join(dir, 'vol');
  mkdirSync(vol);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('expandSubPathExpr', () => {
  it('expands known variables, keeps unknown ones and $$ escapes as Kubernetes does', () => {
    const env = { POD_NAME: 'web-0', NS: 'prod' };
    expect(expandSubPathExpr('logs/$(NS)/$(POD_NAME)', env)).toBe('logs/prod/web-0');
    expect(expandSubPathExpr('$(MISSING)/x', env)).toBe('$(MISSING)/x');
    expect(expandSubPathExpr('$$(POD_NAME)', env)).toBe('$(POD_NAME)');
    expect(expandSubPathExpr('plain', env)).toBe('plain');
  });
});

describe('resolveSubPath', () => {
  it('makes a missing directory inside the volume, and takes an existing file as it is', () => {
    const made = resolveSubPath('data', vol, 'a/b');
    expect(made).toBe(join(vol, 'a/b'));
    writeFileSync(join(vol, 'conf'), 'x');
    expect(resolveSubPath('data', vol, 'conf')).toBe(join(vol, 'conf'));
  });

  it('refuses absolute paths, .. and symlinks that lead out of the volume', () => {
    expect(() => resolveSubPath('data', vol, '/etc')).toThrow(
      'volumeMount data: subPath "/etc" must be a relative path',
    );
    expect(() => resolveSubPath('data', vol, 'a/../../x')).toThrow("must not contain '..'");
    // A pod that wrote a symlink into its volume must not get the node's /etc mounted next time.
    symlinkSync('/etc', join(vol, 'escape'));
    expect(() => resolveSubPath('data', vol, 'escape')).toThrow('leads out of the volume');
    expect(() => resolveSubPath('data', vol, 'escape/new-dir')).toThrow('leads out of the volume');
    // A symlink that stays inside is fine.
    mkdirSync(join(vol, 'real'));
    symlinkSync('real', join(vol, 'inside'));
    expect(resolveSubPath('data', vol, 'inside')).toBe(join(vol, 'real'));
  });
});
