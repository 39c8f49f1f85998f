// Notifications as Alertmanager sends them: firing alerts are routed (a root route, optional child routes
// with matchers), grouped by the route's group_by labels, held for group_wait before a new group's first
// notification, re-sent when the group changes (at most every group_interval) or unchanged every
// repeat_interval, and POSTed to the receiver's webhook_configs in Alertmanager's webhook payload
// (version "4") with retries and exponential backoff. Resolved alerts go out once (send_resolved).
//
// The configuration is Alertmanager's own YAML (a subset), kept in the Secret kube-system/alertmanager-main
// under the key alertmanager.yaml (as the Prometheus Operator keeps it): webhook URLs often carry tokens.
import { parse as parseYaml } from 'yaml';
import { parseDuration } from './promql/parse.ts';
import type { Labels } from './promql/eval.ts';
import type { Alert } from './rules.ts';

export const CONFIG_SECRET = {
  namespace: 'kube-system',
  name: 'alertmanager-main',
  key: 'alertmanager.yaml',
};

export interface WebhookConfig {
  url: string;
  sendResolved: boolean;
  maxAlerts: number;
}
export interface Receiver {
  name: string;
  webhooks: WebhookConfig[];
}
export interface Route {
  receiver: string;
  groupBy: string[] | '...';
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  matchers: Array<(labels: Labels) => boolean>;
  continue: boolean;
  routes: Route[];
}
export interface NotifyConfig {
  route: Route;
  receivers: Map<string, Receiver>;
}

const duration = (v: unknown, field: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const ms = parseDuration(String(v));
  if (ms === undefined) throw new Error(`${field}: ${JSON.stringify(v)} is not a duration`);
  return ms;
};

/** Alertmanager's matcher strings: `name="value"`, `name!="v"`, `name=~"re"`, `name!~"re"`. */
function matcher(text: string, field: string): (labels: Labels) => boolean {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(text);
  if (!m) throw new Error(`${field}: bad matcher ${JSON.stringify(text)}`);
  const [, name, op, value] = m;
  const re = op.includes('~') ? new RegExp(`^(?:${value})$`) : undefined;
  return (l) => {
    const v = l[name] ?? '';
    if (op === '=') return v === value;
    if (op === '!=') return v !== value;
    if (op === '=~') return re!.test(v);
    return !re!.test(v);
  };
}

function route(raw: any, parent: Route | undefined, field: string): Route {
  if (raw === null || typeof raw !== 'object') throw new Error(`${field}: must be a mapping`);
  const matchers: Route['matchers'] = [];
  for (const [i, s] of ((raw.matchers ?? []) as string[]).entries())
    matchers.push(matcher(s, `${field}.matchers[${i}]`));
  for (const [k, v] of Object.entries(raw.match ?? {})) matchers.push((l) => (l[k] ?? '') === String(v));
  for (const [k, v] of Object.entries(raw.match_re ?? {})) {
    const re = new RegExp(`^(?:${String(v)})$`);
    matchers.push((l) => re.test(l[k] ?? ''));
  }
  const groupBy =
    raw.group_by === undefined
      ? (parent?.groupBy ?? [])
      : raw.group_by.includes('...')
        ? '...'
        : raw.group_by.map(String);
  const r: Route = {
    receiver: raw.receiver ?? parent?.receiver,
    groupBy,
    groupWaitMs: duration(raw.group_wait, `${field}.group_wait`, parent?.groupWaitMs ?? 30_000),
    groupIntervalMs: duration(
      raw.group_interval,
      `${field}.group_interval`,
      parent?.groupIntervalMs ?? 300_000,
    ),
    repeatIntervalMs: duration(
      raw.repeat_interval,
      `${field}.repeat_interval`,
      parent?.repeatIntervalMs ?? 4 * 3600_000,
    ),
    matchers,
    continue: raw.continue === true,
    routes: [],
  };
  if (!r.receiver) throw new Error(`${field}.receiver: required`);
  r.routes = ((raw.routes ?? []) as any[]).map((c, i) => route(c, r, `${field}.routes[${i}]`));
  return r;
}

