// Layout detection and the v1/v2 statistics readers on recorded file contents (the real cgroups are
// exercised by driver.test.ts on whatever layout this machine has; here both layouts are covered).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cgroupDirs, detectCgroups, readStatsV1, readStatsV2 } from './cgroups.ts';
import { tempDir } from './test-support.ts';

const tmp = tempDir('strata-cgroups-');
afterAll(() => tmp.remove());

const HYBRID = `
25 19 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids
`;
const V2 = `
25 19 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

function files(dir: string, content: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(content)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('cgroup layout', () => {
  it('detects hybrid with co-mounted controllers and the named hierarchy', () => {
    const l = detectCgroups(HYBRID);
    expect(l.mode).toBe('hybrid');
    expect(l.v1.cpu).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.cpuacct).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.unified).toBe('/sys/fs/cgroup/unified');
    expect(cgroupDirs(l, '/strata/x').sort()).toEqual([
      '/sys/fs/cgroup/cpu,cpuacct/strata/x',
      '/sys/fs/cgroup/memory/strata/x',
      '/sys/fs/cgroup/pids/strata/x',
      '/sys/fs/cgroup/systemd/strata/x',
      '/sys/fs/cgroup/unified/strata/x',
    ]);
  });

  it('detects v2 and v1-only hosts', () => {
    expect(detectCgroups(V2)).toMatchObject({
      mode: 'v2',
      unified: '/sys/fs/cgroup',
      hierarchies: ['/sys/fs/cgroup'],
    });
    const v1only = HYBRID.split('\n')
      .filter((l) => !l.includes('cgroup2'))
      .join('\n');
    expect(detectCgroups(v1only).mode).toBe('v1');
  });
});

describe('statistics', () => {
  it('reads v1 files', () => {
    const d = join(tmp.path, 'v1');
    const s = readStatsV1({
      memory: files(join(d, 'memory'), {
        'memory.usage_in_bytes': '10485760\n',
        'memory.limit_in_bytes': '33554432\n',
        'memory.stat': 'cache 4096\ntotal_inactive_file 2097152\ntotal_rss 8388608\n',
        'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
      }),
      cpuacct: files(join(d, 'cpuacct'), { 'cpuacct.usage': '123456789\n' }),
      cpu: files(join(d, 'cpu'), {
        'cpu.stat': 'nr_periods 50\nnr_throttled 19\nthrottled_time 950000000\n',
      }),
      pids: files(join(d, 'pids'), { 'pids.current': '7\n', 'pids.max': '64\n', 'pids.events': 'max 3\n' }),
      blkio: files(join(d, 'blkio'), {
        'blkio.throttle.io_service_bytes':
          '8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\n8:16 Read 1\nTotal 12289\n',
      }),
    });
    expect(s).toEqual({
      cpuNanos: 123456789,
      memoryWorkingSetBytes: 8388608,
      memoryUsageBytes: 10485760,
      memoryLimitBytes: 33554432,
      pids: 7,
      pidsLimit: 64,
      pidsLimitHits: 3,
      ioReadBytes: 4097,
      ioWriteBytes: 8192,
      oomKills: 2,
      cpuCfsPeriods: 50,
      cpuCfsThrottledPeriods: 19,
      cpuCfsThrottledNanos: 950_000_000,
      memoryRssBytes: 8388608,
    });
    const unlimited = readStatsV1({
      memory: files(join(d, 'm2'), {
        'memory.usage_in_bytes': '1',
        'memory.limit_in_bytes': '9223372036854771712',
      }),
    });
    expect(unlimited.memoryLimitBytes).toBeUndefined();
  });

  it('reads v2 files', () => {
    const dir = files(join(tmp.path, 'v2'), {
      'memory.current': '10485760\n',
      'memory.max': 'max\n',
      'memory.stat': 'anon 8388608\nfile 2097152\ninactive_file 1048576\n',
      'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n',
      'cpu.stat':
        'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 1200\n',
      'io.pressure':
        'some avg10=1.50 avg60=0.20 avg300=0.00 total=98765\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=50\n',
      'pids.current': '3\n',
      'pids.max': '1024\n',
      'pids.events': 'max 0\n',
      'io.stat':
        '8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n253:0 rbytes=100 wbytes=0 rios=1 wios=0\n',
    });
    expect(readStatsV2(dir)).toEqual({
      cpuNanos: 2_500_000,
      memoryWorkingSetBytes: 9437184,
      memoryUsageBytes: 10485760,
      pids: 3,
      pidsLimit: 1024,
      pidsLimitHits: 0,
      ioReadBytes: 4196,
      ioWriteBytes: 512,
      oomKills: 1,
      cpuCfsPeriods: 10,
      cpuCfsThrottledPeriods: 4,
      cpuCfsThrottledNanos: 1_200_000,
      memoryRssBytes: 8388608,
      // Only the "some" line counts; a missing file is no figure.
      pressureStallMicros: { cpu: undefined, memory: undefined, io: 98765 },
    });
  });
});
