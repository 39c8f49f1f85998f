import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../wasm/test-support.ts';
import { resolveAccel, type CanaryVerdict } from './accel.ts';

const bootId = existsSync('/proc/sys/kernel/random/boot_id')
  ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  : 'unknown';

describe('resolveAccel', () => {
  const tmp = tempDir('strata-mvm-accel-');
  afterAll(() => tmp.remove());
  let runs = 0;
  const canary = (usable: boolean) => async (): Promise<CanaryVerdict> => {
    runs++;
    return { bootId, usable, detail: usable ? 'booted' : 'did not boot' };
  };

  it('takes an explicit setting without a canary', async () => {
    runs = 0;
    expect(await resolveAccel('tcg', join(tmp.path, 'x.json'), canary(true))).toMatchObject({ accel: 'tcg' });
    expect(runs).toBe(0);
  });

  it('uses TCG without a KVM device', async () => {
    runs = 0;
    const r = await resolveAccel('auto', join(tmp.path, 'none.json'), canary(true), join(tmp.path, 'no-kvm'));
    expect(r).toEqual({ accel: 'tcg', detail: `no ${join(tmp.path, 'no-kvm')}` });
    expect(runs).toBe(0);
  });

  it('runs the canary once per host boot and keeps its verdict', async () => {
    runs = 0;
    const cache = join(tmp.path, 'canary.json');
    // Any existing file stands for the device: the canary, not the device, decides.
    const kvm = join(tmp.path, 'kvm');
    writeFileSync(kvm, '');
    expect(await resolveAccel('auto', cache, canary(false), kvm)).toEqual({
      accel: 'tcg',
      detail: 'did not boot',
    });
    expect(await resolveAccel('auto', cache, canary(true), kvm)).toEqual({
      accel: 'tcg',
      detail: 'did not boot',
    });
    expect(runs).toBe(1);
    // A verdict of another boot does not count.
    writeFileSync(cache, JSON.stringify({ bootId: 'another-boot', usable: false, detail: 'old' }));
    expect(await resolveAccel('auto', cache, canary(true), kvm)).toEqual({ accel: 'kvm', detail: 'booted' });
    expect(runs).toBe(2);
  });
});
