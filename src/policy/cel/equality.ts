// CEL equality for library functions (indexOf on lists): the language's own == is not exported by
// @bufbuild/cel, so evaluate it once through a tiny planned expression.
import { celEnv, parse, plan, CelScalar, type CelValue } from '@bufbuild/cel';

const env = celEnv({ variables: { a: CelScalar.DYN, b: CelScalar.DYN } });
const equals = plan(env, parse('a == b'));

export function celEquals(a: CelValue, b: CelValue): boolean {
  return equals({ a, b }) === true;
}
