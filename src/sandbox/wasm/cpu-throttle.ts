// limits.cpu below one core, enforced the only way a worker thread allows: at host calls.
//
// A worker thread cannot be put in its own cgroup or paused from outside, so a guest that never calls
// the host runs at up to one full core whatever its limit (one core is also the most any guest can use:
// it is single-threaded). A guest that does call the host (I/O, clocks, sleeps) is held to its share
// with a token bucket: CPU time is earned at `cpu` seconds per wall second, up to a small burst; when
// the guest has spent more than it earned, its next host call sleeps until the debt is repaid.

/** Most CPU time (ms) a guest may bank while idle, so a long sleep does not buy a long burst. */
const BURST_MS = 50;
/** Re-measure at most this often (ms of wall time): reading thread CPU time costs a syscall. */
const CHECK_EVERY_MS = 5;

export class CpuThrottle {
  private readonly cpu: number;
  private readonly sleep: (ms: number) => void;
  private tokensMs = BURST_MS;
  private lastWall = performance.now();
  private lastCpuMs = threadCpuMs();

  /** @param cpu cores (0 < cpu < 1); @param sleep an interruptible sleep (see poll.ts). */
  constructor(cpu: number, sleep: (ms: number) => void) {
    this.cpu = cpu;
    this.sleep = sleep;
  }

  /** Called at every host call; may sleep the guest. */
  check(): void {
    const wall = performance.now();
    if (wall - this.lastWall < CHECK_EVERY_MS) return;
    const cpuMs = threadCpuMs();
    this.tokensMs = Math.min(
      BURST_MS,
      this.tokensMs + (wall - this.lastWall) * this.cpu - (cpuMs - this.lastCpuMs),
    );
    this.lastWall = wall;
    this.lastCpuMs = cpuMs;
    if (this.tokensMs < 0) {
      // Sleeping refills the bucket at `cpu` ms per ms, back to zero.
      this.sleep(-this.tokensMs / this.cpu);
      const after = performance.now();
      this.tokensMs = Math.min(BURST_MS, this.tokensMs + (after - this.lastWall) * this.cpu);
      this.lastWall = after;
      this.lastCpuMs = threadCpuMs();
    }
  }
}

export function threadCpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}
