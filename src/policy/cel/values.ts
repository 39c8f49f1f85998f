// Between JSON (what the store holds) and CEL values. JSON numbers that are integers become CEL ints
// (Kubernetes' integer fields are int64 in its CEL types, so `spec.replicas + 1` must be int arithmetic),
// objects become maps. CEL results go back to JSON for messages, annotations and reports.
import { isCelList, isCelMap, isCelUint, type CelInput, type CelValue } from '@bufbuild/cel';

export function jsonToCel(v: unknown): CelInput {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? BigInt(v) : v;
    case 'string':
    case 'boolean':
      return v;
    case 'object': {
      if (Array.isArray(v)) return v.map(jsonToCel);
      const m = new Map<string, CelInput>();
      for (const [k, x] of Object.entries(v as Record<string, unknown>))
        if (x !== undefined) m.set(k, jsonToCel(x));
      return m;
    }
    default:
      return null;
  }
}

export function celToJson(v: CelValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (isCelUint(v)) return Number(v.value);
  if (isCelList(v)) return [...v].map(celToJson);
  if (isCelMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v.entries()) out[String(isCelUint(k) ? k.value : k)] = celToJson(x);
    return out;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return String(v);
}

/** How a CEL value prints in a message (`quantity('1Gi')` prints its canonical text). */
export function celToText(v: CelValue): string {
  if (typeof v === 'string') return v;
  if (isCelMap(v) && v.size === 1) {
    const [k, x] = [...v.entries()][0];
    if (
      typeof k === 'string' &&
      (k.startsWith('kubernetes.') || k.startsWith('net.')) &&
      typeof x === 'string'
    )
      return x;
  }
  return JSON.stringify(celToJson(v));
}
