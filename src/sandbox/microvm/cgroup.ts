// QEMU itself in a cgroup of its own, `/<parent>/<sandbox id>`, with the pod's limits plus a stated
// overhead: the guest's memory bounds the workload, the cgroup bounds QEMU (guest RAM + the TCG
// translation cache + QEMU's own heap), so a runaway QEMU cannot take the node. QEMU starts inside it
// (a shell joins the cgroup, then execs QEMU), so every page it allocates is charged there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroup, type CgroupLayout } from '../container/cgroups.ts';

/** QEMU's memory beyond guest RAM and the translation cache (device emulation, heap, loaded kernel). */
export const QEMU_OVERHEAD_BYTES = 96 * 1024 * 1024;

export interface VmCgroupLimits {
  memoryBytes: number;
  /** CPU cores: the quota of QEMU's threads (vCPUs and I/O). */
  cpus: number;
}

/** The memory QEMU may hold: guest + translation cache + overhead. */
export function qemuMemoryLimit(guestMiB: number, tbSizeMiB: number): number {
  return (guestMiB + tbSizeMiB) * 1024 * 1024 + QEMU_OVERHEAD_BYTES;
}

/**
 * Creates the cgroup with its limits; returns the `cgroup.procs` files QEMU's starter writes its pid to.
 * Controllers: memory, cpu, pids (and cpuacct on v1), in whichever hierarchies the host has.
 */
export function createVmCgroup(
  layout: CgroupLayout,
  parent: string,
  id: string,
  limits: VmCgroupLimits,
): string[] {
  const rel = join(parent, id);
  const procs: string[] = [];
  const period = 100_000;
  const quota = Math.max(1000, Math.round(limits.cpus * period));
  if (layout.mode === 'v2' && layout.unified) {
    const dir = join(layout.unified, rel);
    // Controllers reach a leaf only when every ancestor enables them for its children.
    let at = layout.unified;
    for (const part of [...parent.split('/').filter(Boolean), '']) {
      try {
        writeFileSync(join(at, 'cgroup.subtree_control'), '+memory +cpu +pids');
      } catch {
        // already enabled, or not delegated: writing the limits below then fails loudly
      }
      if (!part) break;
      at = join(at, part);
      mkdirSync(at, { recursive: true });
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
    writeFileSync(join(dir, 'memory.swap.max'), '0');
    writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`);
    procs.push(join(dir, 'cgroup.procs'));
    return procs;
  }
  const v1 = (ctrl: string): string | undefined => layout.v1[ctrl];
  const mem = v1('memory');
  if (mem) {
    const dir = join(mem, rel);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    procs.push(join(dir, 'cgroup.procs'));
  }
  const cpu = v1('cpu');
  if (cpu) {
    const dir = join(cpu, rel);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
    if (!procs.includes(join(dir, 'cgroup.procs'))) procs.push(join(dir, 'cgroup.procs'));
  }
  for (const ctrl of ['cpuacct', 'pids']) {
    const root = v1(ctrl);
    if (!root) continue;
    const dir = join(root, rel);
    mkdirSync(dir, { recursive: true });
    if (!procs.includes(join(dir, 'cgroup.procs'))) procs.push(join(dir, 'cgroup.procs'));
  }
  return procs;
}

/** Removes the sandbox's cgroup (and empty parents). Returns what was still busy. */
export function removeVmCgroup(layout: CgroupLayout, parent: string, id: string): string[] {
  return removeCgroup(layout, parent, id);
}

/** argv that joins `procs` and then execs `argv` (so QEMU is born inside the cgroup). */
export function inCgroup(procs: string[], argv: string[]): string[] {
  const join = procs.map((p) => `echo $$ > '${p.replaceAll("'", "'\\''")}' || exit 125`).join('; ');
  return ['/bin/sh', '-c', `${join}; exec "$@"`, 'strata-microvm', ...argv];
}
