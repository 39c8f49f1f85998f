// Where a container start's time goes: the pod worker marks each step of the start (service env,
// volumes and the service-account token, the image's rootfs, the sandbox — with the tier's own
// breakdown from the handle — the hostPorts, postStart, the status write) and logs one line with the
// step durations when the start is reported. Users read it to see why a pod is slow to start; the
// serving bench (bench/serving.ts) reads it from the node's log to print where the cold start went.

/** The message of the log line (what the bench looks for). */
export const START_TIMING_MESSAGE = 'container start timing';

/**
 * The tier's own breakdown of `Driver.start()`, as a sandbox handle may carry it in
 * `state.startSteps` (step name → milliseconds, in the order the steps ran). Optional for every tier.
 */
export function sandboxSteps(state: Record<string, unknown> | undefined): Record<string, number> {
  const steps = state?.startSteps;
  if (!steps || typeof steps !== 'object') return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(steps)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** Milliseconds with 0.1 ms resolution: what a log line needs, without float noise. */
function ms(v: number): number {
  return Math.round(v * 10) / 10;
}

export class StartTiming {
  private readonly t0: number;
  private last: number;
  /** Step name → milliseconds, in the order they were marked (a step marked twice adds up). */
  readonly steps: Record<string, number> = {};
  /**
   * Breakdowns of steps: "prepare" (its parts, which run at once: each one's own duration) and
   * "sandbox" (the tier's, from the handle).
   */
  readonly parts: Record<string, Record<string, number>> = {};

  /** `since`: a performance.now() the first step counts from (the worker's start: the wait before it). */
  constructor(since = performance.now()) {
    this.t0 = since;
    this.last = since;
  }

  /** Ends the step that ran since the previous mark (or the start). */
  mark(step: string, now = performance.now()): void {
    this.steps[step] = ms((this.steps[step] ?? 0) + now - this.last);
    this.last = now;
  }

  /** Runs one part of a step, recording its own duration as `parts[group][name]`. */
  async time<T>(group: string, name: string, work: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await work();
    } finally {
      (this.parts[group] ??= {})[name] = ms(performance.now() - t);
    }
  }

  totalMs(now = performance.now()): number {
    return ms(now - this.t0);
  }

  /** The fields of the log line. */
  fields(now = performance.now()): {
    totalMs: number;
    steps: Record<string, number>;
    parts: Record<string, Record<string, number>>;
  } {
    const parts: Record<string, Record<string, number>> = {};
    for (const [group, p] of Object.entries(this.parts))
      parts[group] = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, ms(v)]));
    return { totalMs: this.totalMs(now), steps: { ...this.steps }, parts };
  }
}
