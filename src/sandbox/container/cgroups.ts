// Cgroups as the container tier needs them, for all three layouts a Linux host can have:
//   v1      one hierarchy per controller (/sys/fs/cgroup/memory, .../cpu,cpuacct, ...)
//   hybrid  v1 controllers, plus an empty v2 hierarchy (/sys/fs/cgroup/unified) that runc populates too
//   v2      one unified hierarchy at /sys/fs/cgroup
// The layout is read from /proc/self/mountinfo (controllers may be co-mounted, e.g. "cpu,cpuacct", and
// mount points vary), never assumed from paths.
//
// The runtime creates the container's cgroup (cgroupsPath /<parent>/<id>) in every hierarchy; Strata
// reads statistics and the OOM-kill count from it, and removes it — and the parents once empty — on
// destroy, because crun leaves them behind and runc leaves the parents.

import { readFileSync, rmdirSync, mkdirSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export type CgroupMode = 'v1' | 'hybrid' | 'v2';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 controller → mount point (co-mounted controllers share one). */
  v1: Record<string, string>;
  /** The cgroup2 mount point, if any (the only hierarchy on v2; the "unified" one on hybrid). */
  unified?: string;
  /** Every hierarchy a container's cgroup appears in (v1 ones, named ones like name=systemd, v2). */
  hierarchies: string[];
}

