// limits.cpu below one core, enforced the only way a worker thread allows: at host calls.
//
// A worker thread cannot be put in its own cgroup or paused from outside, so the limit is applied where
// the guest passes through the host: at its host calls (I/O, clocks, sleeps) and, on a shared thread,
// at its preemption points (preempt.ts: loop heads and function entries), so a guest that computes
// without calling the host is held to its share too. A guest on a thread of its own (a module that
// could not be given preemption points) that never calls the host runs at up to one full core.
// The share is a token bucket: CPU time is earned at `cpu` seconds per wall second, up to a small
// burst; when the guest has spent more than it earned, it sleeps (suspended) until the debt is repaid.
// CPU time is counted per guest (the worker switches guests, see worker.ts), through `cpuMs`.

/** Most CPU time (ms) a guest may bank while idle, so a long sleep does not buy a long burst. */
const BURST_MS = 50;
/** Re-measure at most this often (ms of wall time): reading thread CPU time costs a syscall. */
const CHECK_EVERY_MS = 5;

export class CpuThrottle {
  private readonly cpu: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly cpuMs: () => number;
  private tokensMs = BURST_MS;
  private lastWall = performance.now();
  private lastCpuMs: number;

  /**
   * @param cpu cores (0 < cpu < 1); @param sleep an interruptible sleep (see poll.ts);
   * @param cpuMs the CPU time this guest has used so far.
   */
  constructor(cpu: number, sleep: (ms: number) => Promise<void>, cpuMs: () => number) {
    this.cpu = cpu;
    this.sleep = sleep;
    this.cpuMs = cpuMs;
    this.lastCpuMs = cpuMs();
  }

  /** Called at every host call and preemption point; a promise when the guest must sleep first. */
  check(): Promise<void> | undefined {
    const wall = performance.now();
    if (wall - this.lastWall < CHECK_EVERY_MS) return undefined;
    const cpuMs = this.cpuMs();
    this.tokensMs = Math.min(
      BURST_MS,
      this.tokensMs + (wall - this.lastWall) * this.cpu - (cpuMs - this.lastCpuMs),
    );
    this.lastWall = wall;
    this.lastCpuMs = cpuMs;
    if (this.tokensMs >= 0) return undefined;
    // Sleeping refills the bucket at `cpu` ms per ms, back to zero.
    return this.sleep(-this.tokensMs / this.cpu).then(() => {
      const after = performance.now();
      this.tokensMs = Math.min(BURST_MS, this.tokensMs + (after - this.lastWall) * this.cpu);
      this.lastWall = after;
      this.lastCpuMs = this.cpuMs();
    });
  }
}

export function threadCpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}
