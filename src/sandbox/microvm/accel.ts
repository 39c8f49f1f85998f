// Which accelerator a microVM gets. /dev/kvm alone proves nothing here: on these hosts it is a nested
// software device on which KVM_CREATE_VM succeeds but a stock kernel fails to boot after 70–175 s. So
// KVM is used only after a canary boot with it reaches the init within a hard timeout; the verdict is
// cached per host boot (/proc/sys/kernel/random/boot_id), since a reboot may change it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Accel } from './qemu.ts';
import { kernelCmdline } from './qemu.ts';

export type AccelSetting = 'auto' | Accel;

export const CANARY_TIMEOUT_MS = 15_000;
export const CANARY_MARKER = 'strata-canary-ok';

export interface CanaryVerdict {
  bootId: string;
  usable: boolean;
  detail: string;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Boots `vmlinux` + `initrd` under KVM to the canary init (rdinit=/strata/canary), killed after the timeout. */
export async function kvmCanary(
  qemu: string,
  vmlinux: string,
  initrd: string,
  tscKhz: number,
  timeoutMs = CANARY_TIMEOUT_MS,
): Promise<CanaryVerdict> {
  const dir = mkdtempSync('/tmp/strata-kvm-canary-');
  const consoleFile = join(dir, 'console');
  const args = [
    '-M',
    'microvm,acpi=on,pit=on,pic=on',
    '-accel',
    'kvm',
    '-cpu',
    'host',
    '-m',
    '128',
    '-smp',
    '1',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    `file:${consoleFile}`,
    '-kernel',
    vmlinux,
    '-initrd',
    initrd,
    '-append',
    kernelCmdline({ tscKhz }).replace('rdinit=/init', 'rdinit=/strata/canary'),
  ];
  const started = Date.now();
  try {
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(qemu, args, { stdio: 'ignore' });
      const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('error', () => resolve(null));
      p.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const out = existsSync(consoleFile) ? readFileSync(consoleFile, 'utf8') : '';
    const ms = Date.now() - started;
    if (out.includes(CANARY_MARKER))
      return { bootId: bootId(), usable: true, detail: `KVM canary booted in ${ms} ms` };
    return {
      bootId: bootId(),
      usable: false,
      detail:
        code === null
          ? `KVM canary did not reach its init within ${timeoutMs} ms`
          : `KVM canary failed (QEMU exit ${code})`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The accelerator to use: `setting` when it is not 'auto'; TCG without /dev/kvm; otherwise the cached
 * canary verdict of this host boot, or a new canary run (cached in `cacheFile`).
 */
export async function resolveAccel(
  setting: AccelSetting,
  cacheFile: string,
  runCanary: () => Promise<CanaryVerdict>,
  kvmDevice = '/dev/kvm',
): Promise<{ accel: Accel; detail: string }> {
  if (setting !== 'auto') return { accel: setting, detail: `set by configuration (${setting})` };
  if (!existsSync(kvmDevice)) return { accel: 'tcg', detail: `no ${kvmDevice}` };
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CanaryVerdict;
    if (cached.bootId === bootId()) return { accel: cached.usable ? 'kvm' : 'tcg', detail: cached.detail };
  } catch {
    // no verdict for this boot yet
  }
  const v = await runCanary();
  writeFileSync(cacheFile, JSON.stringify(v));
  return { accel: v.usable ? 'kvm' : 'tcg', detail: v.detail };
}
