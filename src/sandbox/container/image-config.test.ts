import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerArgs, imageConfigPath, parseImageConfig, readImageConfig } from './image-config.ts';
import { tempDir } from './test-support.ts';

const tmp = tempDir('strata-imgcfg-');
afterAll(() => tmp.remove());

describe('image config', () => {
  it('reads the file beside the rootfs; none means empty', () => {
    const rootfs = join(tmp.path, 'img', 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    expect(imageConfigPath(`${rootfs}/`)).toBe(join(tmp.path, 'img', 'image-config.json'));
    expect(readImageConfig(rootfs)).toEqual({ entrypoint: [], cmd: [], env: {} });
    writeFileSync(
      join(tmp.path, 'img', 'image-config.json'),
      '{"cmd":["sh"],"env":["A=1","B=x=y"],"user":"nobody"}',
    );
    expect(readImageConfig(rootfs)).toEqual({
      entrypoint: [],
      cmd: ['sh'],
      env: { A: '1', B: 'x=y' },
      user: 'nobody',
    });
    writeFileSync(join(tmp.path, 'img', 'image-config.json'), '{nope');
    expect(() => readImageConfig(rootfs)).toThrow(/not JSON/);
  });

  it('accepts an OCI image config blob and its inner object', () => {
    const blob = {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Entrypoint: ['/docker-entrypoint.sh'],
        Cmd: ['nginx', '-g', 'daemon off;'],
        Env: ['PATH=/usr/bin:/bin'],
        WorkingDir: '/srv',
        User: '101:101',
        StopSignal: 'SIGQUIT',
      },
    };
    const want = {
      entrypoint: ['/docker-entrypoint.sh'],
      cmd: ['nginx', '-g', 'daemon off;'],
      env: { PATH: '/usr/bin:/bin' },
      workingDir: '/srv',
      user: '101:101',
      stopSignal: 'SIGQUIT',
    };
    expect(parseImageConfig(blob)).toEqual(want);
    expect(parseImageConfig(blob.config)).toEqual(want);
    expect(parseImageConfig({ config: { Cmd: null, Entrypoint: null } })).toEqual({
      entrypoint: [],
      cmd: [],
      env: {},
    });
  });

  it('names the bad field', () => {
    expect(() => parseImageConfig({ cmd: 'sh' })).toThrow(/cmd/);
    expect(() => parseImageConfig({ env: ['NOEQUALS'] })).toThrow(/NOEQUALS/);
    expect(() => parseImageConfig([])).toThrow(/object/);
  });

  it('containerArgs: command replaces entrypoint (and drops cmd), args replace cmd', () => {
    const img = { entrypoint: ['/ep'], cmd: ['--default'], env: {} };
    expect(containerArgs(img)).toEqual(['/ep', '--default']);
    expect(containerArgs(img, undefined, ['--x'])).toEqual(['/ep', '--x']);
    expect(containerArgs(img, ['/bin/sh'])).toEqual(['/bin/sh']);
    expect(containerArgs(img, ['/bin/sh'], ['-c', 'true'])).toEqual(['/bin/sh', '-c', 'true']);
    expect(containerArgs(img, [], ['--y'])).toEqual(['/ep', '--y']);
  });
});
