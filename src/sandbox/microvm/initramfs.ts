// The guest's initramfs: a base archive shared by every sandbox of a kernel (busybox, the Strata init,
// the kernel's virtio modules), built once and cached under a name that hashes everything in it, and a
// small per-sandbox archive (its configuration) appended to a copy of it: the kernel unpacks
// concatenated cpio archives as one.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpioArchive, type CpioEntry } from './cpio.ts';
import { CANARY_SCRIPT, INIT_APPLETS, INIT_SCRIPT } from './init.ts';
import type { GuestKernel } from './kernel.ts';

/**
 * Modules the init loads, in dependency order (PLATFORM-NOTES). Those built into the kernel
 * (modules.builtin) are skipped.
 */
export const GUEST_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_mmio',
  'virtio_blk',
  'virtio_console',
  'failover',
  'net_failover',
  'virtio_net',
];

export const DEFAULT_BUSYBOX = '/bin/busybox';

/** name → path of every module under the kernel's modules directory. */
function moduleFiles(modulesDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ko')) out.set(e.name.slice(0, -3).replaceAll('-', '_'), join(dir, e.name));
    }
  };
  walk(join(modulesDir, 'kernel'));
  return out;
}

function builtinModules(modulesDir: string): Set<string> {
  const file = join(modulesDir, 'modules.builtin');
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^.*\//, '').replace(/\.ko$/, '').replaceAll('-', '_')),
  );
}

/** The base archive's entries. Throws naming a module the kernel has neither as a file nor built in. */
export function baseEntries(
  kernel: GuestKernel,
  busybox = DEFAULT_BUSYBOX,
  vmexec?: string,
  modules = GUEST_MODULES,
): CpioEntry[] {
  const files = moduleFiles(kernel.modulesDir);
  const builtin = builtinModules(kernel.modulesDir);
  const loaded: string[] = [];
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'newroot' },
    { type: 'dir', path: 'strata' },
    { type: 'dir', path: 'lib' },
    { type: 'dir', path: 'lib/modules' },
    { type: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    // Relative links: the init also runs them from /.strata inside the workload's root.
    ...INIT_APPLETS.map((a): CpioEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 },
    { type: 'file', path: 'strata/canary', data: Buffer.from(CANARY_SCRIPT), mode: 0o755 },
    ...(vmexec
      ? [{ type: 'file', path: 'bin/strata-vmexec', data: readFileSync(vmexec), mode: 0o755 } as const]
      : []),
  ];
  for (const m of modules) {
    const file = files.get(m);
    if (file) {
      entries.push({ type: 'file', path: `lib/modules/${m}.ko`, data: readFileSync(file) });
      loaded.push(m);
    } else if (!builtin.has(m)) {
      throw new Error(
        `kernel ${kernel.release} has no module ${m} (neither in ${kernel.modulesDir} nor built in)`,
      );
    }
  }
  entries.push({ type: 'file', path: 'strata/modules', data: Buffer.from(`${loaded.join('\n')}\n`) });
  return entries;
}

/** Builds (once) the base initramfs of `kernel` in `cacheDir`; returns its path. */
export function baseInitramfs(
  kernel: GuestKernel,
  cacheDir: string,
  busybox = DEFAULT_BUSYBOX,
  vmexec?: string,
): string {
  const archive = cpioArchive(baseEntries(kernel, busybox, vmexec));
  const name = `initramfs-${kernel.release}-${createHash('sha256').update(archive).digest('hex').slice(0, 16)}.cpio`;
  const path = join(cacheDir, name);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, archive);
    renameSync(tmp, path);
  }
  return path;
}

/**
 * The per-sandbox archive, to append to the base archive: /strata/config (see init.ts) and the pod's
 * /etc files (`etc`: name → content; hosts, hostname, resolv.conf), which the init binds into its root.
 */
export function configArchive(configScript: string, etc: Record<string, string> = {}): Buffer {
  // Inode numbers distinct from the base archive's: the kernel links entries with equal inode numbers.
  return cpioArchive(
    [
      { type: 'file', path: 'strata/config', data: Buffer.from(configScript), mode: 0o644 },
      ...(Object.keys(etc).length ? [{ type: 'dir', path: 'strata/etc' } as const] : []),
      ...Object.entries(etc).map(([name, text]): CpioEntry => ({
        type: 'file',
        path: `strata/etc/${name}`,
        data: Buffer.from(text),
        mode: 0o644,
      })),
    ],
    1 << 20,
  );
}
