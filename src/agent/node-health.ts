// What the agent tells the scheduler about its node's health, as Node conditions and taints:
//
// - MemoryPressure: available memory (MemAvailable in /proc/meminfo) below a threshold (default 100 MiB,
//   the kubelet's `memory.available<100Mi` hard eviction threshold) → condition MemoryPressure=True and
//   taint `node.kubernetes.io/memory-pressure:NoSchedule`. It clears only after memory has stayed above
//   the threshold for a transition period (the kubelet's --eviction-pressure-transition-period), so a node
//   near the line does not flap.
// - Runtime unavailable: a tier this agent offered fails a later fingerprint (its runtime broke), or no
//   configured tier works at all → taint `strata.dev/runtime-unavailable=<tiers>:NoSchedule` (tiers joined
//   by `_`) and condition RuntimeUnavailable=True naming each reason. A tier that never passed its
//   fingerprint on this machine (no /dev/kvm, no runc) is simply not offered and taints nothing: that is
//   the machine's shape, not a fault.
//
// Only these two taint keys are the agent's; every other taint on the Node (cordon, NotReady, an
// operator's own) is left as it is.
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';

export const MEMORY_PRESSURE_TAINT = 'node.kubernetes.io/memory-pressure';
export const RUNTIME_UNAVAILABLE_TAINT = 'strata.dev/runtime-unavailable';
const MANAGED = new Set([MEMORY_PRESSURE_TAINT, RUNTIME_UNAVAILABLE_TAINT]);

export const DEFAULT_MEMORY_THRESHOLD_BYTES = 100 * 1024 * 1024;
export const DEFAULT_PRESSURE_TRANSITION_MS = 60_000;

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

/** Bytes of memory available for new work: MemAvailable (Linux), else free memory. */
export function readAvailableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux, or /proc is not mounted
  }
  return freemem();
}

/** Memory pressure with hysteresis: on at once below the threshold, off after a calm transition period. */
export class MemoryPressure {
  private readonly thresholdBytes: number;
  private readonly transitionMs: number;
  private pressure = false;
  private lastLowAt = -Infinity;

  constructor(
    thresholdBytes = DEFAULT_MEMORY_THRESHOLD_BYTES,
    transitionMs = DEFAULT_PRESSURE_TRANSITION_MS,
  ) {
    this.thresholdBytes = thresholdBytes;
    this.transitionMs = transitionMs;
  }

  get underPressure(): boolean {
    return this.pressure;
  }

  /** Feed one observation; returns whether the node is under memory pressure now. */
  observe(availableBytes: number, now = Date.now()): boolean {
    if (availableBytes < this.thresholdBytes) {
      this.lastLowAt = now;
      this.pressure = true;
    } else if (this.pressure && now - this.lastLowAt >= this.transitionMs) {
      this.pressure = false;
    }
    return this.pressure;
  }

  message(availableBytes: number): string {
    const mi = (b: number): string => `${Math.floor(b / (1024 * 1024))}Mi`;
    return this.pressure
      ? `node has insufficient memory available: ${mi(availableBytes)} < ${mi(this.thresholdBytes)}`
      : `node has sufficient memory available (${mi(availableBytes)})`;
  }
}

export interface TierHealth {
  runtimeClass: string;
  healthy: boolean;
  reason?: string;
  /** It passed a fingerprint earlier in this agent's life. */
  everHealthy: boolean;
}

/** The tiers whose failure taints the node (see the header), or [] when none does. */
export function unavailableTiers(tiers: TierHealth[]): TierHealth[] {
  if (tiers.length > 0 && tiers.every((t) => !t.healthy)) return tiers;
  return tiers.filter((t) => !t.healthy && t.everHealthy);
}

/** The taints the agent wants on its node, given its health. */
export function agentTaints(memoryPressure: boolean, unavailable: TierHealth[]): Taint[] {
  const out: Taint[] = [];
  if (memoryPressure) out.push({ key: MEMORY_PRESSURE_TAINT, effect: 'NoSchedule' });
  if (unavailable.length) {
    out.push({
      key: RUNTIME_UNAVAILABLE_TAINT,
      value: unavailable
        .map((t) => t.runtimeClass)
        .sort()
        .join('_'),
      effect: 'NoSchedule',
    });
  }
  return out;
}

/**
 * The node's taints with the agent's own replaced by `want` (others untouched; an unchanged taint keeps
 * its timeAdded). Undefined when nothing changes.
 */
export function reconcileTaints(
  existing: Taint[] | undefined,
  want: Taint[],
  now: string,
): Taint[] | undefined {
  const current = existing ?? [];
  const others = current.filter((t) => !MANAGED.has(t.key));
  const ours = current.filter((t) => MANAGED.has(t.key));
  const same = (a: Taint, b: Taint): boolean =>
    a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect;
  const next = want.map((w) => ours.find((o) => same(o, w)) ?? { ...w, timeAdded: now });
  if (next.length === ours.length && next.every((n) => ours.some((o) => same(o, n)))) return undefined;
  return [...others, ...next];
}
