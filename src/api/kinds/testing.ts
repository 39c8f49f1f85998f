// Helpers for the kind tests: validate through the real entry point and read back causes.
import type { Cause } from '../causes.ts';
import { validateObject } from '../validate.ts';

export function valid(obj: unknown): any {
  const r = validateObject(obj);
  if (!r.ok) throw new Error(`expected valid, got ${JSON.stringify(r.causes)}`);
  return r.object;
}

export function invalid(obj: unknown): Cause[] {
  const r = validateObject(obj);
  if (r.ok) throw new Error('expected invalid');
  return r.causes;
}

export function podWith(spec: Record<string, unknown>, image = 'nginx:1.27'): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: { containers: [{ name: 'app', image }], ...spec },
  };
}
