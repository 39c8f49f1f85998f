// What the agent hands the metrics collector: one entry per running sandbox (a container of a pod on
// this node), with the pod's identity, its resource spec, and how to read the tier's figures now.
// Structural types only: metrics/ sits below the agent and knows nothing of its drivers.

/** One reading of a sandbox's counters (the sandbox driver contract's stats(), src/sandbox/driver.ts). */
export interface StatsReading {
  /** Cumulative CPU time, ns. */
  cpuNanos: number;
  /** Working set, bytes (what limits and eviction compare against). */
  memoryBytes: number;
  timestamp: Date;
  cpuCfsPeriods?: number;
  cpuCfsThrottledPeriods?: number;
  cpuCfsThrottledNanos?: number;
  memoryRssBytes?: number;
  memoryLimitBytes?: number;
  fsReadBytes?: number;
  fsWriteBytes?: number;
  networkRxBytes?: number;
  networkTxBytes?: number;
  pressureStallMicros?: { cpu?: number; memory?: number; io?: number };
}

/** CPU in cores, memory in bytes; absent = not set. */
export interface ResourceFigures {
  cpuCores?: number;
  memoryBytes?: number;
}

export interface SandboxRef {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** The pod's tier (spec.runtimeClassName). */
  runtimeClass: string;
  /** Identifies this run of the container (a restart is a new sandbox: counters start again). */
  sandboxId: string;
  /** When the container started, epoch seconds (undefined: the collector uses when it first saw it). */
  startedAt?: number;
  requests: ResourceFigures;
  limits: ResourceFigures;
  stats(): Promise<StatsReading>;
}

/** A sandbox's latest reading with what the collector derived from the one before it. */
export interface ContainerSample {
  ref: Omit<SandboxRef, 'stats'>;
  reading: StatsReading;
  startedAt: number;
  /** CPU cores used between the previous reading and this one (undefined on the first). */
  cpuCores?: number;
  /** Seconds between the two readings the rate was taken over. */
  windowSeconds?: number;
}

/** The node's own figures (node_exporter's sources: /proc/stat, /proc/meminfo, statfs, /proc/net/dev). */
export interface NodeReading {
  timestamp: Date;
  /** Per CPU, per mode, seconds since boot (/proc/stat). */
  cpuSeconds: Array<Record<string, number>>;
  /** Total busy CPU seconds of all CPUs (everything but idle and iowait). */
  cpuBusySeconds: number;
  memory: {
    totalBytes: number;
    availableBytes: number;
    freeBytes: number;
    buffersBytes: number;
    cachedBytes: number;
  };
  filesystems: Array<{
    device: string;
    mountpoint: string;
    fstype: string;
    sizeBytes: number;
    availBytes: number;
    freeBytes: number;
  }>;
  network: Array<{ device: string; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }>;
  /** /proc/pressure "some" totals, µs (absent without PSI). */
  pressureStallMicros?: { cpu?: number; memory?: number; io?: number };
  bootTime: number;
}
