// Label and field selectors, in the string syntax of `?labelSelector=` / `-l` and the structured
// form of `spec.selector`. Both compile to a predicate once, so list/watch filtering is a cheap call.
import type { LabelSelector, LabelSelectorRequirement } from './meta.ts';
import { labelValueErrors, qualifiedNameErrors } from './names.ts';
import type { KindInfo } from './registry.ts';

export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

type Op = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'In':
      return has && r.values.includes(labels[r.key]);
    case 'NotIn':
      // Like Kubernetes, `a!=b` and `a notin (b)` also match objects without label `a`.
      return !has || !r.values.includes(labels[r.key]);
  }
}

function matcher(reqs: Requirement[]): LabelMatcher {
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

/**
 * Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h` (also `a==b`). The empty string matches everything.
 * Throws an Error that names the position and the problem.
 */
export function parseLabelSelector(s: string): LabelMatcher {
  const reqs: Requirement[] = [];
  let pos = 0;
  const fail = (what: string): never => {
    throw new Error(`invalid label selector ${JSON.stringify(s)}: ${what} at position ${pos}`);
  };
  const ws = () => {
    while (pos < s.length && /\s/.test(s[pos])) pos++;
  };
  const word = (re: RegExp) => {
    const start = pos;
    while (pos < s.length && re.test(s[pos])) pos++;
    return s.slice(start, pos);
  };
  const key = () => {
    const k = word(/[A-Za-z0-9._/-]/);
    if (!k)
      fail(`expected a label key, found ${s[pos] === undefined ? 'end of input' : JSON.stringify(s[pos])}`);
    const errs = qualifiedNameErrors(k);
    if (errs.length) fail(`invalid label key ${JSON.stringify(k)} (${errs[0]})`);
    return k;
  };
  const value = () => {
    ws();
    const v = word(/[A-Za-z0-9._-]/);
    const errs = labelValueErrors(v);
    if (errs.length) fail(`invalid label value ${JSON.stringify(v)} (${errs[0]})`);
    return v;
  };
  const set = () => {
    ws();
    if (s[pos] !== '(') fail("expected '('");
    pos++;
    ws();
    if (s[pos] === ')') fail('the value set of in/notin must not be empty');
    const values: string[] = [];
    for (;;) {
      values.push(value());
      ws();
      if (s[pos] === ')') break;
      if (s[pos] !== ',')
        fail(`expected ',' or ')', found ${s[pos] === undefined ? 'end of input' : JSON.stringify(s[pos])}`);
      pos++;
    }
    pos++;
    return values;
  };
  // Consume `token` if the input continues with it (`pattern` may look further ahead, e.g. for '(').
  const accept = (token: string, pattern?: RegExp) => {
    const ok = pattern ? pattern.test(s.slice(pos)) : s.startsWith(token, pos);
    if (ok) pos += token.length;
    return ok;
  };

  ws();
  if (pos === s.length) return () => true;
  for (;;) {
    ws();
    if (s[pos] === '!') {
      pos++;
      ws();
      reqs.push({ key: key(), op: 'DoesNotExist', values: [] });
    } else {
      const k = key();
      ws();
      if (pos === s.length || s[pos] === ',') reqs.push({ key: k, op: 'Exists', values: [] });
      else if (accept('!=')) reqs.push({ key: k, op: 'NotIn', values: [value()] });
      else if (accept('==') || accept('=')) reqs.push({ key: k, op: 'In', values: [value()] });
      else if (accept('in', /^in\s*\(/)) reqs.push({ key: k, op: 'In', values: set() });
      else if (accept('notin', /^notin\s*\(/)) reqs.push({ key: k, op: 'NotIn', values: set() });
      else fail(`expected an operator (=, ==, !=, in, notin), found ${JSON.stringify(s[pos])}`);
    }
    ws();
    if (pos === s.length) break;
    if (s[pos] !== ',') fail(`expected ',', found ${JSON.stringify(s[pos])}`);
    pos++;
  }
  return matcher(reqs);
}

function requirementsOf(sel: LabelSelector): Requirement[] {
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({
    key,
    op: 'In',
    values: [v],
  }));
  for (const e of sel.matchExpressions ?? [])
    reqs.push({ key: e.key, op: e.operator as Op, values: (e as LabelSelectorRequirement).values ?? [] });
  return reqs;
}

/**
 * Predicate for a structured selector. As in Kubernetes, an empty selector `{}` matches everything
 * and an absent one (undefined) matches nothing.
 */
export function labelSelectorMatcher(sel: LabelSelector | undefined): LabelMatcher {
  if (!sel) return () => false;
  return matcher(requirementsOf(sel));
}

/** The string form (for `?labelSelector=` and `kubectl describe`), requirements sorted by key. */
export function labelSelectorToString(sel: LabelSelector | undefined): string {
  if (!sel) return '';
  return requirementsOf(sel)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => {
      const values = [...r.values].sort().join(',');
      if (r.op === 'Exists') return r.key;
      if (r.op === 'DoesNotExist') return `!${r.key}`;
      if (r.values.length === 1 && sel.matchLabels?.[r.key] === r.values[0] && r.op === 'In')
        return `${r.key}=${r.values[0]}`;
      return `${r.key} ${r.op === 'In' ? 'in' : 'notin'} (${values})`;
    })
    .join(',');
}

/** Split on commas that are not escaped with a backslash. */
function splitTerms(s: string): string[] {
  const out: string[] = [''];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) out[out.length - 1] += s[i] + s[++i];
    else if (s[i] === ',') out.push('');
    else out[out.length - 1] += s[i];
  }
  return out;
}

