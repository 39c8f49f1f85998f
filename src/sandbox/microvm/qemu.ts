// QEMU's side of a microVM: the command line (the boot recipe that works on these hosts, see
// ../../../shared notes in README.md), the host's TSC frequency the guest must be told, and a minimal
// QMP client for stopping a VM.
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { PORTS, ROOT_SERIAL } from './init.ts';

export type Accel = 'kvm' | 'tcg';

export interface VmLayout {
  vmlinux: string;
  initrd: string;
  /** The sandbox's qcow2 overlay (its backing file is the image disk). */
  disk: string;
  stdout: string;
  stderr: string;
  exit: string;
  console: string;
  signalSocket: string;
  qmpSocket: string;
  pidfile: string;
  /** The exec helper's port (exec-channel.ts); absent in VMs started before exec existed. */
  execSocket?: string;
  /** Volume disks (volumes.ts), raw ext4 images, by virtio serial. */
  volumes?: { serial: string; file: string; readOnly: boolean }[];
  /** The pod network: a tap in the pod's namespace (QEMU runs there) and the pod's MAC address. */
  net?: { tap: string; mac: string };
}

export interface VmShape {
  accel: Accel;
  memoryMiB: number;
  vcpus: number;
  /** TCG's translation cache in MiB (QEMU's default is ~1 GiB per VM). */
  tbSizeMiB: number;
  tscKhz: number;
  /** Extra kernel command line words. */
  append?: string[];
}

/** The host's TSC in kHz, from /proc/cpuinfo's "cpu MHz" (the guest cannot calibrate it under TCG). */
export function hostTscKhz(cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')): number {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  if (!m) throw new Error('/proc/cpuinfo has no "cpu MHz": cannot tell the guest its TSC frequency');
  return Math.round(Number(m[1]) * 1000);
}

/** The kernel's command line: quiet serial console, no reboot loop, a pre-set TSC and delay loop. */
export function kernelCmdline(shape: Pick<VmShape, 'tscKhz' | 'append'>): string {
  // lpj = loops per jiffy at the TSC rate (Debian's kernel has HZ=250): skips delay-loop calibration.
  const lpj = Math.round((shape.tscKhz * 1000) / 250);
  return [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    'reboot=t',
    'rdinit=/init',
    `tsc_early_khz=${shape.tscKhz}`,
    `lpj=${lpj}`,
    'no_timer_check',
    'cryptomgr.notests',
    ...(shape.append ?? []),
  ].join(' ');
}

/** The QEMU argv of a sandbox: daemonized, with a pidfile and QMP, everything else in files. */
export function qemuArgs(l: VmLayout, s: VmShape): string[] {
  const accel = s.accel === 'tcg' ? `tcg,tb-size=${s.tbSizeMiB}` : 'kvm';
  const port = (id: string, path: string, name: string, nr: number): string[] => [
    '-chardev',
    `file,id=${id},path=${path}`,
    '-device',
    `virtserialport,chardev=${id},name=${name},nr=${nr}`,
  ];
  return [
    '-M',
    'microvm,acpi=on,pit=on,pic=on',
    '-accel',
    accel,
    '-cpu',
    s.accel === 'kvm' ? 'host' : 'max',
    '-m',
    String(s.memoryMiB),
    '-smp',
    String(s.vcpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    // QEMU's seccomp filter: no obsolete system calls, no scheduler/affinity changes. Not
    // elevateprivileges=deny (it forbids the setsid of -daemonize) nor spawn=deny (its fork).
    '-sandbox',
    'on,obsolete=deny,resourcecontrol=deny',
    '-daemonize',
    '-pidfile',
    l.pidfile,
    '-serial',
    `file:${l.console}`,
    '-kernel',
    l.vmlinux,
    '-initrd',
    l.initrd,
    '-append',
    kernelCmdline(s),
    '-drive',
    `id=root,file=${l.disk},format=qcow2,if=none,cache=unsafe`,
    '-device',
    `virtio-blk-device,drive=root,serial=${ROOT_SERIAL}`,
    ...(l.volumes ?? []).flatMap((v) => [
      '-drive',
      // Writable volumes are the pod's data: written through, unlike the throw-away root overlay.
      `id=${v.serial},file=${v.file},format=raw,if=none,${v.readOnly ? 'readonly=on' : 'cache=writeback'}`,
      '-device',
      `virtio-blk-device,drive=${v.serial},serial=${v.serial}`,
    ]),
    ...(l.net
      ? [
          '-netdev',
          `tap,id=net0,ifname=${l.net.tap},script=no,downscript=no`,
          '-device',
          `virtio-net-device,netdev=net0,mac=${l.net.mac}`,
        ]
      : []),
    '-device',
    'virtio-serial-device,max_ports=6',
    ...port('out', l.stdout, PORTS.stdout, 1),
    ...port('err', l.stderr, PORTS.stderr, 2),
    ...port('exit', l.exit, PORTS.exit, 3),
    '-chardev',
    `socket,id=sig,path=${l.signalSocket},server=on,wait=off`,
    '-device',
    `virtserialport,chardev=sig,name=${PORTS.signal},nr=4`,
    ...(l.execSocket
      ? [
          '-chardev',
          `socket,id=exec,path=${l.execSocket},server=on,wait=off`,
          '-device',
          `virtserialport,chardev=exec,name=${PORTS.exec},nr=5`,
        ]
      : []),
    '-qmp',
    `unix:${l.qmpSocket},server=on,wait=off`,
  ];
}

/** Sends one line to a unix socket (the guest's signal port). Rejects when nothing listens. */
export function sendLine(socket: string, line: string, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`${socket}: timed out`));
    }, timeoutMs);
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on('connect', () => {
      // Half-close: QEMU reads the line, then sees the end and drops the connection.
      c.end(`${line}\n`, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  });
}

/** Runs one QMP command (after the capabilities handshake); resolves with its `return`. */
export function qmp(socket: string, command: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`QMP ${command}: timed out`));
    }, timeoutMs);
    const done = (err: Error | undefined, value?: unknown): void => {
      clearTimeout(timer);
      c.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    c.on('error', (err) => done(err));
    // `quit` closes the socket instead of answering.
    c.on('close', () =>
      step === 2 && command === 'quit' ? done(undefined) : done(new Error(`QMP ${command}: closed`)),
    );
    c.on('data', (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if ('event' in msg) continue;
        if ('error' in msg) return done(new Error(`QMP ${command}: ${JSON.stringify(msg.error)}`));
        if (step === 0 && 'QMP' in msg) {
          step = 1;
          c.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          c.write(`${JSON.stringify({ execute: command })}\n`);
        } else if (step === 2 && 'return' in msg) {
          return done(undefined, msg.return);
        }
      }
    });
  });
}
