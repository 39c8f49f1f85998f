// Kubernetes resource quantities ("500m", "2", "64Mi", "1G", "129e6"). Parsing is exact: the number
// is kept as a BigInt mantissa with decimal and binary exponents, so "0.1" CPU is 100m, not 100.00000000000001.
// Results round up to the unit, as Kubernetes' MilliValue()/Value() do.
import { z } from 'zod';
import { addCause, msg, Reason } from './causes.ts';

/** A quantity that does not parse; `detail` is the reason without the value, for field errors. */
export class QuantityError extends Error {
  readonly detail: string;
  constructor(what: string, q: unknown, detail: string) {
    super(`invalid ${what} quantity ${JSON.stringify(q)}: ${detail}`);
    this.name = 'QuantityError';
    this.detail = detail;
  }
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(m|k|M|G|T|P|E))?$/;
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Value of `q` in its base unit times 10^scale, rounded up to an integer. */
function scaled(q: string | number, scale: number, what: string): number {
  const text = typeof q === 'number' ? (Number.isFinite(q) ? String(q) : '') : q;
  const m = typeof text === 'string' ? QUANTITY.exec(text) : null;
  if (!m)
    throw new QuantityError(
      what,
      q,
      'must be a number with an optional suffix (e.g. 500m, 2, 0.5, 64Mi, 1G, 129e6)',
    );
  const [, sign, number, binary, exponent, decimal] = m;
  const [whole, frac = ''] = number.split('.');
  let mantissa = BigInt(whole + frac || '0');
  const exp10 = scale - frac.length + (exponent ? Number(exponent) : 0) + (decimal ? DECIMAL[decimal] : 0);
  const exp2 = binary ? BINARY[binary] : 0;
  if (Math.abs(exp10) > 60) throw new QuantityError(what, q, 'exponent out of range');
  if (sign === '-' && mantissa !== 0n) throw new QuantityError(what, q, 'must not be negative');
  mantissa <<= BigInt(exp2);
  let value: bigint;
  if (exp10 >= 0) value = mantissa * 10n ** BigInt(exp10);
  else {
    const div = 10n ** BigInt(-exp10);
    value = (mantissa + div - 1n) / div; // round up
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(what, q, 'too large');
  return Number(value);
}

/** CPU in millicores: "500m" → 500, "2" → 2000, "0.5" → 500, 1 → 1000. */
export function parseCpu(q: string | number): number {
  return scaled(q, 3, 'cpu');
}

/** Memory in bytes: "64Mi" → 67108864, "1G" → 1e9, "129e6" → 129000000, "123k" → 123000. */
export function parseMemory(q: string | number): number {
  return scaled(q, 0, 'memory');
}

/** Any other count-like quantity (e.g. node capacity `pods: "110"`), in base units. */
export function parseQuantity(q: string | number): number {
  return scaled(q, 0, 'resource');
}

/** Millicores back to the canonical form: 2000 → "2", 500 → "500m". */
export function formatCpu(milli: number): string {
  const m = Math.ceil(milli);
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Bytes back to the shortest exact form: 67108864 → "64Mi", 1e9 → "1G", 1000 → "1k", 1023 → "1023". */
export function formatMemory(bytes: number): string {
  const b = Math.ceil(bytes);
  if (b === 0) return '0';
  for (const [suffix, pow] of Object.entries(BINARY).reverse())
    if (b % 2 ** pow === 0) return `${b / 2 ** pow}${suffix}`;
  for (const [suffix, pow] of Object.entries(DECIMAL).reverse())
    if (pow > 0 && b % 10 ** pow === 0) return `${b / 10 ** pow}${suffix}`;
  return String(b);
}

/** Quantities are strings in Kubernetes, but YAML `cpu: 2` arrives as a number and is accepted too. */
function quantitySchema(parse: (q: string | number) => number) {
  return z.union([z.string(), z.number()]).superRefine((q, ctx) => {
    try {
      parse(q);
    } catch (e) {
      addCause(ctx, [], Reason.Invalid, msg.invalid(q, e instanceof QuantityError ? e.detail : String(e)));
    }
  });
}

export const CpuQuantity = quantitySchema(parseCpu);
export const MemoryQuantity = quantitySchema(parseMemory);
export const Quantity = quantitySchema(parseQuantity);
