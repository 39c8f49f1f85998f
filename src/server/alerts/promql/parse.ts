// PromQL text → a small typed syntax tree the evaluator walks. Parsing is Prometheus' own grammar
// (@prometheus-io/lezer-promql, what the Prometheus UI uses); this module turns its concrete tree into
// the subset Strata evaluates and refuses everything else *here*, at write time, with the position:
// a rule that parses but could never be evaluated is as wrong as one that does not parse.
import type { SyntaxNode } from '@lezer/common';
import { parser } from '@prometheus-io/lezer-promql';

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  /** Anchored, as Prometheus anchors label regexes. */
  re?: RegExp;
}

export type Expr =
  | { type: 'number'; value: number }
  | { type: 'string'; value: string }
  | { type: 'selector'; name?: string; matchers: Matcher[]; offsetMs: number }
  | { type: 'range'; selector: Extract<Expr, { type: 'selector' }>; rangeMs: number }
  | { type: 'call'; fn: string; args: Expr[] }
  | {
      type: 'aggregate';
      op: string;
      grouping?: { without: boolean; labels: string[] };
      expr: Expr;
    }
  | {
      type: 'binary';
      op: string;
      left: Expr;
      right: Expr;
      bool: boolean;
      matching?: { on: boolean; labels: string[]; group?: 'left' | 'right'; include: string[] };
    }
  | { type: 'unary'; op: '-' | '+'; expr: Expr };

/** A PromQL error at a character offset of the expression. */
export class PromQLError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

/** Functions the evaluator implements: argument types and the result type. */
export const FUNCTIONS: Record<string, { args: ValueType[]; optional?: number; returns: ValueType }> = {
  rate: { args: ['matrix'], returns: 'vector' },
  irate: { args: ['matrix'], returns: 'vector' },
  increase: { args: ['matrix'], returns: 'vector' },
  delta: { args: ['matrix'], returns: 'vector' },
  idelta: { args: ['matrix'], returns: 'vector' },
  changes: { args: ['matrix'], returns: 'vector' },
  resets: { args: ['matrix'], returns: 'vector' },
  avg_over_time: { args: ['matrix'], returns: 'vector' },
  max_over_time: { args: ['matrix'], returns: 'vector' },
  min_over_time: { args: ['matrix'], returns: 'vector' },
  sum_over_time: { args: ['matrix'], returns: 'vector' },
  count_over_time: { args: ['matrix'], returns: 'vector' },
  last_over_time: { args: ['matrix'], returns: 'vector' },
  present_over_time: { args: ['matrix'], returns: 'vector' },
  absent_over_time: { args: ['matrix'], returns: 'vector' },
  absent: { args: ['vector'], returns: 'vector' },
  abs: { args: ['vector'], returns: 'vector' },
  ceil: { args: ['vector'], returns: 'vector' },
  floor: { args: ['vector'], returns: 'vector' },
  round: { args: ['vector'], returns: 'vector' },
  sqrt: { args: ['vector'], returns: 'vector' },
  exp: { args: ['vector'], returns: 'vector' },
  ln: { args: ['vector'], returns: 'vector' },
  clamp: { args: ['vector', 'scalar', 'scalar'], returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], returns: 'vector' },
  timestamp: { args: ['vector'], returns: 'vector' },
  scalar: { args: ['vector'], returns: 'scalar' },
  vector: { args: ['scalar'], returns: 'vector' },
  time: { args: [], returns: 'scalar' },
};

export const AGGREGATIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group']);
const COMPARISONS = new Set(['==', '!=', '>', '<', '>=', '<=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^']);
const SET_OPS = new Set(['and', 'or', 'unless']);
export const isComparison = (op: string): boolean => COMPARISONS.has(op);
export const isSetOp = (op: string): boolean => SET_OPS.has(op);

