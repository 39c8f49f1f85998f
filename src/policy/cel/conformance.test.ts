// The cel-spec conformance suite (google/cel-spec v0.25.1 as @bufbuild/cel-spec ships it) run against the
// CEL engine the admission policies use: the same @bufbuild/cel plus the strings extension and the
// Kubernetes libraries (which must not break the standard library by overloading it).
//
// Skipped, each for a documented reason: suites of CEL extensions Kubernetes does not enable and
// @bufbuild/cel does not implement (bindings, block, encoders, math, two-variable comprehensions,
// optionals, proto2 extensions), type deductions (they test a checker: see check.ts), and check-only
// cases. The rest must pass, apart from the cases @bufbuild/cel's own suite lists as known failures.
import { describe, expect, it } from 'vitest';
import {
  celEnv,
  celList,
  celMap,
  celUint,
  isCelError,
  isCelList,
  isCelMap,
  isCelType,
  isCelUint,
  plan,
  parse,
  CelScalar,
  listType,
  mapType,
  type CelInput,
  type CelValue,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import {
  getConformanceSuite,
  type IncrementalTest,
  type IncrementalTestSuite,
} from '@bufbuild/cel-spec/testdata/tests.js';
import { getTestRegistry } from '@bufbuild/cel-spec/testdata/registry.js';
import type { Value } from '@bufbuild/cel-spec/cel/expr/value_pb.js';
import { ValueSchema } from '@bufbuild/cel-spec/cel/expr/value_pb.js';
import { create, equals, type MessageInitShape, type Registry } from '@bufbuild/protobuf';
import { anyPack, anyUnpack, NullValue } from '@bufbuild/protobuf/wkt';
import { isReflectMessage } from '@bufbuild/protobuf/reflect';
import { policyEnv } from './env.ts';

/** Whole suites of extensions Kubernetes does not enable (k8s.io/apiserver/pkg/cel/environment). */
const UNSUPPORTED_SUITES = new Set([
  'bindings_ext',
  'block_ext',
  'encoders_ext',
  'math_ext',
  'macros2',
  'optionals',
  'proto2_ext',
  'type_deductions',
]);

/**
 * What @bufbuild/cel 0.6.1 does not do (its own conformance filter lists these): strong enum types,
 * backquoted field names (a 2025 syntax), proto2 extension fields, and one case Go and Java fail too.
 * None concerns Kubernetes objects, which are JSON maps. Prefixes of suite/section/name.
 */
const KNOWN_FAILURES = [
  'enums/strong_proto2/',
  'enums/strong_proto3/',
  'fields/quoted_map_fields/',
  'proto2/quoted_fields/',
  'proto3/quoted_fields/',
  'proto2/extensions_has/',
  'proto2/extensions_get/',
  'fields/qualified_identifier_resolution/map_value_repeat_key_heterogeneous',
];

interface Outcome {
  path: string;
  ok: boolean;
  skipped: boolean;
  detail?: string;
}

function lookupType(name: string) {
  switch (name) {
    case 'int':
      return CelScalar.INT;
    case 'uint':
      return CelScalar.UINT;
    case 'double':
      return CelScalar.DOUBLE;
    case 'bool':
      return CelScalar.BOOL;
    case 'string':
      return CelScalar.STRING;
    case 'bytes':
      return CelScalar.BYTES;
    case 'list':
      return listType(CelScalar.DYN);
    case 'map':
      return mapType(CelScalar.DYN, CelScalar.DYN);
    case 'null_type':
      return CelScalar.NULL;
    case 'type':
      return CelScalar.TYPE;
    default:
      throw new Error(`type value ${name} not supported by the harness`);
  }
}

function toCel(v: Value, registry: Registry): CelInput {
  const k = v.kind;
  switch (k.case) {
    case 'nullValue':
      return null;
    case 'uint64Value':
      return celUint(k.value);
    case 'listValue':
      return celList(k.value.values.map((e) => toCel(e, registry)));
    case 'mapValue': {
      const m = new Map<never, CelInput>();
      for (const e of k.value.entries) m.set(toCel(e.key!, registry) as never, toCel(e.value!, registry));
      return celMap(m);
    }
    case 'objectValue': {
      const msg = anyUnpack(k.value, registry);
      if (!msg) throw new Error(`unknown message ${k.value.typeUrl}`);
      return msg as CelInput;
    }
    case 'typeValue':
      return lookupType(k.value);
    case 'enumValue':
      return BigInt(k.value.value);
    case undefined:
      throw new Error('empty value');
    default:
      return k.value as CelInput;
  }
}

function fromCel(v: CelValue): MessageInitShape<typeof ValueSchema> {
  switch (typeof v) {
    case 'number':
      return { kind: { case: 'doubleValue', value: v } };
    case 'boolean':
      return { kind: { case: 'boolValue', value: v } };
    case 'bigint':
      return { kind: { case: 'int64Value', value: v } };
    case 'string':
      return { kind: { case: 'stringValue', value: v } };
  }
  if (v === null) return { kind: { case: 'nullValue', value: NullValue.NULL_VALUE } };
  if (v instanceof Uint8Array) return { kind: { case: 'bytesValue', value: v } };
  if (isCelUint(v)) return { kind: { case: 'uint64Value', value: v.value } };
  if (isCelType(v)) return { kind: { case: 'typeValue', value: v.name } };
  if (isCelList(v)) return { kind: { case: 'listValue', value: { values: [...v].map(fromCel) } } };
  if (isCelMap(v))
    return {
      kind: {
        case: 'mapValue',
        value: {
          entries: [...v.entries()].map(([key, value]) => ({
            key: fromCel(key as CelValue),
            value: fromCel(value),
          })),
        },
      },
    };
  if (isReflectMessage(v)) return { kind: { case: 'objectValue', value: anyPack(v.desc, v.message) } };
  throw new Error(`unrecognised CEL value ${String(v)}`);
}

function sortMaps(v: Value): void {
  if (v.kind.case === 'listValue') v.kind.value.values.forEach(sortMaps);
  if (v.kind.case === 'mapValue') {
    const key = (e: { key?: Value }) => `${e.key?.kind.case}:${String(e.key?.kind.value)}`;
    v.kind.value.entries.sort((a, b) => key(a).localeCompare(key(b)));
    for (const e of v.kind.value.entries) if (e.value) sortMaps(e.value);
  }
}

function runCase(t: IncrementalTest, registry: Registry): { ok: boolean; skipped: boolean; detail?: string } {
  const c = t.original;
  if (c.checkOnly || c.disableMacros) return { ok: true, skipped: true };
  // The engine the policies use: the same function table, with the suite's registry and container.
  const base = policyEnv();
  const env = celEnv({
    registry,
    namespace: c.container,
    funcs: [
      ...strings,
      ...[...base.funcs].filter((f) => !strings.includes(f) && isKubernetesLibrary(f.name)),
    ],
  });
  const bindings: Record<string, CelInput> = {};
  for (const [k, b] of Object.entries(c.bindings)) {
    if (b.kind.case !== 'value') return { ok: true, skipped: true };
    bindings[k] = toCel(b.kind.value, registry);
  }
  const result = plan(env, parse(c.expr))(bindings);
  const m = c.resultMatcher;
  switch (m.case) {
    case 'value':
    case 'typedResult': {
      const expected = m.case === 'value' ? m.value : m.value.result;
      if (!expected) return { ok: true, skipped: true };
      if (isCelError(result)) return { ok: false, skipped: false, detail: result.message };
      const actual = create(ValueSchema, fromCel(result));
      sortMaps(actual);
      sortMaps(expected);
      const ok = equals(ValueSchema, actual, expected, { registry, unpackAny: true });
      return {
        ok,
        skipped: false,
        detail: ok
          ? undefined
          : `got ${JSON.stringify(fromCel(result), (_, x) => (typeof x === 'bigint' ? String(x) : x))}`,
      };
    }
    case 'evalError':
    case 'anyEvalErrors':
      return { ok: isCelError(result), skipped: false, detail: 'expected an error' };
    case undefined:
      return { ok: result === true, skipped: false, detail: `expected true, got ${String(result)}` };
    default:
      return { ok: true, skipped: true };
  }
}

const KUBERNETES_FUNCTIONS = new Set([
  'isSorted',
  'sum',
  'min',
  'max',
  'find',
  'findAll',
  'quantity',
  'isQuantity',
  'sign',
  'isInteger',
  'asInteger',
  'asApproximateFloat',
  'add',
  'sub',
  'compareTo',
  'isGreaterThan',
  'isLessThan',
  'url',
  'isURL',
  'getScheme',
  'getHost',
  'getHostname',
  'getPort',
  'getEscapedPath',
  'getQuery',
  'ip',
  'isIP',
  'family',
  'isUnspecified',
  'isLoopback',
  'isLinkLocalMulticast',
  'isLinkLocalUnicast',
  'isGlobalUnicast',
  'cidr',
  'isCIDR',
  'containsIP',
  'containsCIDR',
  'masked',
  'prefixLength',
  'indexOf',
  'lastIndexOf',
]);

function isKubernetesLibrary(name: string): boolean {
  return KUBERNETES_FUNCTIONS.has(name);
}

function runSuite(suite: IncrementalTestSuite, registry: Registry, prefix: string[], out: Outcome[]): void {
  for (const s of suite.suites) runSuite(s, registry, [...prefix, s.name], out);
  for (const t of suite.tests) {
    const path = [...prefix, t.name].join('/');
    if (UNSUPPORTED_SUITES.has(prefix[0]) || KNOWN_FAILURES.some((p) => path.startsWith(p))) {
      out.push({ path, ok: true, skipped: true });
      continue;
    }
    try {
      out.push({ path, ...runCase(t, registry) });
    } catch (e) {
      out.push({ path, ok: false, skipped: false, detail: (e as Error).message });
    }
  }
}

describe('cel-spec conformance', () => {
  it('passes the core suites with the Kubernetes libraries loaded', () => {
    const outcomes: Outcome[] = [];
    const root = getConformanceSuite();
    runSuite(root, getTestRegistry(), [], outcomes);
    const ran = outcomes.filter((o) => !o.skipped);
    const failed = ran.filter((o) => !o.ok);
    console.log(
      `cel-spec conformance: ${ran.length - failed.length}/${ran.length} passed, ${outcomes.length - ran.length} skipped (unsupported extensions, check-only)`,
    );
    for (const f of failed) console.log(`FAIL ${f.path}: ${f.detail}`);
    expect(failed.map((f) => f.path)).toEqual([]);
    // 1,843 ran and passed with @bufbuild/cel 0.6.1 and cel-spec v0.25.1: fewer means cases went missing.
    expect(ran.length).toBeGreaterThanOrEqual(1843);
  });
});
