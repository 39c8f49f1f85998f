import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../../lib/command.ts';
import { tempDir } from '../wasm/test-support.ts';
import { DiskCache, createOverlay } from './disk.ts';

const why =
  !which('mke2fs') || !which('debugfs') || !which('qemu-img') ? 'e2fsprogs or qemu-utils missing' : undefined;
if (why) console.log(`skipping the microvm disk tests: ${why}`);

describe.skipIf(why)('image disks', () => {
  let tmp: ReturnType<typeof tempDir>;
  let rootfs: string;
  beforeAll(() => {
    tmp = tempDir('strata-mvm-disk-');
    rootfs = join(tmp.path, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    writeFileSync(join(rootfs, 'etc/hello'), 'hello from the image\n');
  });
  afterAll(() => tmp.remove());

  it('builds an ext4 disk of a rootfs once per key, and a qcow2 overlay over it', async () => {
    const cache = new DiskCache(join(tmp.path, 'disks'));
    let built = 0;
    const source = async () => {
      built++;
      return { rootfs, release: async () => {} };
    };
    const [a, b] = await Promise.all([cache.get('abc', source), cache.get('abc', source)]);
    expect(a).toBe(b);
    expect(await cache.get('abc', source)).toBe(a);
    expect(built).toBe(1);
    const content = execFileSync('debugfs', ['-R', 'cat /etc/hello', a], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(content).toBe('hello from the image\n');
    const features = execFileSync('debugfs', ['-R', 'features', a], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(features).not.toContain('has_journal');

    const overlay = join(tmp.path, 'pod.qcow2');
    await createOverlay(a, overlay);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', overlay], { encoding: 'utf8' }),
    );
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBe(a);
    expect(info['backing-filename-format']).toBe('raw');
  });

  it('refuses keys that are not file names, and reports mke2fs failures', async () => {
    const cache = new DiskCache(join(tmp.path, 'disks2'));
    expect(() => cache.pathOf('../x')).toThrow(/expected/);
    await expect(
      cache.get('missing', async () => ({ rootfs: join(tmp.path, 'nope'), release: async () => {} })),
    ).rejects.toThrow();
    expect(cache.has('missing')).toBe(false);
  });
});