const UNITS: Record<string, number> = {
  y: 365 * 86400_000,
  w: 7 * 86400_000,
  d: 86400_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

/** A Prometheus duration ("1h30m", "5m", "250ms") in milliseconds, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!text || !/^(\d+(y|w|d|h|ms|m|s))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g)) ms += Number(m[1]) * UNITS[m[2]];
  return ms;
}

/** Parses and checks an expression; throws PromQLError with the offset of the first problem. */
export function parsePromQL(text: string): { expr: Expr; type: ValueType } {
  const tree = parser.parse(text);
  let error: SyntaxNode | undefined;
  tree.iterate({
    enter(n) {
      if (!error && n.type.isError) error = n.node;
      return !error;
    },
  });
  if (error) {
    const at = error.from;
    const near = text.slice(at, at + 12);
    throw new PromQLError(
      near ? `parse error: unexpected ${JSON.stringify(near)}` : 'parse error: unexpected end of input',
      at,
    );
  }
  const top = tree.topNode.firstChild;
  if (!top) throw new PromQLError('parse error: empty expression', 0);
  const c = new Converter(text);
  const expr = c.expr(top);
  return { expr, type: c.typeOf(expr, top) };
}

class Converter {
  private readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  private src(n: SyntaxNode): string {
    return this.text.slice(n.from, n.to);
  }

  private unsupported(n: SyntaxNode, what: string): never {
    throw new PromQLError(`unsupported in Strata's PromQL subset: ${what}`, n.from);
  }

  /** The expression children of a node (lezer marks them with the Expr group). */
  private exprs(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) if (c.type.is('Expr')) out.push(c);
    return out;
  }

  expr(n: SyntaxNode): Expr {
    switch (n.name) {
      case 'ParenExpr':
        return this.expr(this.exprs(n)[0]);
      case 'NumberDurationLiteral':
        return { type: 'number', value: this.number(n) };
      case 'StringLiteral':
        return { type: 'string', value: this.string(n) };
      case 'VectorSelector':
        return this.selector(n);
      case 'MatrixSelector': {
        const inner = this.expr(this.exprs(n)[0]);
        if (inner.type !== 'selector') this.unsupported(n, 'a range of something other than a selector');
        return { type: 'range', selector: inner, rangeMs: this.duration(n.getChild('DurationExpr')!) };
      }
      case 'OffsetExpr': {
        const inner = this.expr(this.exprs(n)[0]);
        const d = this.duration(n.getChild('OffsetDurationExpr')!);
        if (inner.type === 'selector') return { ...inner, offsetMs: inner.offsetMs + d };
        if (inner.type === 'range')
          return { ...inner, selector: { ...inner.selector, offsetMs: inner.selector.offsetMs + d } };
        return this.unsupported(n, 'offset on something other than a selector');
      }
      case 'UnaryExpr': {
        const op = this.src(n.getChild('UnaryOp')!) as '-' | '+';
        return { type: 'unary', op, expr: this.expr(this.exprs(n)[0]) };
      }
      case 'FunctionCall':
        return this.call(n);
      case 'AggregateExpr':
        return this.aggregate(n);
      case 'BinaryExpr':
        return this.binary(n);
      case 'SubqueryExpr':
        return this.unsupported(n, 'subqueries');
      case 'StepInvariantExpr':
        return this.unsupported(n, 'the @ modifier');
      default:
        return this.unsupported(n, n.name);
    }
  }

  private number(n: SyntaxNode): number {
    const s = this.src(n).replace(/_/g, '').trim();
    const sign = s.startsWith('-') ? -1 : 1;
    const body = s.replace(/^[-+]/, '').trim().toLowerCase();
    if (body === 'inf') return sign * Infinity;
    if (body === 'nan') return NaN;
    const d = parseDuration(body);
    if (d !== undefined) return (sign * d) / 1000;
    const v = Number(body);
    if (Number.isNaN(v)) throw new PromQLError(`bad number ${JSON.stringify(s)}`, n.from);
    return sign * v;
  }

  private string(n: SyntaxNode): string {
    const s = this.src(n);
    if (s.startsWith('`')) return s.slice(1, -1);
    const q = s[0];
    if (s.length < 2 || s[s.length - 1] !== q) throw new PromQLError('unterminated string', n.from);
    // Go's escapes are JSON's plus a few; JSON.parse covers what rules use (\\, \", \n, \t, \uXXXX).
    const body = s.slice(1, -1).replace(/\\'/g, "'");
    try {
      return JSON.parse(`"${q === "'" ? body.replace(/"/g, '\\"') : body}"`) as string;
    } catch {
      throw new PromQLError(`bad string literal ${s}`, n.from);
    }
  }

  private duration(n: SyntaxNode): number {
    const s = this.src(n).trim();
    const d = parseDuration(s);
    if (d !== undefined) return d;
    if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
    return this.unsupported(n, `duration arithmetic (${s})`);
  }

  private selector(n: SyntaxNode): Expr {
    const id = n.getChild('Identifier');
    const matchers: Matcher[] = [];
    const lm = n.getChild('LabelMatchers');
    if (lm) {
      for (let c = lm.firstChild; c; c = c.nextSibling) {
        if (c.name === 'QuotedLabelName') {
          matchers.push({ name: '__name__', op: '=', value: this.string(c.firstChild!) });
          continue;
        }
        if (c.name !== 'UnquotedLabelMatcher' && c.name !== 'QuotedLabelMatcher') continue;
        const nameNode = c.getChild('LabelName') ?? c.getChild('QuotedLabelName')?.firstChild;
        const name = c.name === 'UnquotedLabelMatcher' ? this.src(nameNode!) : this.string(nameNode!);
        const op = this.src(c.getChild('MatchOp')!) as Matcher['op'];
        const value = this.string(c.getChild('StringLiteral')!);
        const m: Matcher = { name, op, value };
        if (op === '=~' || op === '!~') {
          try {
            m.re = new RegExp(`^(?:${value})$`);
          } catch (err) {
            throw new PromQLError(`bad regex ${JSON.stringify(value)}: ${(err as Error).message}`, c.from);
          }
        }
        matchers.push(m);
      }
    }
    let name = id ? this.src(id) : undefined;
    const named = matchers.findIndex((m) => m.name === '__name__' && m.op === '=');
    if (!name && named >= 0) name = matchers.splice(named, 1)[0].value;
    if (!name && !matchers.some((m) => !matchesEmpty(m)))
      throw new PromQLError('vector selector must contain at least one non-empty matcher', n.from);
    return { type: 'selector', name, matchers, offsetMs: 0 };
  }

  private call(n: SyntaxNode): Expr {
    const fn = this.src(n.getChild('FunctionIdentifier')!);
    if (!(fn in FUNCTIONS)) this.unsupported(n, `function ${fn}()`);
    const body = n.getChild('FunctionCallBody')!;
    return { type: 'call', fn, args: this.exprs(body).map((a) => this.expr(a)) };
  }

  private grouping(n: SyntaxNode | null): string[] {
    if (!n) return [];
    const out: string[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.name === 'LabelName') out.push(this.src(c));
      else if (c.name === 'QuotedLabelName') out.push(this.string(c.firstChild!));
    }
    return out;
  }

  private aggregate(n: SyntaxNode): Expr {
    const op = this.src(n.getChild('AggregateOp')!);
    if (!AGGREGATIONS.has(op)) this.unsupported(n, `aggregation ${op}`);
    const mod = n.getChild('AggregateModifier');
    const args = this.exprs(n.getChild('FunctionCallBody')!);
    if (args.length !== 1) throw new PromQLError(`${op}() expects 1 argument, got ${args.length}`, n.from);
    return {
      type: 'aggregate',
      op,
      grouping: mod
        ? { without: mod.getChild('Without') !== null, labels: this.grouping(mod.getChild('GroupingLabels')) }
        : undefined,
      expr: this.expr(args[0]),
    };
  }

  private binary(n: SyntaxNode): Expr {
    const [l, r] = this.exprs(n);
    let op = '';
    for (let c = l.nextSibling; c && c.from < r.from; c = c.nextSibling) {
      if (c.name === 'BoolModifier' || c.name === 'MatchingModifierClause') continue;
      if (c.name === 'FillModifier') this.unsupported(c, 'fill modifiers');
      op = this.src(c).toLowerCase();
    }
    if (!ARITHMETIC.has(op) && !COMPARISONS.has(op) && !SET_OPS.has(op))
      this.unsupported(n, `the ${op} operator`);
    const mm = n.getChild('MatchingModifierClause');
    let matching: Extract<Expr, { type: 'binary' }>['matching'];
    if (mm) {
      const lists = mm.getChildren('GroupingLabels');
      const left = mm.getChild('GroupLeft') !== null;
      const right = mm.getChild('GroupRight') !== null;
      matching = {
        on: mm.getChild('On') !== null,
        labels: this.grouping(lists[0]),
        group: left ? 'left' : right ? 'right' : undefined,
        include: this.grouping(lists[1] ?? null),
      };
      if (matching.group && SET_OPS.has(op))
        throw new PromQLError(`no grouping allowed for "${op}" operation`, mm.from);
    }
    return {
      type: 'binary',
      op,
      left: this.expr(l),
      right: this.expr(r),
      bool: n.getChild('BoolModifier') !== null,
      matching,
    };
  }

  /** The type of an expression, checking operands on the way (Prometheus' checkAST, in short). */
  typeOf(e: Expr, at: SyntaxNode): ValueType {
    const fail = (msg: string): never => {
      throw new PromQLError(msg, at.from);
    };
    switch (e.type) {
      case 'number':
        return 'scalar';
      case 'string':
        return 'string';
      case 'selector':
        return 'vector';
      case 'range':
        return 'matrix';
      case 'unary': {
        const t = this.typeOf(e.expr, at);
        if (t !== 'scalar' && t !== 'vector')
          fail(`unary expression only allowed on scalars or vectors, got ${t}`);
        return t;
      }
      case 'call': {
        const sig = FUNCTIONS[e.fn];
        const min = sig.args.length - (sig.optional ?? 0);
        if (e.args.length < min || e.args.length > sig.args.length)
          fail(`${e.fn}() expects ${sig.args.length} argument(s), got ${e.args.length}`);
        e.args.forEach((a, i) => {
          const t = this.typeOf(a, at);
          if (t !== sig.args[i]) fail(`${e.fn}(): argument ${i + 1} must be a ${sig.args[i]}, got ${t}`);
        });
        return sig.returns;
      }
      case 'aggregate': {
        const t = this.typeOf(e.expr, at);
        if (t !== 'vector') fail(`${e.op}(): expected an instant vector, got ${t}`);
        return 'vector';
      }
      case 'binary': {
        const l = this.typeOf(e.left, at);
        const r = this.typeOf(e.right, at);
        for (const t of [l, r])
          if (t !== 'scalar' && t !== 'vector')
            fail(`binary expression must contain only scalar and instant vector types, got ${t}`);
        if (COMPARISONS.has(e.op) && l === 'scalar' && r === 'scalar' && !e.bool)
          fail('comparisons between scalars must use the bool modifier');
        if (SET_OPS.has(e.op) && (l !== 'vector' || r !== 'vector'))
          fail(`set operator "${e.op}" not allowed in binary scalar expression`);
        if (e.matching && (l !== 'vector' || r !== 'vector'))
          fail('vector matching only allowed between instant vectors');
        if (e.bool && !COMPARISONS.has(e.op)) fail('bool modifier can only be used on comparison operators');
        return l === 'vector' || r === 'vector' ? 'vector' : 'scalar';
      }
    }
  }
}

function matchesEmpty(m: Matcher): boolean {
  switch (m.op) {
    case '=':
      return m.value === '';
    case '!=':
      return m.value !== '';
    case '=~':
      return m.re!.test('');
    case '!~':
      return !m.re!.test('');
  }
}

/** The metric names an expression's selectors read; undefined when one selects by labels alone (any name). */
export function selectedNames(e: Expr, into = new Set<string>()): Set<string> | undefined {
  switch (e.type) {
    case 'selector':
      if (e.name === undefined) return undefined;
      into.add(e.name);
      return into;
    case 'range':
      return selectedNames(e.selector, into);
    case 'call':
      for (const a of e.args) if (!selectedNames(a, into)) return undefined;
      return into;
    case 'aggregate':
    case 'unary':
      return selectedNames(e.expr, into);
    case 'binary':
      return selectedNames(e.left, into) && selectedNames(e.right, into);
    default:
      return into;
  }
}
