// `strata alerts [--state S] [--priority P] [-o json]`: the alerts the server's rule evaluator holds —
// firing and pending, most urgent first (P0 before P3, firing before pending, oldest first), with their
// priority, severity, state, since when, what they are about and the summary. Reads Prometheus' rule API
// on the server (/prometheus/api/v1/alerts), which has the pending ones Alertmanager's /api/v2/alerts
// leaves out.
import type { Command } from 'commander';
import type { CliContext } from './context.ts';
import { alignRows } from './printers.ts';

export interface RuleApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

/** "3m12s" / "2h5m" / "4d3h": how long ago, kubectl's age style. */
export function since(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** What an alert is about, from its labels: ns/pod[/container], node/…, deployment/…, certificate, policy. */
function subject(l: Record<string, string>): string {
  if (l.pod)
    return `pod/${l.namespace ? `${l.namespace}/` : ''}${l.pod}${l.container ? ` (${l.container})` : ''}`;
  if (l.node) return `node/${l.node}`;
  if (l.deployment) return `deployment/${l.namespace}/${l.deployment}`;
  if (l.certificate) return `certificate/${l.certificate}`;
  if (l.policy) return `policy/${l.policy}`;
  return l.namespace ? `namespace/${l.namespace}` : '';
}

const rank = (p: string | undefined) => (p && /^P\d$/.test(p) ? Number(p[1]) : 9);

export function formatAlerts(alerts: RuleApiAlert[], now = Date.now()): string {
  if (!alerts.length) return 'No alerts.';
  const sorted = [...alerts].sort(
    (a, b) =>
      rank(a.labels.priority) - rank(b.labels.priority) ||
      (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1) ||
      Date.parse(a.activeAt) - Date.parse(b.activeAt),
  );
  return alignRows([
    ['PRIORITY', 'SEVERITY', 'STATE', 'ALERT', 'SUBJECT', 'SINCE', 'SUMMARY'],
    ...sorted.map((a) => [
      a.labels.priority ?? '-',
      a.labels.severity ?? '-',
      a.state,
      a.labels.alertname ?? '',
      subject(a.labels) || '-',
      since(a.activeAt, now),
      a.annotations.summary ?? a.annotations.description ?? a.annotations.message ?? '',
    ]),
  ]).join('\n');
}

export async function listAlerts(
  ctx: CliContext,
  o: { state?: string; priority?: string; output?: string },
): Promise<string> {
  const res = await ctx.client.request('GET', '/prometheus/api/v1/alerts');
  const body = (await res.json()) as { data: { alerts: RuleApiAlert[] } };
  const alerts = body.data.alerts.filter(
    (a) =>
      (!o.state || a.state === o.state) && (!o.priority || a.labels.priority === o.priority.toUpperCase()),
  );
  if (o.output === 'json') return JSON.stringify(alerts, null, 2);
  return formatAlerts(alerts);
}

export function registerAlertCommands(
  program: Command,
  connect: () => CliContext,
  print: (s: string) => void,
): void {
  program
    .command('alerts')
    .description("firing and pending alerts, most urgent first (P0 … P3), from the server's alert rules")
    .option('--state <state>', 'only firing or only pending alerts')
    .option('--priority <P>', 'only this priority (P0, P1, P2, P3)')
    .option('-o, --output <format>', 'json for the raw alerts')
    .action(async (o) => print(await listAlerts(connect(), o)));
}
