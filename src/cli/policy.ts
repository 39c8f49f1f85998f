// `strata policy report [-n NS]`: what the admission policies found, read from the PolicyReports
// (wgpolicyk8s.io/v1alpha2) the server keeps — totals of violations by severity (fail, warn, error) and
// the ten most recent ones. Without -n: every namespace's report and the ClusterPolicyReport.
import type { Command } from 'commander';
import { kindFor, SEVERITIES, type PolicyReportResult } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { alignRows } from './printers.ts';

const POLICY_REPORT = kindFor('wgpolicyk8s.io/v1alpha2', 'PolicyReport')!;
const CLUSTER_POLICY_REPORT = kindFor('wgpolicyk8s.io/v1alpha2', 'ClusterPolicyReport')!;
const VIOLATION_RESULTS = ['fail', 'warn', 'error'] as const;
const RECENT = 10;

interface ReportLike {
  metadata?: { namespace?: string };
  results?: PolicyReportResult[];
}

function when(r: PolicyReportResult): number {
  return r.timestamp ? r.timestamp.seconds * 1000 + Math.floor(r.timestamp.nanos / 1e6) : 0;
}

function resourceOf(r: PolicyReportResult): string {
  const res = r.resources?.[0];
  if (!res) return '';
  return `${res.kind?.toLowerCase() ?? ''}/${res.namespace ? `${res.namespace}/` : ''}${res.name ?? ''}`;
}

/** The text `strata policy report` prints for these reports. */
export function formatPolicyReport(reports: readonly ReportLike[]): string {
  const results = reports.flatMap((r) => r.results ?? []);
  const bySeverity = new Map<string, Record<string, number>>();
  const counts = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) {
    if (!r.result) continue;
    counts[r.result]++;
    if (!(VIOLATION_RESULTS as readonly string[]).includes(r.result)) continue;
    const sev = r.severity ?? 'none';
    const row = bySeverity.get(sev) ?? { fail: 0, warn: 0, error: 0 };
    row[r.result]++;
    bySeverity.set(sev, row);
  }
  const order = [...SEVERITIES].reverse().concat(['none'] as never[]);
  const totals = alignRows([
    ['SEVERITY', 'FAIL', 'WARN', 'ERROR'],
    ...order.map((s) => {
      const row = bySeverity.get(s) ?? { fail: 0, warn: 0, error: 0 };
      return [s, String(row.fail), String(row.warn), String(row.error)];
    }),
    ['total', String(counts.fail), String(counts.warn), String(counts.error)],
  ]);
  const violations = results
    .filter((r) => r.result && (VIOLATION_RESULTS as readonly string[]).includes(r.result))
    .sort((a, b) => when(b) - when(a))
    .slice(0, RECENT);
  const recent = violations.length
    ? alignRows([
        ['TIME', 'SEVERITY', 'RESULT', 'ACTION', 'POLICY', 'RESOURCE', 'MESSAGE'],
        ...violations.map((r) => [
          r.timestamp ? new Date(when(r)).toISOString().replace(/\.\d{3}Z$/, 'Z') : '',
          r.severity ?? 'none',
          r.result ?? '',
          r.properties?.action ?? (r.properties?.scan ? 'scan' : ''),
          r.policy,
          resourceOf(r),
          r.message ?? '',
        ]),
      ])
    : ['No violations.'];
  return [
    `Violations by severity (${counts.pass} passed, ${counts.skip} skipped):`,
    ...totals,
    '',
    `Most recent violations (${Math.min(RECENT, violations.length)} of ${counts.fail + counts.warn + counts.error}):`,
    ...recent,
  ].join('\n');
}

export async function policyReport(ctx: CliContext, allNamespaces: boolean): Promise<string> {
  if (ctx.explicitNamespace && !allNamespaces) {
    const { items } = await ctx.client.list(POLICY_REPORT, ctx.namespace);
    return formatPolicyReport(items);
  }
  const [namespaced, cluster] = await Promise.all([
    ctx.client.list(POLICY_REPORT),
    ctx.client.list(CLUSTER_POLICY_REPORT),
  ]);
  return formatPolicyReport([...namespaced.items, ...cluster.items]);
}

export function registerPolicyCommands(
  program: Command,
  connect: () => CliContext,
  print: (s: string) => void,
): void {
  const policy = program.command('policy').description('admission policies: what they found');
  policy
    .command('report')
    .description(
      'violation totals by severity and the ten most recent violations (from the PolicyReports; -n for one namespace)',
    )
    .option('-A, --all-namespaces', 'every namespace and the cluster report (the default without -n)')
    .action(async (o) => print(await policyReport(connect(), Boolean(o.allNamespaces))));
}
