import { describe, expect, it } from 'vitest';
import { hostTscKhz, kernelCmdline, qemuArgs, type VmLayout } from './qemu.ts';

const layout: VmLayout = {
  vmlinux: '/k/vmlinux',
  initrd: '/s/initrd',
  disk: '/s/overlay.qcow2',
  stdout: '/s/stdout',
  stderr: '/s/stderr',
  exit: '/s/exit',
  console: '/s/console',
  signalSocket: '/r/signal.sock',
  qmpSocket: '/r/qmp.sock',
  pidfile: '/s/qemu.pid',
};

describe('the QEMU command line', () => {
  it('reads the host TSC from /proc/cpuinfo', () => {
    expect(hostTscKhz('processor\t: 0\ncpu MHz\t\t: 2096.014\n')).toBe(2096014);
    expect(() => hostTscKhz('processor: 0\n')).toThrow(/cpu MHz/);
  });

  it('tells the kernel its TSC and delay loop (HZ=250), so a loaded host does not hang calibration', () => {
    const line = kernelCmdline({ tscKhz: 2000000 });
    expect(line).toContain('tsc_early_khz=2000000');
    expect(line).toContain('lpj=8000000');
    expect(line).toContain('no_timer_check');
    expect(line).toContain('rdinit=/init');
  });

  it('boots the microvm machine daemonized, with a bounded TCG translation cache', () => {
    const tcg = qemuArgs(layout, { accel: 'tcg', memoryMiB: 256, vcpus: 2, tbSizeMiB: 64, tscKhz: 1 });
    expect(tcg.slice(0, 4)).toEqual(['-M', 'microvm,acpi=on,pit=on,pic=on', '-accel', 'tcg,tb-size=64']);
    expect(tcg).toContain('-daemonize');
    expect(tcg[tcg.indexOf('-sandbox') + 1]).toBe('on,obsolete=deny,resourcecontrol=deny');
    expect(tcg[tcg.indexOf('-m') + 1]).toBe('256');
    expect(tcg[tcg.indexOf('-smp') + 1]).toBe('2');
    expect(tcg).toContain('virtserialport,chardev=exit,name=strata.exit,nr=3');
    const kvm = qemuArgs(layout, { accel: 'kvm', memoryMiB: 256, vcpus: 1, tbSizeMiB: 64, tscKhz: 1 });
    expect(kvm[kvm.indexOf('-accel') + 1]).toBe('kvm');
    expect(kvm[kvm.indexOf('-cpu') + 1]).toBe('host');
  });
});
