import { describe, expect, it } from 'vitest';
import { StatsCollector } from './collector.ts';
import { cadvisorExposition, resourceExposition } from './exposition.ts';
import type { NodeReading, SandboxRef, StatsReading } from './samples.ts';
import { buildSummary } from './summary.ts';
import { parseMeminfo, parseNetDev, parseProcStat } from './node-stats.ts';

const node = (): NodeReading => ({
  timestamp: new Date(),
  cpuSeconds: [{ user: 1, nice: 0, system: 1, idle: 8, iowait: 0, irq: 0, softirq: 0, steal: 0 }],
  cpuBusySeconds: 2,
  memory: { totalBytes: 8e9, availableBytes: 6e9, freeBytes: 5e9, buffersBytes: 0, cachedBytes: 0 },
  filesystems: [],
  network: [],
  bootTime: 1_700_000_000,
});

function ref(container: string, read: () => StatsReading): SandboxRef {
  return {
    namespace: 'default',
    pod: 'web',
    podUid: 'uid-1',
    container,
    runtimeClass: 'container',
    sandboxId: `uid-1-${container}-0`,
    startedAt: 1_700_000_100,
    requests: {},
    limits: { memoryBytes: 64 << 20, cpuCores: 0.5 },
    stats: async () => read(),
  };
}

describe('collector and expositions', () => {
  it('derives CPU rates from two readings and renders cAdvisor series per container and per pod', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    let cpu = 0;
    const refs = [
      ref('app', () => ({
        cpuNanos: (cpu += 5e8),
        memoryBytes: 10 << 20,
        cpuCfsPeriods: 100,
        cpuCfsThrottledPeriods: 40,
        networkRxBytes: 1000,
        networkTxBytes: 500,
        timestamp: new Date((t += 10_000)),
      })),
      ref('sidecar', () => ({
        cpuNanos: 1e9,
        memoryBytes: 2 << 20,
        networkRxBytes: 1000,
        networkTxBytes: 500,
        timestamp: new Date(t),
      })),
    ];
    const collector = new StatsCollector({ nodeName: 'n1', list: () => refs, node });
    const first = await collector.collect();
    expect(first.containers[0].cpuCores).toBeUndefined();
    const second = await collector.collect();
    // 0.5 s of CPU over 10 s.
    expect(second.containers[0].cpuCores).toBeCloseTo(0.05);
    const text = await cadvisorExposition(collector).render();
    const app = 'namespace="default",pod="web",container="app",runtime_class="container"';
    expect(text).toContain(`container_cpu_usage_seconds_total{${app}} 1`);
    expect(text).toContain(`container_cpu_cfs_throttled_periods_total{${app}} 40`);
    expect(text).toContain(`container_spec_memory_limit_bytes{${app}} 67108864`);
    expect(text).toContain(`container_spec_cpu_quota{${app}} 50000`);
    expect(text).toContain(`container_start_time_seconds{${app}} 1700000100`);
    // Pod level: the containers summed; the shared network namespace counted once.
    const pod = 'namespace="default",pod="web",container="",runtime_class="container"';
    expect(text).toContain(`container_cpu_usage_seconds_total{${pod}} 2`);
    expect(text).toContain(`container_memory_working_set_bytes{${pod}} 12582912`);
    expect(text).toContain(`container_network_receive_bytes_total{${pod},interface="eth0"} 1000`);
    const resource = await resourceExposition(collector).render();
    expect(resource).toContain('pod_memory_working_set_bytes{namespace="default",pod="web"} 12582912');
    const summary = buildSummary('n1', second);
    expect(summary.pods[0].podRef).toEqual({ name: 'web', namespace: 'default', uid: 'uid-1' });
    expect(summary.pods[0].containers[0].strata.cfs).toEqual({
      periods: 100,
      throttledPeriods: 40,
      throttledNanos: 0,
    });
    expect(summary.node.memory?.workingSetBytes).toBe(2e9);
  });

  it('a sandbox that ended between listing and reading has no sample and counts as an error', async () => {
    const refs = [
      ref('gone', () => {
        throw new Error('not found');
      }),
    ];
    const pass = await new StatsCollector({ nodeName: 'n1', list: () => refs, node }).collect();
    expect(pass.containers).toEqual([]);
    expect(pass.errors).toBe(1);
  });

  it('parses /proc/stat, /proc/meminfo and /proc/net/dev', () => {
    expect(parseProcStat('cpu  1 2 3 4\ncpu0 100 0 50 1000 5 0 0 0\nbtime 1700000000\n')).toEqual({
      cpus: [{ user: 1, nice: 0, system: 0.5, idle: 10, iowait: 0.05, irq: 0, softirq: 0, steal: 0 }],
      bootTime: 1_700_000_000,
    });
    expect(parseMeminfo('MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 500 kB\n')).toMatchObject({
      totalBytes: 1_024_000,
      availableBytes: 512_000,
    });
    const dev = 'Inter-|\n face |bytes\n  eth0: 100 2 0 0 0 0 0 0 300 4 0 0 0 0 0 0\n';
    expect(parseNetDev(dev)).toEqual([
      { device: 'eth0', rxBytes: 100, rxPackets: 2, txBytes: 300, txPackets: 4 },
    ]);
  });
});
