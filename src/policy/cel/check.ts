// A static checker for policy expressions. @bufbuild/cel 0.6.1 parses and evaluates but its checker is
// unfinished and not exported, so this walks the parsed AST with the environment's own function table:
//
// - undeclared references: an identifier that is no variable in scope (`objct.spec`), a function or
//   method no library declares (`size2(x)`), a `variables.x` the policy does not define;
// - no matching overload where the argument types are known statically (`size(1)`, `'a' + 1`,
//   `'abc'.startsWith(1)`), and field selection on a scalar (`(1).foo`);
// - the result type, so a validation that yields a string or an int is refused (it must be bool).
//
// Types are only as precise as the AST makes them: `object`, `params`, `request`… are dyn (Strata does
// not type them from the kinds' schemas yet), so `object.spec.replicas == 'x'` passes the checker and
// fails at evaluation. What is found here is an error, as cel-go reports at compile.
import type { CelEnv, CelType } from '@bufbuild/cel';
import type { Expr, ParsedExpr } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';

/** A static type: a scalar name, 'list', 'map', 'timestamp', 'duration', or 'dyn' (unknown). */
export type StaticType = string;

export interface CheckIssue {
  message: string;
  /** Offset in the expression text, when the AST records one. */
  offset?: number;
}

const NUMERIC = new Set(['int', 'uint', 'double']);

function staticType(t: CelType | undefined): StaticType {
  if (!t) return 'dyn';
  switch (t.kind) {
    case 'scalar':
      return t.scalar === 'null_type' ? 'null_type' : t.scalar;
    case 'list':
      return 'list';
    case 'map':
      return 'map';
    case 'object':
      return t.name === 'google.protobuf.Timestamp'
        ? 'timestamp'
        : t.name === 'google.protobuf.Duration'
          ? 'duration'
          : 'dyn';
  }
}

function compatible(param: StaticType, arg: StaticType): boolean {
  return param === 'dyn' || arg === 'dyn' || param === arg || (NUMERIC.has(param) && NUMERIC.has(arg));
}

const CONVERSIONS = new Set(['int', 'uint', 'double', 'string', 'bytes', 'bool', 'type', 'dyn']);

export interface CheckOptions {
  /** Root variables in scope, with their static types. */
  variables: Record<string, StaticType>;
  /** Names `variables.<name>` may use (the policy's spec.variables declared before this expression). */
  declaredVariables?: readonly string[];
}