export function detectCgroups(mountinfo?: string): CgroupLayout {
  const text = mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
  const v1: Record<string, string> = {};
  const hierarchies = new Set<string>();
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = unescapeMount(before[4] ?? '');
    if (fstype === 'cgroup2') {
      unified ??= mountPoint;
      hierarchies.add(mountPoint);
    } else if (fstype === 'cgroup') {
      hierarchies.add(mountPoint);
      for (const opt of superOpts.split(',')) {
        if (CONTROLLERS.has(opt)) v1[opt] ??= mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  const mode: CgroupMode = hasV1 ? (unified ? 'hybrid' : 'v1') : 'v2';
  return { mode, v1, unified, hierarchies: [...hierarchies] };
}

const CONTROLLERS = new Set([
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'blkio',
  'perf_event',
  'net_prio',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);

function unescapeMount(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Why containers cannot get the cgroups they need here, or undefined when they can. */
export function cgroupProblem(layout: CgroupLayout, parent: string): string | undefined {
  if (layout.mode === 'v2') {
    if (!layout.unified) return 'no cgroup filesystem mounted';
    const available = readOr(join(layout.unified, 'cgroup.controllers'), '').split(/\s+/);
    for (const c of ['memory', 'pids', 'cpu']) {
      if (!available.includes(c)) return `cgroup v2 controller "${c}" is not available at ${layout.unified}`;
    }
    return probeWritable(layout.unified, parent);
  }
  for (const c of ['memory', 'pids', 'cpu', 'cpuacct']) {
    if (!layout.v1[c]) return `cgroup v1 controller "${c}" is not mounted`;
  }
  return probeWritable(layout.v1.memory, parent);
}

function probeWritable(root: string, parent: string): string | undefined {
  try {
    accessSync(root, constants.W_OK);
    const probe = join(root, `${parent.split('/')[0]}.probe-${process.pid}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return undefined;
  } catch (err) {
    return `cannot create cgroups under ${root}: ${(err as Error).message}`;
  }
}

/** The container's directory in each hierarchy. `rel` is the cgroupsPath, e.g. /strata/<id>. */
export function cgroupDirs(layout: CgroupLayout, rel: string): string[] {
  return layout.hierarchies.map((h) => join(h, rel));
}

export interface CgroupStats {
  /** Cumulative CPU time, ns. */
  cpuNanos: number;
  /** Working set (usage minus inactive file cache), as kubelet reports it. */
  memoryWorkingSetBytes: number;
  memoryUsageBytes: number;
  memoryLimitBytes?: number;
  pids: number;
  pidsLimit?: number;
  /** Forks refused because the pids limit was reached (pids.events "max"). */
  pidsLimitHits: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  /** Processes the kernel OOM killer ended in this cgroup. */
  oomKills: number;
  /** CFS bandwidth control: periods elapsed, periods throttled, time throttled (ns). */
  cpuCfsPeriods: number;
  cpuCfsThrottledPeriods: number;
  cpuCfsThrottledNanos: number;
  /** Anonymous memory (v1 total_rss, v2 anon). */
  memoryRssBytes: number;
  /** Cumulative "some" stall time per resource (µs), cgroup v2 only (PSI). */
  pressureStallMicros?: { cpu?: number; memory?: number; io?: number };
}

export function readStats(layout: CgroupLayout, rel: string): CgroupStats {
  if (layout.mode === 'v2') return readStatsV2(join(layout.unified!, rel));
  const dir = (c: string) => (layout.v1[c] ? join(layout.v1[c], rel) : undefined);
  return readStatsV1({
    memory: dir('memory'),
    cpuacct: dir('cpuacct'),
    cpu: dir('cpu'),
    pids: dir('pids'),
    blkio: dir('blkio'),
  });
}

/** cgroup v1: memory.usage_in_bytes, memory.stat, cpuacct.usage, pids.current/max/events, blkio, oom_control. */
export function readStatsV1(d: {
  memory?: string;
  cpuacct?: string;
  cpu?: string;
  pids?: string;
  blkio?: string;
}): CgroupStats {
  const memStat = d.memory ? keyValues(readOr(join(d.memory, 'memory.stat'), '')) : {};
  const usage = d.memory ? num(readOr(join(d.memory, 'memory.usage_in_bytes'), '0')) : 0;
  const limit = d.memory ? num(readOr(join(d.memory, 'memory.limit_in_bytes'), '')) : NaN;
  const inactive = memStat.total_inactive_file ?? memStat.inactive_file ?? 0;
  const io = d.blkio
    ? blkioBytes(readOr(join(d.blkio, 'blkio.throttle.io_service_bytes'), ''))
    : { read: 0, write: 0 };
  const pidsMax = d.pids ? readOr(join(d.pids, 'pids.max'), 'max').trim() : 'max';
  const oom = d.memory ? keyValues(readOr(join(d.memory, 'memory.oom_control'), '')) : {};
  const cfs = d.cpu ? keyValues(readOr(join(d.cpu, 'cpu.stat'), '')) : {};
  return {
    cpuCfsPeriods: cfs.nr_periods ?? 0,
    cpuCfsThrottledPeriods: cfs.nr_throttled ?? 0,
    cpuCfsThrottledNanos: cfs.throttled_time ?? 0,
    memoryRssBytes: memStat.total_rss ?? memStat.rss ?? 0,
    cpuNanos: d.cpuacct ? num(readOr(join(d.cpuacct, 'cpuacct.usage'), '0')) : 0,
    memoryWorkingSetBytes: Math.max(0, usage - inactive),
    memoryUsageBytes: usage,
    // v1 reports "no limit" as a huge page-aligned number.
    ...(Number.isFinite(limit) && limit < 2 ** 62 ? { memoryLimitBytes: limit } : {}),
    pids: d.pids ? num(readOr(join(d.pids, 'pids.current'), '0')) : 0,
    ...(pidsMax !== 'max' ? { pidsLimit: num(pidsMax) } : {}),
    pidsLimitHits: d.pids ? (keyValues(readOr(join(d.pids, 'pids.events'), '')).max ?? 0) : 0,
    ioReadBytes: io.read,
    ioWriteBytes: io.write,
    oomKills: oom.oom_kill ?? 0,
  };
}

/** cgroup v2: memory.current, memory.stat, memory.max, cpu.stat, pids.current/max/events, io.stat, memory.events. */
export function readStatsV2(dir: string): CgroupStats {
  const memStat = keyValues(readOr(join(dir, 'memory.stat'), ''));
  const usage = num(readOr(join(dir, 'memory.current'), '0'));
  const memMax = readOr(join(dir, 'memory.max'), 'max').trim();
  const pidsMax = readOr(join(dir, 'pids.max'), 'max').trim();
  const cpu = keyValues(readOr(join(dir, 'cpu.stat'), ''));
  const events = keyValues(readOr(join(dir, 'memory.events'), ''));
  let read = 0;
  let write = 0;
  for (const line of readOr(join(dir, 'io.stat'), '').split('\n')) {
    for (const field of line.split(' ').slice(1)) {
      const [k, v] = field.split('=');
      if (k === 'rbytes') read += num(v);
      else if (k === 'wbytes') write += num(v);
    }
  }
  return {
    cpuCfsPeriods: cpu.nr_periods ?? 0,
    cpuCfsThrottledPeriods: cpu.nr_throttled ?? 0,
    cpuCfsThrottledNanos: (cpu.throttled_usec ?? 0) * 1000,
    memoryRssBytes: memStat.anon ?? 0,
    pressureStallMicros: {
      cpu: pressureTotal(readOr(join(dir, 'cpu.pressure'), '')),
      memory: pressureTotal(readOr(join(dir, 'memory.pressure'), '')),
      io: pressureTotal(readOr(join(dir, 'io.pressure'), '')),
    },
    cpuNanos: (cpu.usage_usec ?? 0) * 1000,
    memoryWorkingSetBytes: Math.max(0, usage - (memStat.inactive_file ?? 0)),
    memoryUsageBytes: usage,
    ...(memMax !== 'max' ? { memoryLimitBytes: num(memMax) } : {}),
    pids: num(readOr(join(dir, 'pids.current'), '0')),
    ...(pidsMax !== 'max' ? { pidsLimit: num(pidsMax) } : {}),
    pidsLimitHits: keyValues(readOr(join(dir, 'pids.events'), '')).max ?? 0,
    ioReadBytes: read,
    ioWriteBytes: write,
    oomKills: events.oom_kill ?? 0,
  };
}

/** OOM kills in the container's cgroup (read before the runtime deletes it). */
export function oomKills(layout: CgroupLayout, rel: string): number {
  if (layout.mode === 'v2')
    return keyValues(readOr(join(layout.unified!, rel, 'memory.events'), '')).oom_kill ?? 0;
  if (!layout.v1.memory) return 0;
  return keyValues(readOr(join(layout.v1.memory, rel, 'memory.oom_control'), '')).oom_kill ?? 0;
}

/**
 * Removes the container's cgroup from every hierarchy, then (with `removeParents`) each parent up to
 * (and including) the first component of `parent`, as long as they are empty. Returns directories that could not be
 * removed (still busy), so a caller can retry or report.
 */
export function removeCgroup(
  layout: CgroupLayout,
  parent: string,
  id: string,
  removeParents = true,
): string[] {
  const busy: string[] = [];
  const parentParts = parent.split('/').filter(Boolean);
  for (const h of layout.hierarchies) {
    const leaf = join(h, ...parentParts, id);
    if (!rmdirQuiet(leaf)) {
      busy.push(leaf);
      continue;
    }
    for (let i = parentParts.length; removeParents && i > 0; i--) {
      // A sibling container's cgroup keeps the parent busy: that is fine, it stays.
      if (!rmdirQuiet(join(h, ...parentParts.slice(0, i)))) break;
    }
  }
  return busy;
}

/** true when the directory is gone (removed now or never there). */
function rmdirQuiet(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function num(s: string): number {
  const n = Number(s.trim());
  return Number.isFinite(n) ? n : NaN;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control) → numbers. */
export function keyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** blkio.throttle.io_service_bytes: "8:0 Read 4096" lines, summed over devices ("Total" lines skipped). */
function blkioBytes(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const [dev, op, v] = line.trim().split(/\s+/);
    if (!dev || !dev.includes(':')) continue;
    if (op === 'Read') read += Number(v) || 0;
    else if (op === 'Write') write += Number(v) || 0;
  }
  return { read, write };
}

/** The cumulative "some" stall time (µs) of a PSI file (cpu.pressure, /proc/pressure/io, …). */
export function pressureTotal(text: string): number | undefined {
  const m = /^some .*\btotal=(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Bytes through the network namespace a cgroup's processes run in (loopback excluded), read from the
 * first member's /proc/PID/net/dev — what cAdvisor reports as the container's network figures.
 */
export function cgroupNetwork(layout: CgroupLayout, rel: string): { rx: number; tx: number } | undefined {
  const dir = layout.mode === 'v2' ? join(layout.unified!, rel) : layout.v1.pids && join(layout.v1.pids, rel);
  if (!dir) return undefined;
  const pid = readOr(join(dir, 'cgroup.procs'), '').split('\n')[0]?.trim();
  return pid ? netDevOf(pid) : undefined;
}

/** /proc/PID/net/dev summed over every interface but loopback (or over `only`). */
export function netDevOf(pid: string | number, only?: string): { rx: number; tx: number } | undefined {
  const text = readOr(`/proc/${pid}/net/dev`, '');
  if (!text) return undefined;
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!rest || name.trim() === 'lo' || (only !== undefined && name.trim() !== only)) continue;
    const f = rest.trim().split(/\s+/);
    rx += Number(f[0]) || 0;
    tx += Number(f[8]) || 0;
  }
  return { rx, tx };
}
