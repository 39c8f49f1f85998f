// Reads Prometheus' text exposition format (what prom-client renders for /metrics) back into samples,
// so the rule evaluator sees exactly the series a scraping Prometheus would: `name{l="v",...} value`,
// comments and TYPE/HELP lines skipped, label values unescaped (\\, \", \n), timestamps ignored (the
// scrape's time is the sample's).
import type { Labels } from './promql/eval.ts';

export function parseExposition(text: string): Array<{ labels: Labels; v: number }> {
  const out: Array<{ labels: Labels; v: number }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let labels: Labels = {};
    let rest: string;
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.slice(0, brace);
      const end = parseLabels(line, brace + 1, (labels = {}));
      if (end < 0) continue;
      rest = line.slice(end + 1).trim();
    } else {
      if (space < 0) continue;
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const valueText = rest.split(/\s+/)[0];
    const v = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (valueText === undefined || (Number.isNaN(v) && valueText !== 'NaN')) continue;
    out.push({ labels: { __name__: name, ...labels }, v });
  }
  return out;
}

/** Parses `l="v",...}` from `at`; returns the index of the closing brace, or -1 when malformed. */
function parseLabels(line: string, at: number, into: Labels): number {
  let i = at;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return i;
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') return -1;
    const key = line.slice(i, eq).trim();
    let j = eq + 2;
    let value = '';
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const c = line[++j];
        value += c === 'n' ? '\n' : c;
      } else value += line[j];
    }
    if (j >= line.length) return -1;
    into[key] = value;
    i = j + 1;
  }
}
