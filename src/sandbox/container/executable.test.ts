import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable, resolveInRoot } from './executable.ts';
import { tempDir } from './test-support.ts';

const tmp = tempDir('strata-exe-');
afterAll(() => tmp.remove());
const root = join(tmp.path, 'rootfs');
mkdirSync(join(root, 'bin'), { recursive: true });
mkdirSync(join(root, 'usr/bin'), { recursive: true });
writeFileSync(join(root, 'bin/busybox'), '');
chmodSync(join(root, 'bin/busybox'), 0o755);
writeFileSync(join(root, 'bin/data'), '');
// Absolute links resolve inside the rootfs, never on the host.
symlinkSync('/bin/busybox', join(root, 'usr/bin/wget'));
symlinkSync('/etc/passwd', join(root, 'bin/hostfile'));
symlinkSync('../../bin/busybox', join(root, 'usr/bin/rel'));
symlinkSync('loop', join(root, 'bin/loop'));

const opts = { path: '/usr/bin:/bin', cwd: '/', mountPoints: ['/scripts'] };

describe('findExecutable', () => {
  it('finds commands by PATH and by path, following links within the rootfs', () => {
    expect(findExecutable(root, 'wget', opts)).toBe('found');
    expect(findExecutable(root, 'rel', opts)).toBe('found');
    expect(findExecutable(root, '/bin/busybox', opts)).toBe('found');
    expect(findExecutable(root, './bin/busybox', opts)).toBe('found');
    expect(resolveInRoot(root, '/usr/bin/wget')).toBe(join(root, 'bin/busybox'));
    expect(resolveInRoot(root, '/../../bin/busybox')).toBe(join(root, 'bin/busybox'));
  });

  it('reports missing, non-executable, escaping and looping paths as missing', () => {
    expect(findExecutable(root, 'nope', opts)).toBe('missing');
    expect(findExecutable(root, '/bin/data', opts)).toBe('missing');
    expect(findExecutable(root, '/bin/hostfile', opts)).toBe('missing');
    expect(findExecutable(root, '/bin/loop', opts)).toBe('missing');
  });

  it('does not judge commands on volumes', () => {
    expect(findExecutable(root, '/scripts/run.sh', opts)).toBe('unknown');
  });
});
