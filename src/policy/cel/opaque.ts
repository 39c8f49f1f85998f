// Kubernetes' CEL libraries return opaque values (a Quantity, a URL, an IP, a CIDR). @bufbuild/cel has no
// custom value types outside protobuf messages, so an opaque value travels as a one-entry CelMap holding its
// canonical text (equality and printing then behave: quantity('1') == quantity('1000m')), and the parsed
// value is kept beside it in a WeakMap the library's methods read back.
import { celMap, type CelMap, type CelValue } from '@bufbuild/cel';

export interface OpaqueKind<T> {
  /** The CEL type name Kubernetes uses (kubernetes.Quantity, kubernetes.URL, net.IP, net.CIDR). */
  readonly typeName: string;
  wrap(value: T, canonical: string): CelMap;
  /** The value behind an opaque CEL value, or an error naming the expected type. */
  unwrap(v: CelValue | undefined): T;
  is(v: CelValue | undefined): boolean;
}

export function opaqueKind<T>(typeName: string): OpaqueKind<T> {
  const values = new WeakMap<object, T>();
  return {
    typeName,
    wrap(value, canonical) {
      const m = celMap(new Map([[typeName, canonical]]));
      values.set(m, value);
      return m;
    },
    unwrap(v) {
      const found = typeof v === 'object' && v !== null ? values.get(v) : undefined;
      if (found === undefined) throw new Error(`no such overload: expected a ${typeName}`);
      return found;
    },
    is(v) {
      return typeof v === 'object' && v !== null && values.has(v);
    },
  };
}
