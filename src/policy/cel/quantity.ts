// Kubernetes' CEL quantity library (library/quantity.go): quantity('1.5Gi'), isQuantity(s), and on a
// quantity sign, isInteger, asInteger, asApproximateFloat, add, sub, compareTo, isGreaterThan, isLessThan.
// Values are kept exactly as nano-units in a BigInt (Kubernetes' resource.Quantity has the same 10^-9
// precision for what it keeps in its int64 fast path); finer fractions round up, as Quantity does.
import { CelScalar, celFunc, celMethod, type CelValue } from '@bufbuild/cel';
import { opaqueKind } from './opaque.ts';

const PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(m|k|M|G|T|P|E|n|u))?$/;
const BINARY: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const NANO = 1_000_000_000n;
const INT64_MAX = 2n ** 63n - 1n;

/** A quantity in nano-units, or undefined when `s` is not a Kubernetes quantity. */
export function parseQuantityNano(s: string): bigint | undefined {
  const m = PATTERN.exec(s);
  if (!m) return undefined;
  const [, sign, number, binary, exponent, decimal] = m;
  const [whole, frac = ''] = number.split('.');
  const exp10 = 9 - frac.length + (exponent ? Number(exponent) : 0) + (decimal ? DECIMAL[decimal] : 0);
  if (Math.abs(exp10) > 60) return undefined;
  let v = BigInt(whole + frac || '0') << (binary ? BINARY[binary] : 0n);
  if (exp10 >= 0) v *= 10n ** BigInt(exp10);
  else {
    const div = 10n ** BigInt(-exp10);
    v = (v + div - 1n) / div;
  }
  return sign === '-' ? -v : v;
}

/** Nano-units back to a canonical text (whole units, or a decimal fraction). */
function format(nano: bigint): string {
  const neg = nano < 0n;
  const abs = neg ? -nano : nano;
  const whole = abs / NANO;
  const frac = (abs % NANO).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

export const QuantityValue = opaqueKind<bigint>('kubernetes.Quantity');

function quantity(nano: bigint) {
  return QuantityValue.wrap(nano, format(nano));
}

/** The other operand of add/sub/compare: a quantity, or an int meaning whole units. */
function operand(v: CelValue): bigint {
  if (typeof v === 'bigint') return v * NANO;
  return QuantityValue.unwrap(v);
}

const Q = CelScalar.DYN;

export const quantityLibrary = [
  celFunc('quantity', [CelScalar.STRING], Q, (s) => {
    const nano = parseQuantityNano(s);
    if (nano === undefined) throw new Error(`quantities must match the regular expression (got ${s})`);
    return quantity(nano);
  }),
  celFunc('isQuantity', [CelScalar.STRING], CelScalar.BOOL, (s) => parseQuantityNano(s) !== undefined),
  celMethod('sign', Q, [], CelScalar.INT, function () {
    const v = QuantityValue.unwrap(this);
    return v > 0n ? 1n : v < 0n ? -1n : 0n;
  }),
  celMethod('isInteger', Q, [], CelScalar.BOOL, function () {
    const v = QuantityValue.unwrap(this);
    return v % NANO === 0n && v / NANO <= INT64_MAX && v / NANO >= -INT64_MAX - 1n;
  }),
  celMethod('asInteger', Q, [], CelScalar.INT, function () {
    const v = QuantityValue.unwrap(this);
    if (v % NANO !== 0n || v / NANO > INT64_MAX || v / NANO < -INT64_MAX - 1n)
      throw new Error('cannot convert value to integer');
    return v / NANO;
  }),
  celMethod('asApproximateFloat', Q, [], CelScalar.DOUBLE, function () {
    return Number(QuantityValue.unwrap(this)) / 1e9;
  }),
  celMethod('add', Q, [CelScalar.DYN], Q, function (o) {
    return quantity(QuantityValue.unwrap(this) + operand(o));
  }),
  celMethod('sub', Q, [CelScalar.DYN], Q, function (o) {
    return quantity(QuantityValue.unwrap(this) - operand(o));
  }),
  celMethod('compareTo', Q, [Q], CelScalar.INT, function (o) {
    const a = QuantityValue.unwrap(this);
    const b = QuantityValue.unwrap(o);
    return a > b ? 1n : a < b ? -1n : 0n;
  }),
  celMethod('isGreaterThan', Q, [Q], CelScalar.BOOL, function (o) {
    return QuantityValue.unwrap(this) > QuantityValue.unwrap(o);
  }),
  celMethod('isLessThan', Q, [Q], CelScalar.BOOL, function (o) {
    return QuantityValue.unwrap(this) < QuantityValue.unwrap(o);
  }),
];
