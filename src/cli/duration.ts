// Durations on the command line, as kubectl takes them: `30`, `30s`, `5m`, `1h30m`, `500ms`.
/** A duration in seconds: `90`, `90s`, `5m`, `1h30m`, `500ms` (kubectl's --timeout values). */
export function seconds(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of v.matchAll(re)) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== v.length || consumed === 0)
    throw new Error(`expected a duration like 30s, 5m or 1h, got ${JSON.stringify(v)}`);
  return total;
}
