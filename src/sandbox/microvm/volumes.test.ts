// Volumes as disks, without a VM: what each kind of mount becomes, checked with debugfs on the images.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../wasm/test-support.ts';
import { isExt4Image, volumeDisks } from './volumes.ts';

const why =
  spawnSync('sh', ['-c', 'command -v mke2fs && command -v debugfs']).status === 0
    ? undefined
    : 'mke2fs/debugfs missing';
if (why) console.log(`skipping the microvm volume tests: ${why}`);

const debugfs = (image: string, cmd: string): string =>
  execFileSync('debugfs', ['-R', cmd, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

/** A local persistent volume's mount (VolumeMount.blockImage: the PV's ext4 image). */
function pvMount(hostPath: string, guestPath: string, blockImage: string, readOnly = false) {
  const m = { hostPath, guestPath, readOnly, blockImage };
  return m;
}

describe.skipIf(why)('volumeDisks', () => {
  const tmp = tempDir('strata-mvm-vol-');
  afterAll(() => tmp.remove());

  it('read-only data per sandbox, writable directories per pod, ext4 images as they are', async () => {
    const src = join(tmp.path, 'src');
    mkdirSync(join(src, 'cm'), { recursive: true });
    writeFileSync(join(src, 'cm', 'key'), 'value');
    writeFileSync(join(src, 'single'), 'one file');
    mkdirSync(join(src, 'scratch'));
    const pv = join(tmp.path, 'pv.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', pv, '8M']);
    expect(isExt4Image(pv)).toBe(true);
    expect(isExt4Image(join(src, 'single'))).toBe(false);
    const sandbox = join(tmp.path, 'sandbox');
    const pod = join(tmp.path, 'pod');
    mkdirSync(sandbox);
    const plan = await volumeDisks(
      [
        { hostPath: join(src, 'cm'), guestPath: '/etc/cm', readOnly: true },
        { hostPath: join(src, 'single'), guestPath: '/etc/one', readOnly: true },
        { hostPath: join(src, 'scratch'), guestPath: '/scratch', readOnly: false },
        pvMount(join(tmp.path, 'not-used'), '/data', pv),
      ],
      sandbox,
      pod,
    );
    expect(plan.guest).toEqual([
      // A small read-only directory is live: the guest serves it from a tmpfs the node keeps current.
      { serial: 'v0', target: '/etc/cm', readOnly: true, live: true },
      { serial: 'v1', target: '/etc/one', readOnly: true, file: 'single' },
      { serial: 'v2', target: '/scratch', readOnly: false },
      { serial: 'v3', target: '/data', readOnly: false },
    ]);
    expect(plan.live).toEqual([{ serial: 'v0', hostPath: join(src, 'cm') }]);
    const [cm, one, scratch, data] = plan.disks;
    // Secrets and config live in the sandbox's own directory, read-only.
    expect(cm.file.startsWith(sandbox)).toBe(true);
    expect(cm.readOnly).toBe(true);
    expect(statSync(cm.file).mode & 0o777).toBe(0o600);
    expect(debugfs(cm.file, 'cat /key')).toBe('value');
    expect(debugfs(one.file, 'cat /single')).toBe('one file');
    // A writable directory is a sparse per-pod image, reused by the pod's next sandbox.
    expect(scratch.file.startsWith(pod)).toBe(true);
    expect(statSync(scratch.file).blocks * 512).toBeLessThan(statSync(scratch.file).size);
    const again = await volumeDisks(
      [{ hostPath: join(src, 'scratch'), guestPath: '/s', readOnly: false }],
      sandbox,
      pod,
    );
    expect(again.disks[0].file).toBe(scratch.file);
    expect(data).toEqual({ serial: 'v3', file: pv, readOnly: false });
  });

  it('refuses what a VM cannot be given, naming the mount', async () => {
    const file = join(tmp.path, 'host-file');
    writeFileSync(file, 'x');
    await expect(
      volumeDisks([{ hostPath: file, guestPath: '/f', readOnly: false }], tmp.path, join(tmp.path, 'p')),
    ).rejects.toThrow(/volume mount \/f: a writable volume must be a directory/);
    await expect(
      volumeDisks(
        [{ hostPath: join(tmp.path, 'absent'), guestPath: '/a', readOnly: true }],
        tmp.path,
        tmp.path,
      ),
    ).rejects.toThrow(/volume mount \/a: .*does not exist/);
    await expect(
      volumeDisks(
        [{ hostPath: file, guestPath: '/b', readOnly: true, blockImage: file }],
        tmp.path,
        tmp.path,
      ),
    ).rejects.toThrow(/volume mount \/b: .* is not an ext4 image/);
  });

  it('never attaches an image the node has loop-mounted', async () => {
    const pv = join(tmp.path, 'looped.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', pv, '8M']);
    const attach = spawnSync('losetup', ['--find', '--show', pv], { encoding: 'utf8' });
    if (attach.status !== 0) {
      console.log(`skipping the loop-device check: losetup: ${attach.stderr.trim()}`);
      return;
    }
    const dev = attach.stdout.trim();
    try {
      await expect(volumeDisks([pvMount(tmp.path, '/data', pv)], tmp.path, tmp.path)).rejects.toThrow(
        new RegExp(`is attached to ${dev}`),
      );
    } finally {
      execFileSync('losetup', ['-d', dev]);
    }
  });
});
