// The rule evaluator: a leader-only loop (like the controllers) that reads the PrometheusRules, scrapes
// its sources into a sample store when a group is due, evaluates each group at its interval, records
// a `v1` Event when an alert fires or resolves (on the pod, node or Deployment its labels name, else
// on the PrometheusRule), and hands firing/resolved alerts to the notification dispatcher.
import { kindFor } from '../../api/index.ts';
import type { PrometheusRule } from '../../api/kinds/prometheusrule.ts';
import { EventRecorder, type InvolvedObject } from '../../lib/events.ts';
import type { ObjectStore } from '../../store/objects.ts';
import { parseExposition } from './exposition-parse.ts';
import { CONFIG_SECRET, Dispatcher, parseNotifyConfig } from './notify.ts';
import { SampleStore, unionSource } from './promql/sample-store.ts';
import { selectedNames } from './promql/parse.ts';
import type { SeriesSource } from './promql/eval.ts';
import {
  type Alert,
  AlertingRuleState,
  type CompiledGroup,
  type CompiledRule,
  type Transition,
  compileRules,
  evaluateRule,
} from './rules.ts';
import { type FigureHistory, certificateSamples, historySource, kubeStateSamples } from './sources.ts';

export interface AlertingOptions {
  objects: ObjectStore;
  /** The server's own /metrics exposition (its Prometheus registry). */
  scrape?: () => Promise<string>;
  /** The per-pod and per-node figures (src/server/metrics-history.ts). */
  history?: FigureHistory;
  /** The cluster's certificates, for the expiry rules. */
  certificates?: () => Array<{ name: string; pem: string }>;
  /** Where clients reach this server (Alertmanager's externalURL); settable once the server listens. */
  externalURL?: string;
  /** A group's interval when it names none. Default 30 s (the Prometheus Operator's). */
  defaultIntervalMs?: number;
  /** How often the loop looks for due groups and notifications. Default 1 s. */
  tickMs?: number;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

export interface RuleStatus {
  group: CompiledGroup;
  rule: CompiledRule;
  lastEvaluation?: number;
  lastError?: string;
  state?: AlertingRuleState;
}

const ruleKind = () => kindFor('monitoring.coreos.com/v1', 'PrometheusRule')!;
const secretKind = () => kindFor('v1', 'Secret')!;

export class AlertingEngine {
  readonly samples = new SampleStore(3 * 3600_000);
  readonly dispatcher: Dispatcher;
  private readonly opts: AlertingOptions;
  private readonly source: SeriesSource;
  private readonly recorder: EventRecorder;
  private groups: CompiledGroup[] = [];
  private readonly compiled = new Map<string, { rv: string; groups: CompiledGroup[] }>();
  private readonly nextEval = new Map<string, number>();
  private readonly ruleStatus = new Map<string, RuleStatus>();
  private lastScrape = 0;
  private configRv?: string;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private leading = false;
  /** Alertmanager's externalURL in notifications: where clients reach this server. */
  externalURL: string;

  constructor(opts: AlertingOptions) {
    this.opts = opts;
    this.source = opts.history ? unionSource(this.samples, historySource(opts.history)) : this.samples;
    const objects = opts.objects;
    const eventKind = kindFor('v1', 'Event')!;
    this.recorder = new EventRecorder({
      component: 'strata-alerting',
      sink: {
        create: (event) => objects.create(event, event.metadata.namespace),
        patch: (namespace, name, patch) => objects.patch(eventKind, namespace, name, patch),
      },
    });
    this.externalURL = opts.externalURL ?? '';
    this.dispatcher = new Dispatcher({
      externalURL: () => this.externalURL,
      generatorURL: (a) =>
        `${this.externalURL}/apis/monitoring.coreos.com/v1/namespaces/${a.origin.namespace}/prometheusrules/${a.origin.name}`,
      log: opts.log,
    });
  }

  /** Begins evaluating (this server leads). */
  start(): void {
    if (this.leading) return;
    this.leading = true;
    const tick = () => {
      if (this.running) return;
      this.running = this.tick(Date.now())
        .catch((err) => this.opts.log?.warn({ err: (err as Error).message }, 'alerting: evaluation failed'))
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, this.opts.tickMs ?? 1000);
    this.timer.unref();
    tick();
  }

