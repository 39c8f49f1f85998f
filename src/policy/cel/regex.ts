// Kubernetes' CEL regex library (library/regex.go): s.find(re) → the first match or '', s.findAll(re[, n]).
// Patterns are RE2 in Kubernetes; JavaScript's engine accepts the common subset, and a catastrophic
// pattern is stopped by the evaluation deadline (evaluation runs in a worker).
import { CelScalar, celMethod, listType } from '@bufbuild/cel';

const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 256;

function regex(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    try {
      re = new RegExp(pattern, 'gu');
    } catch (e) {
      throw new Error(`invalid regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(pattern, re);
  }
  re.lastIndex = 0;
  return re;
}

function findAll(s: string, pattern: string, limit: number): string[] {
  const out: string[] = [];
  if (limit === 0) return out;
  for (const m of s.matchAll(regex(pattern))) {
    out.push(m[0]);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

export const regexLibrary = [
  celMethod('find', CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (pattern) {
    return findAll(this, pattern, 1)[0] ?? '';
  }),
  celMethod('findAll', CelScalar.STRING, [CelScalar.STRING], listType(CelScalar.STRING), function (pattern) {
    return findAll(this, pattern, -1);
  }),
  celMethod(
    'findAll',
    CelScalar.STRING,
    [CelScalar.STRING, CelScalar.INT],
    listType(CelScalar.STRING),
    function (pattern, n) {
      return findAll(this, pattern, Number(n));
    },
  ),
];
