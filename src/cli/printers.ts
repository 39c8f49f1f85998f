// Tables for `strata get`, in kubectl's layout. The columns themselves live in src/api/columns.ts, which
// the server also uses to answer `kubectl get` (Table output), so both print the same table.
import type { KindInfo } from '../api/index.ts';
import { columnsFor, rowCells, sortEvents, type Cell, type Column } from '../api/columns.ts';

export { age, deploymentRolloutState, eventTime, podStatus, sortEvents } from '../api/columns.ts';

/** kubectl's header for a column: the column's name upper-cased. */
export function columnHeader(c: Pick<Column, 'name'>): string {
  return c.name.toUpperCase();
}

/** How kubectl prints a cell (fmt's %v for strings and numbers). */
export function cellText(c: Cell | null | undefined): string {
  return c === undefined || c === null ? '' : String(c);
}

/**
 * Rows aligned like kubectl's tabwriter: every column but the last padded to its widest cell plus three
 * spaces, trailing blanks trimmed.
 */
export function alignRows(rows: readonly (readonly string[])[]): string[] {
  const width = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: width }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3)))
      .join('')
      .trimEnd(),
  );
}

export function tableRows(
  kind: KindInfo,
  items: any[],
  opts: { wide?: boolean; withNamespace?: boolean; headers?: boolean; now?: number },
): string[] {
  const all = columnsFor(kind.kind, kind.group);
  const shown = all.filter((c) => c.priority === 0 || opts.wide);
  const now = opts.now ?? Date.now();
  const header = [...(opts.withNamespace ? ['NAMESPACE'] : []), ...shown.map(columnHeader)];
  if (kind.kind === 'Event') items = sortEvents(items);
  const rows = items.map((o) => [
    ...(opts.withNamespace ? [o.metadata.namespace ?? ''] : []),
    ...rowCells(shown, o, now).map(cellText),
  ]);
  return alignRows(opts.headers === false ? rows : [header, ...rows]);
}