  /** Stops (leadership lost, or shutdown); alerts are forgotten — the next leader starts afresh. */
  async stop(): Promise<void> {
    this.leading = false;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.ruleStatus.clear();
    this.nextEval.clear();
    await this.recorder.flush().catch(() => undefined);
  }

  /** Every alert known (pending, firing, and resolved in the last 15 minutes). */
  alerts(): Alert[] {
    const out: Alert[] = [];
    for (const s of this.ruleStatus.values()) if (s.state) out.push(...s.state.alerts.values());
    return out;
  }

  rules(): RuleStatus[] {
    return [...this.ruleStatus.values()];
  }

  get isLeading(): boolean {
    return this.leading;
  }

  /** One pass: reload rules and receivers, scrape if a group is due, evaluate due groups, notify. */
  async tick(now: number): Promise<void> {
    await this.loadRules(now);
    await this.loadConfig();
    const due = this.groups.filter((g) => (this.nextEval.get(g.key) ?? 0) <= now);
    if (due.length) {
      if (now - this.lastScrape >= 1000) await this.scrape(now);
      for (const g of due) {
        this.nextEval.set(g.key, now + g.intervalMs);
        this.evaluateGroup(g, now);
      }
    }
    const firing = this.alerts().filter((a) => a.state === 'firing');
    this.dispatcher.update(firing, [], now);
    void Promise.all(this.dispatcher.tick(now));
  }

  private async scrape(now: number): Promise<void> {
    this.lastScrape = now;
    const sources: Array<[string, () => Promise<Array<{ labels: Record<string, string>; v: number }>>]> = [
      ['kube-state', () => kubeStateSamples(this.opts.objects)],
    ];
    if (this.opts.scrape) sources.push(['server', async () => parseExposition(await this.opts.scrape!())]);
    if (this.opts.certificates)
      sources.push(['certificates', async () => certificateSamples(this.opts.certificates!())]);
    // Only the series some rule reads are kept (a histogram's buckets alone can be thousands of series).
    const wanted = this.wantedNames();
    await Promise.all(
      sources.map(async ([name, read]) => {
        try {
          const got = await read();
          this.samples.append(name, now, wanted ? got.filter((x) => wanted.has(x.labels.__name__)) : got);
        } catch (err) {
          this.opts.log?.warn({ source: name, err: (err as Error).message }, 'alerting: scrape failed');
        }
      }),
    );
  }

  /** The metric names the rules select, or undefined when one selects by labels alone. */
  private wantedNames(): Set<string> | undefined {
    const names = new Set<string>();
    for (const g of this.groups) for (const r of g.rules) if (!selectedNames(r.expr, names)) return undefined;
    return names;
  }

  private async loadRules(now: number): Promise<void> {
    const { items } = await this.opts.objects.list(ruleKind());
    const live = new Set<string>();
    for (const obj of items as PrometheusRule[]) {
      const id = `${obj.metadata.namespace}/${obj.metadata.name}`;
      live.add(id);
      const rv = obj.metadata.resourceVersion ?? '';
      if (this.compiled.get(id)?.rv === rv) continue;
      // Admission compiled these already; a rule stored before an upgrade that no longer compiles is skipped.
      const { groups, errors } = compileRules(obj, this.opts.defaultIntervalMs ?? 30_000);
      for (const e of errors)
        this.opts.log?.warn({ rule: id, field: e.field, err: e.message }, 'alerting: rule skipped');
      this.compiled.set(id, { rv, groups });
    }
    for (const id of this.compiled.keys()) if (!live.has(id)) this.compiled.delete(id);
    this.groups = [...this.compiled.values()].flatMap((c) => c.groups);
    // Rule states follow the rules: a changed or deleted rule's alerts resolve.
    const keys = new Set<string>();
    for (const g of this.groups)
      g.rules.forEach((r, i) => {
        const key = ruleKey(g, r, i);
        keys.add(key);
        const s = this.ruleStatus.get(key);
        if (s) {
          s.group = g;
          s.rule = r;
        } else
          this.ruleStatus.set(key, {
            group: g,
            rule: r,
            state: r.alert ? new AlertingRuleState() : undefined,
          });
      });
    for (const [key, s] of this.ruleStatus) {
      if (keys.has(key)) continue;
      this.ruleStatus.delete(key);
      const resolved = s.state?.resolveAll(now) ?? [];
      this.announce(resolved);
    }
    for (const k of this.nextEval.keys()) if (!this.groups.some((g) => g.key === k)) this.nextEval.delete(k);
  }