/** Parses alertmanager.yaml; throws naming the field. */
export function parseNotifyConfig(text: string): NotifyConfig {
  const raw = parseYaml(text) as any;
  if (!raw || typeof raw !== 'object') throw new Error('alertmanager.yaml: must be a mapping');
  const receivers = new Map<string, Receiver>();
  for (const [i, r] of ((raw.receivers ?? []) as any[]).entries()) {
    if (!r?.name) throw new Error(`receivers[${i}].name: required`);
    const webhooks = ((r.webhook_configs ?? []) as any[]).map((w, j) => {
      const url = w?.url;
      if (typeof url !== 'string' || !/^https?:\/\//.test(url))
        throw new Error(`receivers[${i}].webhook_configs[${j}].url: an http(s) URL is required`);
      return { url, sendResolved: w.send_resolved !== false, maxAlerts: Number(w.max_alerts ?? 0) };
    });
    receivers.set(r.name, { name: r.name, webhooks });
  }
  const root = route(raw.route ?? {}, undefined, 'route');
  const check = (r: Route, field: string) => {
    if (!receivers.has(r.receiver))
      throw new Error(`${field}.receiver: no receiver named ${JSON.stringify(r.receiver)}`);
    r.routes.forEach((c, i) => check(c, `${field}.routes[${i}]`));
  };
  check(root, 'route');
  return { route: root, receivers };
}

/** The routes an alert goes to (Alertmanager's tree walk: first matching child unless `continue`). */
function routesFor(r: Route, labels: Labels): Route[] {
  if (!r.matchers.every((m) => m(labels))) return [];
  const out: Route[] = [];
  for (const c of r.routes) {
    const got = routesFor(c, labels);
    out.push(...got);
    if (got.length && !c.continue) break;
  }
  return out.length ? out : [r];
}

function groupLabelsOf(r: Route, labels: Labels): Labels {
  const names = r.groupBy === '...' ? Object.keys(labels).sort() : r.groupBy;
  const out: Labels = {};
  for (const n of names) if (labels[n] !== undefined) out[n] = labels[n];
  return out;
}

/** Alertmanager's webhook payload (version 4) and the alerts in it. */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Labels;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}
export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Labels;
  commonLabels: Labels;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

interface GroupState {
  route: Route;
  key: string;
  groupLabels: Labels;
  alerts: Map<string, { alert: Alert; status: 'firing' | 'resolved' }>;
  createdAt: number;
  lastFlushAt?: number;
  lastSentAt?: number;
  lastSentHash?: string;
  /** The notification under way (with its retries). */
  sending?: Promise<void>;
}

export interface DispatcherOptions {
  externalURL: () => string;
  generatorURL: (a: Alert) => string;
  log?: { warn(o: object, m: string): void; info?(o: object, m: string): void };
  /** Retries of one notification stop after this long. Default: the group_interval, at most 60 s. */
  retryBudgetMs?: number;
  fetch?: typeof fetch;
}

export class Dispatcher {
  private config?: NotifyConfig;
  private readonly groups = new Map<string, GroupState>();
  private readonly opts: DispatcherOptions;
  /** Notifications sent and failed (after all retries), by receiver: for /api/v2/status and tests. */
  readonly stats = { sent: 0, failed: 0, attempts: 0 };

  constructor(opts: DispatcherOptions) {
    this.opts = opts;
  }

  setConfig(config: NotifyConfig | undefined): void {
    this.config = config;
    if (!config) this.groups.clear();
  }

  get receivers(): string[] {
    return [...(this.config?.receivers.keys() ?? [])];
  }

  /** The receivers an alert's labels route to. */
  receiversFor(labels: Labels): string[] {
    return this.config ? [...new Set(routesFor(this.config.route, labels).map((r) => r.receiver))] : [];
  }

  /** The groups (receiver and group labels) an alert's labels fall in. */
  groupsFor(labels: Labels): Array<{ receiver: string; labels: Labels }> {
    if (!this.config) return [];
    return routesFor(this.config.route, labels).map((r) => ({
      receiver: r.receiver,
      labels: groupLabelsOf(r, labels),
    }));
  }

  /** Firing alerts now, and alerts resolved since the last call. */
  update(firing: Alert[], resolved: Alert[], now: number): void {
    const config = this.config;
    if (!config) return;
    const put = (a: Alert, status: 'firing' | 'resolved') => {
      for (const r of routesFor(config.route, a.labels)) {
        const groupLabels = groupLabelsOf(r, a.labels);
        const key = `{}:{${Object.entries(groupLabels)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',')}}/${r.receiver}`;
        let g = this.groups.get(key);
        if (!g) {
          if (status === 'resolved') continue; // never notified as firing: nothing to resolve
          g = { route: r, key, groupLabels, alerts: new Map(), createdAt: now };
          this.groups.set(key, g);
        }
        if (status === 'resolved' && !g.alerts.has(a.fingerprint)) continue;
        g.alerts.set(a.fingerprint, { alert: a, status });
      }
    };
    for (const a of firing) put(a, 'firing');
    for (const a of resolved) put(a, 'resolved');
  }

