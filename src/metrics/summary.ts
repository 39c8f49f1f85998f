// The kubelet's /stats/summary (stats/v1alpha1 Summary), built from the collector's latest pass: the
// shape metrics-server reads, so the control plane serves metrics.k8s.io from it. Strata adds, per
// container, the figures its efficiency analysis needs (CFS throttling, block I/O, PSI, the tier) under
// `strata` — fields a kubelet reader ignores.
import type { CollectionPass } from './collector.ts';
import type { ContainerSample } from './samples.ts';

const iso = (d: Date | number): string => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');

function containerStats(s: ContainerSample) {
  const r = s.reading;
  const time = iso(r.timestamp);
  return {
    name: s.ref.container,
    startTime: iso(s.startedAt * 1000),
    cpu: {
      time,
      ...(s.cpuCores !== undefined ? { usageNanoCores: Math.round(s.cpuCores * 1e9) } : {}),
      usageCoreNanoSeconds: Math.round(r.cpuNanos),
    },
    memory: {
      time,
      workingSetBytes: r.memoryBytes,
      usageBytes: r.memoryBytes,
      ...(r.memoryRssBytes !== undefined ? { rssBytes: r.memoryRssBytes } : {}),
      ...(r.memoryLimitBytes !== undefined
        ? { availableBytes: Math.max(0, r.memoryLimitBytes - r.memoryBytes) }
        : {}),
    },
    strata: {
      runtimeClass: s.ref.runtimeClass,
      ...(s.windowSeconds !== undefined ? { windowSeconds: s.windowSeconds } : {}),
      ...(r.cpuCfsPeriods !== undefined
        ? {
            cfs: {
              periods: r.cpuCfsPeriods,
              throttledPeriods: r.cpuCfsThrottledPeriods ?? 0,
              throttledNanos: r.cpuCfsThrottledNanos ?? 0,
            },
          }
        : {}),
      ...(r.fsReadBytes !== undefined
        ? { fs: { readBytes: r.fsReadBytes, writeBytes: r.fsWriteBytes ?? 0 } }
        : {}),
      ...(r.pressureStallMicros ? { pressureStallMicros: r.pressureStallMicros } : {}),
      ...(r.memoryLimitBytes !== undefined ? { memoryLimitBytes: r.memoryLimitBytes } : {}),
    },
  };
}

/** Groups a pass's containers by pod, in a stable order. */
export function byPod(pass: CollectionPass): ContainerSample[][] {
  const pods = new Map<string, ContainerSample[]>();
  for (const c of pass.containers) {
    const list = pods.get(c.ref.podUid) ?? [];
    list.push(c);
    pods.set(c.ref.podUid, list);
  }
  return [...pods.values()];
}

/** The pod's network: its containers share one namespace, so the largest reading is the pod's. */
export function podNetwork(cs: ContainerSample[]): { rxBytes: number; txBytes: number } | undefined {
  let best: { rxBytes: number; txBytes: number } | undefined;
  for (const c of cs) {
    const r = c.reading;
    if (r.networkRxBytes === undefined) continue;
    if (!best || r.networkRxBytes + (r.networkTxBytes ?? 0) > best.rxBytes + best.txBytes)
      best = { rxBytes: r.networkRxBytes, txBytes: r.networkTxBytes ?? 0 };
  }
  return best;
}

export function buildSummary(nodeName: string, pass: CollectionPass) {
  const n = pass.node;
  const time = iso(pass.at);
  const ifaces = (n?.network ?? []).filter((i) => i.device !== 'lo');
  const root = n?.filesystems.find((f) => f.mountpoint === '/');
  return {
    node: {
      nodeName,
      ...(n ? { startTime: iso(n.bootTime * 1000) } : {}),
      cpu: {
        time,
        ...(pass.nodeCpuCores !== undefined ? { usageNanoCores: Math.round(pass.nodeCpuCores * 1e9) } : {}),
        ...(n ? { usageCoreNanoSeconds: Math.round(n.cpuBusySeconds * 1e9) } : {}),
      },
      ...(n
        ? {
            memory: {
              time,
              availableBytes: n.memory.availableBytes,
              usageBytes: n.memory.totalBytes - n.memory.freeBytes,
              workingSetBytes: n.memory.totalBytes - n.memory.availableBytes,
            },
            network: {
              time,
              interfaces: ifaces.map((i) => ({ name: i.device, rxBytes: i.rxBytes, txBytes: i.txBytes })),
            },
            ...(root
              ? {
                  fs: {
                    time,
                    availableBytes: root.availBytes,
                    capacityBytes: root.sizeBytes,
                    usedBytes: root.sizeBytes - root.freeBytes,
                  },
                }
              : {}),
            strata: {
              memoryCapacityBytes: n.memory.totalBytes,
              cpuCount: n.cpuSeconds.length,
              ...(n.pressureStallMicros ? { pressureStallMicros: n.pressureStallMicros } : {}),
            },
          }
        : {}),
    },
    pods: byPod(pass).map((cs) => {
      const first = cs[0].ref;
      const containers = cs.map(containerStats);
      const net = podNetwork(cs);
      const cores = cs.every((c) => c.cpuCores !== undefined)
        ? cs.reduce((s, c) => s + c.cpuCores!, 0)
        : undefined;
      return {
        podRef: { name: first.pod, namespace: first.namespace, uid: first.podUid },
        startTime: iso(Math.min(...cs.map((c) => c.startedAt)) * 1000),
        containers,
        cpu: {
          time,
          ...(cores !== undefined ? { usageNanoCores: Math.round(cores * 1e9) } : {}),
          usageCoreNanoSeconds: Math.round(cs.reduce((s, c) => s + c.reading.cpuNanos, 0)),
        },
        memory: { time, workingSetBytes: cs.reduce((s, c) => s + c.reading.memoryBytes, 0) },
        ...(net ? { network: { time, rxBytes: net.rxBytes, txBytes: net.txBytes } } : {}),
      };
    }),
  };
}

export type Summary = ReturnType<typeof buildSummary>;