/** Checks a parsed expression; returns its static result type and the problems found. */
export function checkExpression(
  env: CelEnv,
  parsed: ParsedExpr,
  opts: CheckOptions,
): { type: StaticType; issues: CheckIssue[] } {
  const issues: CheckIssue[] = [];
  const positions = parsed.sourceInfo?.positions ?? {};
  const report = (e: Expr, message: string) =>
    issues.push({ message, offset: positions[String(e.id)] as number | undefined });

  function walk(e: Expr | undefined, scope: Map<string, StaticType>): StaticType {
    if (!e) return 'dyn';
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        switch (k.value.constantKind.case) {
          case 'boolValue':
            return 'bool';
          case 'int64Value':
            return 'int';
          case 'uint64Value':
            return 'uint';
          case 'doubleValue':
            return 'double';
          case 'stringValue':
            return 'string';
          case 'bytesValue':
            return 'bytes';
          case 'nullValue':
            return 'null_type';
          default:
            return 'dyn';
        }
      case 'identExpr': {
        const t = scope.get(k.value.name);
        if (t !== undefined) return t;
        if (CONVERSIONS.has(k.value.name) || k.value.name === 'list' || k.value.name === 'map') return 'type';
        report(e, `undeclared reference to '${k.value.name}'`);
        return 'dyn';
      }
      case 'selectExpr': {
        const operand = k.value.operand;
        const t = walk(operand, scope);
        if (
          operand?.exprKind.case === 'identExpr' &&
          operand.exprKind.value.name === 'variables' &&
          opts.declaredVariables &&
          !opts.declaredVariables.includes(k.value.field)
        )
          report(
            e,
            `undeclared reference to 'variables.${k.value.field}' (no such variable before this one)`,
          );
        if (t !== 'dyn' && t !== 'map' && t !== 'null_type')
          report(e, `type '${t}' does not support field selection`);
        return k.value.testOnly ? 'bool' : 'dyn';
      }
      case 'listExpr':
        for (const el of k.value.elements) walk(el, scope);
        return 'list';
      case 'structExpr':
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value, scope);
          walk(entry.value, scope);
        }
        return k.value.messageName ? 'dyn' : 'map';
      case 'comprehensionExpr': {
        const c = k.value;
        walk(c.iterRange, scope);
        const accu = walk(c.accuInit, scope);
        const inner = new Map(scope);
        inner.set(c.iterVar, 'dyn');
        if (c.iterVar2) inner.set(c.iterVar2, 'dyn');
        inner.set(c.accuVar, accu === 'list' || accu === 'map' || accu === 'bool' ? accu : 'dyn');
        walk(c.loopCondition, inner);
        walk(c.loopStep, inner);
        return walk(c.result, inner);
      }
      case 'callExpr':
        return call(e, k.value, scope);
      default:
        return 'dyn';
    }
  }

  function call(
    e: Expr,
    c: { function: string; target?: Expr; args: Expr[] },
    scope: Map<string, StaticType>,
  ): StaticType {
    const target = c.target ? walk(c.target, scope) : undefined;
    const args = c.args.map((a) => walk(a, scope));
    switch (c.function) {
      case '_&&_':
      case '_||_':
      case '@not_strictly_false':
        for (const [i, t] of args.entries())
          if (t !== 'bool' && t !== 'dyn')
            report(c.args[i], `no matching overload for '${c.function}' applied to '${t}'`);
        return 'bool';
      case '_?_:_':
        if (args[0] !== 'bool' && args[0] !== 'dyn') report(e, `conditional needs a bool, got '${args[0]}'`);
        return args[1] === args[2] ? args[1] : 'dyn';
      case '_[_]':
      case '_[?_]':
      case '_?._':
        if (args[0] !== 'dyn' && args[0] !== 'list' && args[0] !== 'map')
          report(e, `type '${args[0]}' does not support indexing`);
        return 'dyn';
    }
    const group = env.funcs.find(c.function);
    if (!group) {
      report(e, `undeclared reference to '${c.function}'`);
      return 'dyn';
    }
    const overloads = [...group].filter((f) => (f.target !== undefined) === (target !== undefined));
    if (overloads.length === 0) {
      report(
        e,
        target !== undefined
          ? `'${c.function}' is a function, not a method`
          : `'${c.function}' is a method: call it on a value`,
      );
      return 'dyn';
    }
    const matching = overloads.filter(
      (f) =>
        f.arguments.length === args.length &&
        (target === undefined || compatible(staticType(f.target), target)) &&
        f.arguments.every((p, i) => compatible(staticType(p), args[i])),
    );
    if (matching.length === 0) {
      const applied = `${target !== undefined ? `${target}.` : ''}(${args.join(', ')})`;
      report(e, `found no matching overload for '${c.function}' applied to '${applied}'`);
      return 'dyn';
    }
    // Numeric arguments match every numeric overload; the exact ones, when there are, decide the type.
    const exact = matching.filter((f) =>
      f.arguments.every((p, i) => staticType(p) === args[i] || staticType(p) === 'dyn'),
    );
    const results = new Set((exact.length ? exact : matching).map((f) => staticType(f.result)));
    return results.size === 1 ? [...results][0] : 'dyn';
  }

  const scope = new Map(Object.entries(opts.variables));
  const type = walk(parsed.expr, scope);
  return { type, issues };
}
