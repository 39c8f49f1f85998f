// Percentiles and a printable summary for benchmark samples (milliseconds unless stated).

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mean: sum / Math.max(1, sorted.length),
  };
}

export function fmt(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`;
  if (ms < 1000) return `${ms.toFixed(2)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Prints a markdown table: one row per measured thing, Strata beside its baseline. */
export function printTable(title: string, rows: Array<{ name: string; s: Summary; extra?: string }>): void {
  console.log(`\n### ${title}\n`);
  console.log('| measurement | n | p50 | p99 | mean | note |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.s.n} | ${fmt(r.s.p50)} | ${fmt(r.s.p99)} | ${fmt(r.s.mean)} | ${r.extra ?? ''} |`,
    );
  }
}
