// The CEL environment of admission policies: @bufbuild/cel's standard library and strings extension,
// plus the Kubernetes libraries policies use (lists, regex, quantity, url, ip/cidr), and the variables
// ValidatingAdmissionPolicy expressions see. `compile` parses and checks an expression (what the API
// does when a policy is created); `program` plans it for evaluation (what the evaluator caches).
import { celEnv, parse, plan, CelScalar, type CelEnv, type CelResult, type CelInput } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { ParsedExpr } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';
import { checkExpression, type StaticType } from './check.ts';
import { ipLibrary } from './ip.ts';
import { listLibrary } from './lists.ts';
import { quantityLibrary } from './quantity.ts';
import { regexLibrary } from './regex.ts';
import { urlLibrary } from './url.ts';

/** The variables of a policy expression (ValidatingAdmissionPolicy's, minus `authorizer`). */
export const POLICY_VARIABLES = [
  'object',
  'oldObject',
  'request',
  'params',
  'namespaceObject',
  'variables',
] as const;
export type PolicyVariable = (typeof POLICY_VARIABLES)[number];
export type Activation = Partial<Record<PolicyVariable, CelInput>>;

/** What an expression is for, which decides the result type it must have. */
export type ExpressionRole =
  'validation' | 'matchCondition' | 'messageExpression' | 'auditAnnotation' | 'variable';

const RESULT_TYPES: Record<ExpressionRole, StaticType[] | undefined> = {
  validation: ['bool'],
  matchCondition: ['bool'],
  messageExpression: ['string'],
  auditAnnotation: ['string', 'null_type'],
  variable: undefined,
};

let shared: CelEnv | undefined;

export function policyEnv(): CelEnv {
  shared ??= celEnv({
    variables: Object.fromEntries(POLICY_VARIABLES.map((v) => [v, CelScalar.DYN])),
    funcs: [...strings, ...listLibrary, ...regexLibrary, ...quantityLibrary, ...urlLibrary, ...ipLibrary],
  });
  return shared;
}

/** A refused expression: the message says what, `line`/`column` (1-based) where. */
export class CompileError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(message);
    this.name = 'CompileError';
    this.line = line;
    this.column = column;
  }
  /** `ERROR: <input>:1:15: Syntax error: …` as kube-apiserver words compile errors. */
  describe(): string {
    return `compilation failed: ERROR: <input>:${this.line}:${this.column}: ${this.message}`;
  }
}

function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

export interface CompiledExpression {
  source: string;
  parsed: ParsedExpr;
  type: StaticType;
}

/**
 * Parses and checks `source` for `role`. Throws CompileError for a syntax error, an undeclared
 * reference, an overload that cannot match, or a result of the wrong type.
 */
export function compile(
  source: string,
  role: ExpressionRole,
  declaredVariables: readonly string[] = [],
): CompiledExpression {
  const env = policyEnv();
  let parsed: ParsedExpr;
  try {
    parsed = parse(source);
  } catch (e) {
    const err = e as Error & { location?: { start?: { line: number; column: number } } };
    const at = err.location?.start ?? { line: 1, column: 1 };
    throw new CompileError(
      `Syntax error: ${err.message.replace(/^<input>:\d+:\d+: /, '')}`,
      at.line,
      at.column,
    );
  }
  const { type, issues } = checkExpression(env, parsed, {
    variables: Object.fromEntries(POLICY_VARIABLES.map((v) => [v, 'dyn'])),
    declaredVariables,
  });
  if (issues.length) {
    const first = issues[0];
    const at = lineColumn(source, first.offset ?? 0);
    throw new CompileError(first.message, at.line, at.column);
  }
  const wanted = RESULT_TYPES[role];
  if (wanted && type !== 'dyn' && !wanted.includes(type))
    throw new CompileError(`${role} must evaluate to ${wanted.join(' or ')}, got ${type}`, 1, 1);
  return { source, parsed, type };
}

export type Program = (activation: Activation) => CelResult;

/** A plan ready to evaluate against activations (cached by the evaluator per policy generation). */
export function program(parsed: ParsedExpr): Program {
  return plan(policyEnv(), parsed) as Program;
}
