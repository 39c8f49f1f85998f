// Kubernetes' CEL list library (k8s.io/apiserver/pkg/cel/library/lists.go): isSorted, sum, min, max,
// indexOf, lastIndexOf on lists of comparable values (numbers, strings, bools, bytes, quantities are not).
import { CelScalar, celMethod, listType, type CelList, type CelValue } from '@bufbuild/cel';
import { celEquals } from './equality.ts';

const LIST = listType(CelScalar.DYN);

type Comparable = bigint | number | string | boolean;

function comparable(v: CelValue): Comparable {
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
    return v;
  if (typeof v === 'object' && v !== null && 'value' in v && typeof v.value === 'bigint') return v.value; // uint
  throw new Error(`no such overload: ${typeof v} is not comparable`);
}

function compare(a: CelValue, b: CelValue): number {
  const x = comparable(a);
  const y = comparable(b);
  if (typeof x !== typeof y && !(isNumeric(x) && isNumeric(y)))
    throw new Error(`no such overload: cannot compare ${typeof x} with ${typeof y}`);
  return x < y ? -1 : x > y ? 1 : 0;
}

function isNumeric(v: Comparable): boolean {
  return typeof v === 'bigint' || typeof v === 'number';
}

function items(list: CelList): CelValue[] {
  return [...list];
}

function extreme(list: CelList, sign: 1 | -1, name: string): CelValue {
  const all = items(list);
  if (all.length === 0) throw new Error(`${name}(): list is empty`);
  let best = all[0];
  for (const v of all.slice(1)) if (compare(v, best) * sign > 0) best = v;
  return best;
}

export const listLibrary = [
  celMethod('isSorted', LIST, [], CelScalar.BOOL, function () {
    const all = items(this);
    for (let i = 1; i < all.length; i++) if (compare(all[i - 1], all[i]) > 0) return false;
    return true;
  }),
  celMethod('sum', LIST, [], CelScalar.DYN, function () {
    const all = items(this);
    if (all.length === 0) return 0n;
    if (all.every((v) => typeof v === 'bigint')) return (all as bigint[]).reduce((a, b) => a + b, 0n);
    if (all.every((v) => typeof v === 'number')) return (all as number[]).reduce((a, b) => a + b, 0);
    throw new Error('sum(): the list must hold only ints or only doubles');
  }),
  celMethod('min', LIST, [], CelScalar.DYN, function () {
    return extreme(this, -1, 'min');
  }),
  celMethod('max', LIST, [], CelScalar.DYN, function () {
    return extreme(this, 1, 'max');
  }),
  celMethod('indexOf', LIST, [CelScalar.DYN], CelScalar.INT, function (x) {
    return BigInt(items(this).findIndex((v) => celEquals(v, x)));
  }),
  celMethod('lastIndexOf', LIST, [CelScalar.DYN], CelScalar.INT, function (x) {
    return BigInt(items(this).findLastIndex((v) => celEquals(v, x)));
  }),
];