  /** Sends what is due (call every second or so). */
  tick(now: number): Promise<void>[] {
    const sends: Promise<void>[] = [];
    for (const [key, g] of this.groups) {
      if (!g.alerts.size && !g.sending) {
        this.groups.delete(key);
        continue;
      }
      // One notification of a group at a time: the next waits for the retries of this one.
      if (g.sending || !g.alerts.size) continue;
      const r = g.route;
      const due =
        g.lastFlushAt === undefined
          ? now - g.createdAt >= r.groupWaitMs
          : now - g.lastFlushAt >= r.groupIntervalMs;
      if (!due) continue;
      g.lastFlushAt = now;
      const hash = [...g.alerts.values()]
        .map((x) => `${x.alert.fingerprint}:${x.status}`)
        .sort()
        .join(',');
      if (hash === g.lastSentHash && now - (g.lastSentAt ?? 0) < r.repeatIntervalMs) continue;
      const entries = [...g.alerts.values()];
      // Resolved alerts are announced once; the group forgets them then (or takes them back on failure).
      for (const [fp, x] of g.alerts) if (x.status === 'resolved') g.alerts.delete(fp);
      g.sending = this.send(g, entries).then((ok) => {
        g.sending = undefined;
        if (ok) {
          g.lastSentHash = hash;
          g.lastSentAt = now;
          return;
        }
        // Not delivered: the next group_interval tries again, resolved alerts included.
        for (const e of entries)
          if (e.status === 'resolved' && !g.alerts.has(e.alert.fingerprint))
            g.alerts.set(e.alert.fingerprint, e);
      });
      sends.push(g.sending);
    }
    return sends;
  }

  payload(
    g: Pick<GroupState, 'key' | 'groupLabels'>,
    receiver: string,
    entries: Array<{ alert: Alert; status: 'firing' | 'resolved' }>,
  ): WebhookPayload {
    const alerts: WebhookAlert[] = entries.map(({ alert, status }) => ({
      status,
      labels: alert.labels,
      annotations: alert.annotations,
      startsAt: new Date(alert.firedAt ?? alert.activeAt).toISOString(),
      endsAt:
        status === 'resolved' && alert.resolvedAt ? new Date(alert.resolvedAt).toISOString() : ZERO_TIME,
      generatorURL: this.opts.generatorURL(alert),
      fingerprint: alert.fingerprint,
    }));
    const common = <T extends Record<string, string>>(pick: (a: WebhookAlert) => T): T => {
      const [first, ...rest] = alerts.map(pick);
      const out: Record<string, string> = { ...(first ?? {}) };
      for (const o of rest) for (const k of Object.keys(out)) if (o[k] !== out[k]) delete out[k];
      return out as T;
    };
    return {
      version: '4',
      groupKey: g.key.slice(0, g.key.lastIndexOf('/')),
      truncatedAlerts: 0,
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
      receiver,
      groupLabels: g.groupLabels,
      commonLabels: common((a) => a.labels),
      commonAnnotations: common((a) => a.annotations),
      externalURL: this.opts.externalURL(),
      alerts,
    };
  }

  /** True when every webhook of the receiver took the notification. */
  private async send(
    g: GroupState,
    entries: Array<{ alert: Alert; status: 'firing' | 'resolved' }>,
  ): Promise<boolean> {
    const receiver = this.config?.receivers.get(g.route.receiver);
    if (!receiver) return true;
    const results = await Promise.all(
      receiver.webhooks.map(async (w) => {
        let list = w.sendResolved ? entries : entries.filter((e) => e.status === 'firing');
        if (!list.length) return true;
        const body = this.payload(g, receiver.name, list);
        if (w.maxAlerts > 0 && list.length > w.maxAlerts) {
          body.truncatedAlerts = list.length - w.maxAlerts;
          list = list.slice(0, w.maxAlerts);
          body.alerts = body.alerts.slice(0, w.maxAlerts);
        }
        // Retries go on for a group_interval (at least 10 s, at most a minute), as Alertmanager's do.
        const budget = this.opts.retryBudgetMs ?? Math.min(Math.max(g.route.groupIntervalMs, 10_000), 60_000);
        return this.post(w.url, body, budget);
      }),
    );
    return results.every(Boolean);
  }

  /**
   * POST with retries: 0.5 s, 1 s, 2 s, … (at most 8 s apart) until success or the budget is spent.
   * True when delivered; a refusal (4xx but 429) counts as handled: sending it again would not help.
   */
  private async post(url: string, body: WebhookPayload, budgetMs: number): Promise<boolean> {
    const f = this.opts.fetch ?? fetch;
    const deadline = Date.now() + budgetMs;
    let delay = 500;
    for (;;) {
      this.stats.attempts++;
      let error: string;
      try {
        const res = await f(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'Strata-Alertmanager/1' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.stats.sent++;
          return true;
        }
        error = `HTTP ${res.status}`;
        // 4xx other than 429 will not get better by retrying (Alertmanager's rule too).
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          this.stats.failed++;
          this.opts.log?.warn({ url: redact(url), error }, 'alert webhook refused the notification');
          return true;
        }
      } catch (err) {
        error = (err as Error).message;
      }
      if (Date.now() + delay > deadline) {
        this.stats.failed++;
        this.opts.log?.warn({ url: redact(url), error }, 'alert webhook: giving up after retries');
        return false;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }
}

/** A URL for logs without its credentials or query (tokens). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<bad url>';
  }
}
