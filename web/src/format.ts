// Small readers of Kubernetes values the pages print: quantities, ages, a pod's tier and readiness.
import type { KubeObject } from './api.ts';

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A resource.Quantity as a number ("250m" → 0.25, "64Mi" → 67108864); 0 when absent or unreadable. */
export function quantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const unit = m[2] ? SUFFIX[m[2]] : 1;
  return unit === undefined ? 0 : Number(m[1]) * unit;
}

export function cores(n: number): string {
  const milli = n * 1000;
  if (milli < 10) return `${milli.toFixed(milli === 0 ? 0 : 1)}m`;
  return n < 1 ? `${Math.round(milli)}m` : `${n.toFixed(n < 10 ? 2 : 1)}`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '';
  const s = Math.max(0, Math.round((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** The tier a pod (or a pod template) runs on: its runtime class; OCI images default to containers. */
export function tierOf(podSpec: { runtimeClassName?: string } | undefined): string {
  return podSpec?.runtimeClassName || 'container';
}

export const TIERS = ['wasm', 'container', 'microvm'] as const;

/** Tiers whose driver streams an interactive exec (the wasm tier has no shell to attach to). */
export const EXEC_TIERS = new Set(['container', 'microvm']);

export function podPhase(pod: KubeObject): string {
  if ((pod.metadata as { deletionTimestamp?: string }).deletionTimestamp) return 'Terminating';
  const waiting = (pod.status?.containerStatuses ?? []).find((c: any) => c.state?.waiting?.reason);
  if (waiting && pod.status?.phase !== 'Succeeded') return waiting.state.waiting.reason;
  return pod.status?.phase ?? 'Pending';
}

export function restarts(pod: KubeObject): number {
  return (pod.status?.containerStatuses ?? []).reduce((a: number, c: any) => a + (c.restartCount ?? 0), 0);
}

/** Σ of the containers' requests of one resource. */
export function podRequest(pod: KubeObject, resource: 'cpu' | 'memory'): number {
  return (pod.spec?.containers ?? []).reduce(
    (a: number, c: any) => a + quantity(c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource]),
    0,
  );
}

export function isReady(node: KubeObject): boolean {
  return (node.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** The tiers a node offers: its `strata.dev/runtime-<tier>=true` labels. */
export function nodeTiers(node: KubeObject): string[] {
  return Object.entries(node.metadata.labels ?? {})
    .filter(([k, v]) => k.startsWith('strata.dev/runtime-') && v === 'true')
    .map(([k]) => k.slice('strata.dev/runtime-'.length));
}

/** How the node's microVMs are accelerated (KVM or TCG), when the node says so. */
export function microvmAccel(node: KubeObject): string | undefined {
  // A label (selectable: schedule on KVM nodes), or the microvm driver's fingerprint attribute.
  const v =
    node.metadata.labels?.['strata.dev/microvm-accel'] ??
    node.metadata.annotations?.['strata.dev/microvm.accel'];
  return v ? v.toUpperCase() : undefined;
}
