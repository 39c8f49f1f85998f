// Alerts (the server's Alertmanager-compatible /api/v2/alerts, when it answers) and policy violations
// (wgpolicyk8s.io/v1alpha2 PolicyReports and ClusterPolicyReports), grouped by severity.
import { useFetch, type KubeObject } from '../api.ts';

interface Alert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  status?: { state?: string };
}

interface ReportResult {
  policy?: string;
  rule?: string;
  result?: string;
  severity?: string;
  message?: string;
  resources?: Array<{ kind?: string; namespace?: string; name?: string }>;
}

const SEVERITY_ORDER = ['critical', 'high', 'warning', 'medium', 'low', 'info'];
const rank = (s: string | undefined) => {
  const i = SEVERITY_ORDER.indexOf(s ?? '');
  return i < 0 ? SEVERITY_ORDER.length : i;
};

function groupBy<T>(items: T[], key: (t: T) => string): Array<[string, T[]]> {
  const m = new Map<string, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return [...m.entries()].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

function AlertsPanel() {
  const { data, error, loading } = useFetch<Alert[]>('/api/v2/alerts', 15_000);
  if (loading) return <p>Loading alerts…</p>;
  if (error || !Array.isArray(data))
    return (
      <p className="muted" role="status">
        Alerts unavailable{error ? ` (${error.message})` : ''}.
      </p>
    );
  if (data.length === 0) return <p className="ok">No alerts are firing.</p>;
  return (
    <>
      {groupBy(data, (a) => a.labels.severity ?? 'none').map(([severity, alerts]) => (
        <section key={severity} aria-labelledby={`alerts-${severity}`}>
          <h3 id={`alerts-${severity}`} className={`severity severity-${severity}`}>
            {severity} ({alerts.length})
          </h3>
          <ul className="alerts">
            {alerts.map((a, i) => (
              <li key={i}>
                <strong>{a.labels.alertname}</strong>
                {a.labels.priority ? ` [${a.labels.priority}]` : ''} —{' '}
                {a.annotations?.summary ?? a.annotations?.description ?? ''}
                <span className="muted">
                  {' '}
                  {a.status?.state ?? 'active'} since {a.startsAt ?? '?'}
                  {a.labels.namespace ? ` · ${a.labels.namespace}/${a.labels.pod ?? ''}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

function ViolationsPanel() {
  const reports = useFetch<{ items: KubeObject[] }>('/apis/wgpolicyk8s.io/v1alpha2/policyreports', 30_000);
  const cluster = useFetch<{ items: KubeObject[] }>(
    '/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports',
    30_000,
  );
  if (reports.loading) return <p>Loading policy reports…</p>;
  if (reports.error) return <p className="muted">Policy reports unavailable ({reports.error.message}).</p>;
  const results: ReportResult[] = [...(reports.data?.items ?? []), ...(cluster.data?.items ?? [])].flatMap(
    (r) =>
      ((r.results ?? []) as ReportResult[]).filter(
        (x) => x.result === 'fail' || x.result === 'warn' || x.result === 'error',
      ),
  );
  if (results.length === 0) return <p className="ok">No policy violations reported.</p>;
  return (
    <>
      {groupBy(results, (r) => r.severity ?? 'unspecified').map(([severity, rs]) => (
        <section key={severity} aria-labelledby={`violations-${severity}`}>
          <h3 id={`violations-${severity}`} className={`severity severity-${severity}`}>
            {severity} ({rs.length})
          </h3>
          <table aria-label={`Policy violations of severity ${severity}`}>
            <thead>
              <tr>
                <th scope="col">Policy</th>
                <th scope="col">Result</th>
                <th scope="col">Resource</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {rs.map((r, i) => (
                <tr key={i}>
                  <th scope="row">
                    {r.policy}
                    {r.rule ? `/${r.rule}` : ''}
                  </th>
                  <td>{r.result}</td>
                  <td>
                    {(r.resources ?? [])
                      .map((x) => `${x.kind}/${x.namespace ? `${x.namespace}/` : ''}${x.name}`)
                      .join(', ')}
                  </td>
                  <td>{r.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}

export function Alerts() {
  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts and policy violations</h1>
      <h2>Alerts</h2>
      <AlertsPanel />
      <h2>Policy violations</h2>
      <ViolationsPanel />
    </section>
  );
}
