// The part of Prometheus' alert templating (Go text/template) that rule annotations use in practice:
// `{{ $labels.name }}`, `{{ $value }}`, `{{ .Labels.name }}`, `{{ .Value }}`, piped through humanize,
// humanizePercentage, humanizeDuration, printf "%.2f", or `{{ printf "%.2f" $value }}`. Anything else
// inside `{{ }}` is left as written, so a template this does not understand shows up as such rather
// than as a wrong value.

export interface TemplateData {
  labels: Record<string, string>;
  value: number;
}

export function expandTemplate(text: string, data: TemplateData): string {
  return text.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (whole, body: string) => {
    const out = expand(body, data);
    return out ?? whole;
  });
}

function expand(body: string, data: TemplateData): string | undefined {
  const stages = body.split('|').map((s) => s.trim());
  let current: string | number | undefined;
  for (const [i, stage] of stages.entries()) {
    const words = stage.split(/\s+/);
    if (i === 0) {
      if (words[0] === 'printf' && words.length === 3) {
        const v = operand(words[2], data);
        if (v === undefined) return undefined;
        current = printf(words[1].replace(/^"|"$/g, ''), v);
        continue;
      }
      current = operand(stage, data);
      if (current === undefined) return undefined;
      continue;
    }
    const fn = FILTERS[words[0]];
    if (words[0] === 'printf' && words.length === 2)
      current = printf(words[1].replace(/^"|"$/g, ''), current!);
    else if (fn) current = fn(Number(current));
    else return undefined;
  }
  return current === undefined ? undefined : typeof current === 'number' ? formatValue(current) : current;
}

function operand(word: string, data: TemplateData): string | number | undefined {
  if (word === '$value' || word === '.Value') return data.value;
  const m = /^(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)$/.exec(word);
  if (m) return data.labels[m[1]] ?? '';
  const q = /^"(.*)"$/.exec(word);
  if (q) return q[1];
  return undefined;
}

/** Go's %v of a float64 (what `{{ $value }}` prints): shortest representation, exponent for large ones. */
function formatValue(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return Math.abs(v) >= 1e21 ? v.toExponential() : String(v);
  return String(v);
}

function printf(format: string, v: string | number): string {
  return format.replace(/%(\.(\d+))?([fdsgv])/g, (_, _p, digits: string | undefined, verb: string) => {
    if (verb === 'f') return Number(v).toFixed(digits ? Number(digits) : 6);
    if (verb === 'd') return String(Math.trunc(Number(v)));
    return String(v);
  });
}

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const FILTERS: Record<string, (v: number) => string> = {
  humanize(v) {
    if (v === 0 || !Number.isFinite(v) || Math.abs(v) < 1) return String(+v.toPrecision(4));
    let i = 0;
    while (Math.abs(v) >= 1000 && i < SI.length - 1) {
      v /= 1000;
      i++;
    }
    return `${+v.toPrecision(4)}${SI[i]}`;
  },
  humanize1024(v) {
    const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${+v.toPrecision(4)}${units[i]}`;
  },
  humanizePercentage: (v) => `${+(v * 100).toPrecision(4)}%`,
  humanizeDuration(v) {
    if (!Number.isFinite(v)) return String(v);
    if (Math.abs(v) < 1) return `${+(v * 1000).toPrecision(4)}ms`;
    const d = Math.floor(v / 86400);
    const h = Math.floor((v % 86400) / 3600);
    const m = Math.floor((v % 3600) / 60);
    const s = Math.floor(v % 60);
    return [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean).join(' ');
  },
};
