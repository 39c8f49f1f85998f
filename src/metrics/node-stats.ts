// The node's figures from the kernel's own files, as node_exporter reads them: /proc/stat (CPU time per
// mode), /proc/meminfo, statfs of the mounts that hold data, /proc/net/dev, /proc/pressure (PSI).
import { readFileSync, statfsSync } from 'node:fs';
import type { NodeReading } from './samples.ts';

/** USER_HZ: /proc/stat counts in clock ticks of 1/100 s on every Linux architecture Strata runs on. */
const TICKS_PER_SECOND = 100;
const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
/** Pseudo and virtual filesystems node_exporter leaves out by default. */
const SKIPPED_FS =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs|nfsd|ramfs)$/;

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function parseProcStat(text: string): { cpus: Array<Record<string, number>>; bootTime: number } {
  const cpus: Array<Record<string, number>> = [];
  let bootTime = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (/^cpu\d+$/.test(f[0])) {
      const modes: Record<string, number> = {};
      CPU_MODES.forEach((m, i) => (modes[m] = (Number(f[i + 1]) || 0) / TICKS_PER_SECOND));
      cpus[Number(f[0].slice(3))] = modes;
    } else if (f[0] === 'btime') bootTime = Number(f[1]) || 0;
  }
  return { cpus: cpus.filter(Boolean), bootTime };
}

export function parseMeminfo(text: string): NodeReading['memory'] {
  const kb: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) kb[m[1]] = Number(m[2]) * 1024;
  }
  return {
    totalBytes: kb.MemTotal ?? 0,
    availableBytes: kb.MemAvailable ?? kb.MemFree ?? 0,
    freeBytes: kb.MemFree ?? 0,
    buffersBytes: kb.Buffers ?? 0,
    cachedBytes: kb.Cached ?? 0,
  };
}

export function parseNetDev(text: string): NodeReading['network'] {
  const out: NodeReading['network'] = [];
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const f = line
      .slice(i + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    out.push({
      device: line.slice(0, i).trim(),
      rxBytes: f[0],
      rxPackets: f[1],
      txBytes: f[8],
      txPackets: f[9],
    });
  }
  return out;
}

/** /proc/self/mounts → real filesystems (first mount of each device), with their statfs figures. */
export function readFilesystems(mounts = read('/proc/self/mounts')): NodeReading['filesystems'] {
  const seen = new Set<string>();
  const out: NodeReading['filesystems'] = [];
  for (const line of mounts.split('\n')) {
    const [device, mountpoint, fstype] = line.split(' ');
    if (!device || !mountpoint || SKIPPED_FS.test(fstype) || seen.has(device)) continue;
    if (fstype === 'tmpfs' && mountpoint !== '/run' && mountpoint !== '/tmp') continue;
    seen.add(device);
    try {
      const s = statfsSync(mountpoint.replace(/\\040/g, ' '));
      out.push({
        device,
        mountpoint,
        fstype,
        sizeBytes: s.blocks * s.bsize,
        availBytes: s.bavail * s.bsize,
        freeBytes: s.bfree * s.bsize,
      });
    } catch {
      // unmounted meanwhile, or not ours to stat
    }
  }
  return out;
}

/** The cumulative "some" stall time (µs) of a PSI file. */
export function pressureTotal(text: string): number | undefined {
  const m = /^some .*\btotal=(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function readNode(): NodeReading {
  const { cpus, bootTime } = parseProcStat(read('/proc/stat'));
  const busy = cpus.reduce((s, c) => s + c.user + c.nice + c.system + c.irq + c.softirq + c.steal, 0);
  const cpu = pressureTotal(read('/proc/pressure/cpu'));
  return {
    timestamp: new Date(),
    cpuSeconds: cpus,
    cpuBusySeconds: busy,
    memory: parseMeminfo(read('/proc/meminfo')),
    filesystems: readFilesystems(),
    network: parseNetDev(read('/proc/net/dev')),
    ...(cpu !== undefined
      ? {
          pressureStallMicros: {
            cpu,
            memory: pressureTotal(read('/proc/pressure/memory')),
            io: pressureTotal(read('/proc/pressure/io')),
          },
        }
      : {}),
    bootTime,
  };
}