  private async loadConfig(): Promise<void> {
    const secret = await this.opts.objects.get(secretKind(), CONFIG_SECRET.namespace, CONFIG_SECRET.name);
    const rv = secret?.metadata?.resourceVersion;
    if (rv === this.configRv) return;
    this.configRv = rv;
    const data = secret?.data?.[CONFIG_SECRET.key] ?? secret?.stringData?.[CONFIG_SECRET.key];
    if (!data) {
      this.dispatcher.setConfig(undefined);
      return;
    }
    try {
      const text = secret.data?.[CONFIG_SECRET.key] ? Buffer.from(data, 'base64').toString('utf8') : data;
      this.dispatcher.setConfig(parseNotifyConfig(text));
      this.opts.log?.info(
        { secret: `${CONFIG_SECRET.namespace}/${CONFIG_SECRET.name}` },
        'alerting: receivers loaded',
      );
    } catch (err) {
      // A bad edit keeps the previous receivers working.
      this.opts.log?.warn(
        { err: (err as Error).message },
        `alerting: ${CONFIG_SECRET.namespace}/${CONFIG_SECRET.name} ignored`,
      );
    }
  }

  private evaluateGroup(g: CompiledGroup, now: number): void {
    g.rules.forEach((r, i) => {
      const status = this.ruleStatus.get(ruleKey(g, r, i));
      if (!status) return;
      status.lastEvaluation = now;
      try {
        const samples = evaluateRule(r, now, this.source);
        status.lastError = undefined;
        if (r.record) {
          // A recording rule's result is a series like any other, for the rules after it.
          this.samples.append(
            `record:${ruleKey(g, r, i)}`,
            now,
            samples.map((s) => ({
              labels: { ...withoutName(s.labels), ...r.labels, __name__: r.record! },
              v: s.v,
            })),
          );
          return;
        }
        this.announce(status.state!.update(g, r, samples, now));
        // Prometheus' ALERTS series, for rules about alerts (e.g. a P0 firing for an hour).
        const active = [...status.state!.alerts.values()].filter((a) => a.state !== 'inactive');
        this.samples.append(
          `alerts:${ruleKey(g, r, i)}`,
          now,
          active.map((a) => ({ labels: { ...a.labels, __name__: 'ALERTS', alertstate: a.state }, v: 1 })),
        );
      } catch (err) {
        status.lastError = (err as Error).message;
      }
    });
  }

  private announce(transitions: Transition[]): void {
    const resolved: Alert[] = [];
    for (const { alert, to } of transitions) {
      const l = alert.labels;
      const what = `${l.alertname}${l.priority ? ` ${l.priority}` : ''}${l.severity ? ` (${l.severity})` : ''}`;
      const summary =
        alert.annotations.summary ?? alert.annotations.description ?? alert.annotations.message ?? '';
      const message = `${to === 'firing' ? 'Firing' : 'Resolved'}: ${what}${summary ? `: ${summary}` : ''}`;
      const subject = involvedObject(alert);
      if (to === 'firing') this.recorder.warning(subject, 'AlertFiring', message);
      else {
        this.recorder.normal(subject, 'AlertResolved', message);
        resolved.push(alert);
      }
      this.opts.log?.info({ alert: l.alertname, labels: l, state: to }, `alert ${to}`);
    }
    if (resolved.length) this.dispatcher.update([], resolved, Date.now());
  }
}

function ruleKey(g: CompiledGroup, r: CompiledRule, i: number): string {
  return `${g.key}/${i}/${r.alert ?? r.record}/${r.exprText}/${r.forMs}/${JSON.stringify(r.labels)}`;
}

function withoutName(l: Record<string, string>): Record<string, string> {
  const { __name__: _, ...rest } = l;
  return rest;
}

/** The object an alert is about, by its labels: a pod, a node, a Deployment, else its PrometheusRule. */
function involvedObject(a: Alert): InvolvedObject {
  const l = a.labels;
  if (l.namespace && l.pod)
    return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: l.namespace, name: l.pod } };
  if (l.node) return { apiVersion: 'v1', kind: 'Node', metadata: { name: l.node } };
  if (l.namespace && l.deployment)
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: l.namespace, name: l.deployment },
    };
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { namespace: a.origin.namespace, name: a.origin.name },
  };
}
