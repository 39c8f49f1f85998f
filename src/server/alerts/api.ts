// The alerting HTTP API, on the server's request path (after authentication and authorization):
//   GET /api/v2/alerts, /api/v2/alerts/groups, /api/v2/status, /api/v2/receivers — Alertmanager's API v2
//     (firing alerts only, as Alertmanager holds them), for amtool, Grafana, Karma and the dashboard;
//   GET /prometheus/api/v1/alerts, /prometheus/api/v1/rules — Prometheus' rule API (pending alerts too,
//     rule health), which `strata alerts` reads.
// Authorization: /api/v2/… parse as resource requests of the core group (kube's request-info rules), so
// RBAC grants them as `alerts`, `receivers`, `status` (get, list); /prometheus/… are nonResourceURLs.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AlertingEngine } from './engine.ts';
import type { Labels } from './promql/eval.ts';
import type { Alert } from './rules.ts';

const STARTED = new Date().toISOString();

/** Alertmanager's GettableAlert. */
export interface GettableAlert {
  annotations: Record<string, string>;
  endsAt: string;
  fingerprint: string;
  receivers: Array<{ name: string }>;
  startsAt: string;
  status: { inhibitedBy: string[]; silencedBy: string[]; state: 'active' | 'suppressed' | 'unprocessed' };
  updatedAt: string;
  generatorURL: string;
  labels: Labels;
}

/** Alertmanager's `filter` matchers: `{a="b", c=~"d"}` or `a="b"` (repeatable). */
function filterOf(req: FastifyRequest): Array<(l: Labels) => boolean> {
  const q = req.query as Record<string, string | string[] | undefined>;
  const raw = q.filter === undefined ? [] : Array.isArray(q.filter) ? q.filter : [q.filter];
  const out: Array<(l: Labels) => boolean> = [];
  for (const f of raw) {
    for (const part of f.replace(/^\{|\}$/g, '').split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
      const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(part);
      if (!m) continue;
      const [, name, op, value] = m;
      const re = op.includes('~') ? new RegExp(`^(?:${value})$`) : undefined;
      out.push((l) => {
        const v = l[name] ?? '';
        return op === '='
          ? v === value
          : op === '!='
            ? v !== value
            : op === '=~'
              ? re!.test(v)
              : !re!.test(v);
      });
    }
  }
  return out;
}

export function alertingRoutes(engine: AlertingEngine): (app: FastifyInstance) => void {
  const gettable = (a: Alert, interval: number): GettableAlert => ({
    annotations: a.annotations,
    // Prometheus tells Alertmanager an alert ends 4 evaluation intervals after it was last seen.
    endsAt: new Date(a.lastSeenAt + 4 * interval).toISOString(),
    fingerprint: a.fingerprint,
    receivers: engine.dispatcher.receiversFor(a.labels).map((name) => ({ name })),
    startsAt: new Date(a.firedAt ?? a.activeAt).toISOString(),
    status: { inhibitedBy: [], silencedBy: [], state: 'active' },
    updatedAt: new Date(a.lastSeenAt).toISOString(),
    generatorURL: `/apis/monitoring.coreos.com/v1/namespaces/${a.origin.namespace}/prometheusrules/${a.origin.name}`,
    labels: a.labels,
  });
  const firing = (req: FastifyRequest): GettableAlert[] => {
    const filters = filterOf(req);
    const q = req.query as Record<string, string | undefined>;
    const receiver = q.receiver ? new RegExp(`^(?:${q.receiver})$`) : undefined;
    const out: GettableAlert[] = [];
    if (q.active === 'false') return out;
    for (const s of engine.rules()) {
      for (const a of s.state?.alerts.values() ?? []) {
        if (a.state !== 'firing' || !filters.every((f) => f(a.labels))) continue;
        const g = gettable(a, s.group.intervalMs);
        if (receiver && !g.receivers.some((r) => receiver.test(r.name))) continue;
        out.push(g);
      }
    }
    return out.sort(
      (x, y) => x.startsAt.localeCompare(y.startsAt) || x.fingerprint.localeCompare(y.fingerprint),
    );
  };

  return (app) => {
    app.get('/api/v2/alerts', async (req) => firing(req));
    app.get('/api/v2/alerts/groups', async (req) => {
      const groups = new Map<
        string,
        { labels: Labels; receiver: { name: string }; alerts: GettableAlert[] }
      >();
      for (const a of firing(req)) {
        for (const g of engine.dispatcher.groupsFor(a.labels)) {
          const key = `${g.receiver}\xff${JSON.stringify(g.labels)}`;
          let e = groups.get(key);
          if (!e) groups.set(key, (e = { labels: g.labels, receiver: { name: g.receiver }, alerts: [] }));
          e.alerts.push(a);
        }
      }
      return [...groups.values()];
    });
    app.get('/api/v2/receivers', async () => engine.dispatcher.receivers.map((name) => ({ name })));
    app.get('/api/v2/status', async () => ({
      cluster: { name: 'strata', status: engine.isLeading ? 'ready' : 'settling', peers: [] },
      // The configuration holds webhook URLs (often with tokens): it stays in its Secret.
      config: { original: '# kept in the Secret kube-system/alertmanager-main (key alertmanager.yaml)\n' },
      uptime: STARTED,
      versionInfo: {
        version: 'strata',
        branch: '',
        revision: '',
        buildUser: '',
        buildDate: '',
        goVersion: '',
      },
    }));
    app.get('/prometheus/api/v1/alerts', async () => ({
      status: 'success',
      data: {
        alerts: engine
          .alerts()
          .filter((a) => a.state !== 'inactive')
          .map((a) => ({
            labels: a.labels,
            annotations: a.annotations,
            state: a.state,
            activeAt: new Date(a.activeAt).toISOString(),
            value: String(a.value),
          })),
      },
    }));
    app.get('/prometheus/api/v1/rules', async () => {
      const groups = new Map<string, { name: string; file: string; interval: number; rules: unknown[] }>();
      for (const s of engine.rules()) {
        const g = s.group;
        let e = groups.get(g.key);
        if (!e)
          groups.set(
            g.key,
            (e = {
              name: g.group,
              file: `${g.namespace}/${g.name}`,
              interval: g.intervalMs / 1000,
              rules: [],
            }),
          );
        const alerts = [...(s.state?.alerts.values() ?? [])].filter((a) => a.state !== 'inactive');
        e.rules.push({
          type: s.rule.alert ? 'alerting' : 'recording',
          name: s.rule.alert ?? s.rule.record,
          query: s.rule.exprText,
          duration: s.rule.forMs / 1000,
          keepFiringFor: s.rule.keepFiringForMs / 1000,
          labels: s.rule.labels,
          annotations: s.rule.annotations,
          health: s.lastError ? 'err' : s.lastEvaluation ? 'ok' : 'unknown',
          lastError: s.lastError ?? '',
          lastEvaluation: s.lastEvaluation
            ? new Date(s.lastEvaluation).toISOString()
            : '0001-01-01T00:00:00Z',
          ...(s.rule.alert
            ? {
                state: alerts.some((a) => a.state === 'firing')
                  ? 'firing'
                  : alerts.length
                    ? 'pending'
                    : 'inactive',
                alerts: alerts.map((a) => ({
                  labels: a.labels,
                  annotations: a.annotations,
                  state: a.state,
                  activeAt: new Date(a.activeAt).toISOString(),
                  value: String(a.value),
                })),
              }
            : {}),
        });
      }
      return { status: 'success', data: { groups: [...groups.values()] } };
    });
  };
}