/** Find the first unescaped operator of a field selector term. */
function splitTerm(term: string): { field: string; op: string; value: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') i++;
    else if (term.startsWith('!=', i) || term.startsWith('==', i))
      return { field: term.slice(0, i), op: term.slice(i, i + 2), value: term.slice(i + 2) };
    else if (term[i] === '=') return { field: term.slice(0, i), op: '=', value: term.slice(i + 1) };
  }
  return undefined;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function fieldValue(obj: any, path: string): string {
  let v = obj;
  for (const p of path.split('.')) v = v?.[p];
  return v === undefined || v === null || typeof v === 'object' ? '' : String(v);
}

/**
 * Parse `spec.nodeName=n1,status.phase!=Failed` (also `==`). Values may escape `,`, `=` and `\` with a
 * backslash. A field missing from the object compares as "" — so `spec.nodeName=` finds unscheduled pods.
 */
export function parseFieldSelector(s: string, allowed: readonly string[]): (obj: any) => boolean {
  if (!s.trim()) return () => true;
  const terms = splitTerms(s).map((term) => {
    const t = splitTerm(term);
    if (!t)
      throw new Error(
        `invalid field selector ${JSON.stringify(s)}: ${JSON.stringify(term)} is not field=value or field!=value`,
      );
    const field = t.field.trim();
    if (!allowed.includes(field))
      throw new Error(
        `field label not supported: ${JSON.stringify(field)} (supported fields: ${allowed.join(', ')})`,
      );
    return { field, negate: t.op === '!=', value: unescape(t.value.trim()) };
  });
  return (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) !== t.negate);
}

const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];
const EXTRA_FIELDS: Record<string, string[]> = {
  pod: ['spec.nodeName', 'status.phase', 'spec.priorityClassName', 'status.nominatedNodeName'],
  node: ['spec.unschedulable'],
  // What `kubectl describe` uses to find an object's events.
  event: [
    'involvedObject.apiVersion',
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.fieldPath',
    'reason',
    'type',
    'source.component',
    'reportingComponent',
  ],
};
const ALIASES: Record<string, string> = {
  pods: 'pod',
  po: 'pod',
  nodes: 'node',
  no: 'node',
  events: 'event',
  ev: 'event',
};

/** Fields a field selector may use for a kind (a KindInfo, or a kind/resource name like "Pod"/"pods"). */
export function fieldSelectorFields(kind: KindInfo | string): string[] {
  const name = typeof kind === 'string' ? kind.toLowerCase() : kind.kind.toLowerCase();
  return [...COMMON_FIELDS, ...(EXTRA_FIELDS[ALIASES[name] ?? name] ?? [])];
}
