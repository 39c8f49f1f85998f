import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEscapingSymlink, prepareMounts } from './mounts.ts';
import { tempDir } from './test-support.ts';

describe('mounts', () => {
  let tmp: ReturnType<typeof tempDir>;
  let vol: string;
  beforeEach(() => {
    tmp = tempDir();
    vol = join(tmp.path, 'vol');
    mkdirSync(join(vol, 'sub/deeper'), { recursive: true });
    writeFileSync(join(vol, 'sub/file'), 'x');
    mkdirSync(join(tmp.path, 'outside'));
  });
  afterEach(() => tmp.remove());

  it('accepts symlinks that stay inside the volume (the configMap ..data layout)', async () => {
    symlinkSync('sub', join(vol, '..data'));
    symlinkSync('..data/file', join(vol, 'file'));
    symlinkSync('../file', join(vol, 'sub/deeper/up'));
    expect(await findEscapingSymlink(vol)).toBeUndefined();
    const [p] = await prepareMounts([{ hostPath: vol, guestPath: '/config/', readOnly: true }]);
    expect(p).toEqual({ guestPath: '/config', hostPath: vol, readOnly: true });
  });

  it.each([
    ['absolute, to a directory', () => symlinkSync(join(tmp.path, 'outside'), join(vol, 'sub/esc'))],
    ['relative, climbing out', () => symlinkSync('../../outside', join(vol, 'sub/esc'))],
    ['to /etc', () => symlinkSync('/etc', join(vol, 'sub/deeper/etc'))],
    ['dangling, pointing outside', () => symlinkSync('../../not-yet', join(vol, 'sub/esc'))],
    [
      'chained through an inside link',
      () => {
        symlinkSync('../outside', join(vol, 'hop'));
        symlinkSync('../hop', join(vol, 'sub/esc'));
      },
    ],
  ])('refuses a volume with a symlink that escapes: %s', async (_name, make) => {
    make();
    expect(await findEscapingSymlink(vol)).toBeDefined();
    await expect(
      prepareMounts([{ hostPath: vol, guestPath: '/data', readOnly: false }]),
    ).rejects.toMatchObject({
      reason: 'CreateContainerError',
      message: expect.stringMatching(/symlink .* points outside the volume/),
    });
  });

  it('rejects bad mount paths and missing or non-directory volumes', async () => {
    const ro = false;
    await expect(prepareMounts([{ hostPath: vol, guestPath: 'data', readOnly: ro }])).rejects.toThrow(
      /absolute/,
    );
    await expect(prepareMounts([{ hostPath: vol, guestPath: '/a/../b', readOnly: ro }])).rejects.toThrow(
      /'\.\.'/,
    );
    await expect(
      prepareMounts([
        { hostPath: vol, guestPath: '/d', readOnly: ro },
        { hostPath: vol, guestPath: '/d/', readOnly: ro },
      ]),
    ).rejects.toThrow(/share the path \/d/);
    await expect(
      prepareMounts([{ hostPath: join(tmp.path, 'nope'), guestPath: '/d', readOnly: ro }]),
    ).rejects.toThrow(/not available/);
    await expect(
      prepareMounts([{ hostPath: join(vol, 'sub/file'), guestPath: '/d', readOnly: ro }]),
    ).rejects.toThrow(/not a directory/);
  });
});
