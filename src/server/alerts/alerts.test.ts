// The alerting subsystem over a real store and a real HTTP server: PrometheusRule admission, the rule
// evaluator's pending → firing → resolved, Events, the webhook receiver (a local HTTP server) with
// retries, and the Alertmanager API.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { ObjectStore } from '../../store/objects.ts';
import { openSqliteStore } from '../../store/sqlite.ts';
import { buildServer } from '../app.ts';
import { Authenticator } from '../auth.ts';
import { ADMIN_GROUP } from '../../auth/identities.ts';
import { setUpAlerting, type Alerting } from './index.ts';
import type { WebhookPayload } from './notify.ts';
import { DEFAULT_RULES_REF } from './defaults.ts';

const TOKEN = 'alerts-test-token';
let dir: string;
let objects: ObjectStore;
let alerting: Alerting;
let app: ReturnType<typeof buildServer>;
const received: WebhookPayload[] = [];
let failuresLeft = 2;
let hook: ReturnType<typeof createServer>;
let hookUrl: string;

const ruleKind = () => kindFor('monitoring.coreos.com/v1', 'PrometheusRule')!;
const req = (method: string, url: string, body?: unknown) =>
  app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    payload: body ? JSON.stringify(body) : undefined,
  });

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-alerts-'));
  objects = new ObjectStore(openSqliteStore(join(dir, 'state.db')));
  for (const name of ['default', 'kube-system'])
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const auth = new Authenticator();
  auth.add(TOKEN, 'admin', [ADMIN_GROUP]);
  // A webhook receiver that fails its first two requests with 503 (the dispatcher must retry).
  hook = createServer((r: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    r.on('data', (c: Buffer) => parts.push(c));
    r.on('end', () => {
      if (failuresLeft-- > 0) {
        res.writeHead(503).end();
        return;
      }
      received.push(JSON.parse(Buffer.concat(parts).toString('utf8')) as WebhookPayload);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  alerting = setUpAlerting(objects, { externalURL: 'https://strata.test:6443', tickMs: 200 });
  app = buildServer({ objects, auth, extensions: [alerting.extension] });
  await app.ready();
});

afterAll(async () => {
  await alerting?.stopLeading();
  await app?.close();
  hook?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('alerting', () => {
  it('refuses a PrometheusRule whose expr does not parse, naming the field and position, and stores nothing', async () => {
    const res = await req('POST', '/apis/monitoring.coreos.com/v1/namespaces/default/prometheusrules', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'bad' },
      spec: {
        groups: [
          {
            name: 'g',
            rules: [
              { alert: 'A', expr: 'up{' },
              { alert: 'B', expr: 'topk(1, up)' },
            ],
          },
        ],
      },
    });
    expect(res.statusCode).toBe(422);
    const status = res.json();
    expect(status.details.causes.map((c: { field: string }) => c.field)).toEqual([
      'spec.groups[0].rules[0].expr',
      'spec.groups[0].rules[1].expr',
    ]);
    expect(status.message).toMatch(/parse error.*position 4/);
    expect(status.message).toMatch(/aggregation topk/);
    expect(await objects.get(ruleKind(), 'default', 'bad')).toBeUndefined();
  });

  it('installs the default rules, fires, notifies the webhook with retries, serves /api/v2/alerts, and resolves', async () => {
    await objects.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'alertmanager-main', namespace: 'kube-system' },
      stringData: {
        'alertmanager.yaml': [
          'route:',
          '  receiver: hook',
          '  group_by: [alertname]',
          '  group_wait: 0s',
          '  group_interval: 1s',
          'receivers:',
          '  - name: hook',
          '    webhook_configs:',
          `      - url: ${hookUrl}`,
        ].join('\n'),
      },
    });
    // A receivers' configuration the dispatcher could not load is refused, naming the field.
    const badSecret = await req('PUT', '/api/v1/namespaces/kube-system/secrets/alertmanager-main', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'alertmanager-main', namespace: 'kube-system' },
      stringData: { 'alertmanager.yaml': 'route: {receiver: nobody}\nreceivers: []\n' },
    });
    expect(badSecret.statusCode).toBe(422);
    // stringData is merged into data before admission (as in kube-apiserver): the field is data's.
    expect(badSecret.json().details.causes[0].field).toBe('data[alertmanager.yaml]');
    expect(badSecret.json().message).toMatch(/route.receiver: no receiver named "nobody"/);
    // A pod in CrashLoopBackOff (as the agent reports it) and a rule on it with a short `for`.
    const pod = await objects.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'crasher', namespace: 'default' },
      spec: { containers: [{ name: 'main', image: 'x.wasm' }], runtimeClassName: 'wasm' },
    });
    pod.status = {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'main',
          image: 'x.wasm',
          imageID: '',
          ready: false,
          restartCount: 4,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } },
        },
      ],
    };
    await objects.updateStatus(kindFor('v1', 'Pod')!, 'default', 'crasher', pod);
    const rule = await req('POST', '/apis/monitoring.coreos.com/v1/namespaces/default/prometheusrules', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'fast' },
      spec: {
        groups: [
          {
            name: 'fast',
            interval: '1s',
            rules: [
              {
                alert: 'CrashLoopFast',
                expr: 'kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"} == 1',
                for: '2s',
                labels: { severity: 'warning', priority: 'P1' },
                annotations: { summary: '{{ $labels.namespace }}/{{ $labels.pod }} is crash looping' },
              },
            ],
          },
        ],
      },
    });
    expect(rule.statusCode).toBe(201);
    await alerting.startLeading();
    expect(await objects.get(ruleKind(), DEFAULT_RULES_REF.namespace, DEFAULT_RULES_REF.name)).toBeDefined();

    // Pending first (for: 2s), then firing.
    await until('pending', () =>
      alerting.engine.alerts().find((a) => a.labels.alertname === 'CrashLoopFast' && a.state === 'pending'),
    );
    const firing = await until('firing', () =>
      alerting.engine.alerts().find((a) => a.labels.alertname === 'CrashLoopFast' && a.state === 'firing'),
    );
    expect(firing.firedAt! - firing.activeAt).toBeGreaterThanOrEqual(2000);
    expect(firing.labels).toMatchObject({
      namespace: 'default',
      pod: 'crasher',
      container: 'main',
      priority: 'P1',
      severity: 'warning',
    });
    expect(firing.annotations.summary).toBe('default/crasher is crash looping');

    const payload = await until('the webhook', () => received.find((p) => p.status === 'firing'));
    expect(failuresLeft).toBeLessThan(0); // two 503s, then accepted
    expect(payload).toMatchObject({
      version: '4',
      groupKey: '{}:{alertname="CrashLoopFast"}',
      status: 'firing',
      receiver: 'hook',
      groupLabels: { alertname: 'CrashLoopFast' },
      commonLabels: { alertname: 'CrashLoopFast', pod: 'crasher', priority: 'P1' },
      commonAnnotations: { summary: 'default/crasher is crash looping' },
      externalURL: 'https://strata.test:6443',
    });
    expect(payload.alerts[0]).toMatchObject({ status: 'firing', endsAt: '0001-01-01T00:00:00Z' });

    const api = (await req('GET', '/api/v2/alerts?filter=alertname%3D%22CrashLoopFast%22')).json();
    expect(api).toHaveLength(1);
    expect(api[0]).toMatchObject({
      labels: { alertname: 'CrashLoopFast', pod: 'crasher' },
      status: { state: 'active', silencedBy: [], inhibitedBy: [] },
      receivers: [{ name: 'hook' }],
      fingerprint: firing.fingerprint,
    });
    const groups = (await req('GET', '/api/v2/alerts/groups')).json();
    expect(groups.find((g: any) => g.labels.alertname === 'CrashLoopFast').receiver).toEqual({
      name: 'hook',
    });
    // The ALERTS series, as Prometheus writes it, for rules about alerts.
    const { evaluate } = await import('./promql/eval.ts');
    const { parsePromQL } = await import('./promql/parse.ts');
    const meta = evaluate(
      parsePromQL('ALERTS{alertname="CrashLoopFast", alertstate="firing"}').expr,
      Date.now(),
      alerting.engine.samples,
    );
    expect(meta.type === 'vector' && meta.samples.map((x) => x.labels.pod)).toEqual(['crasher']);
    const prom = (await req('GET', '/prometheus/api/v1/rules')).json();
    expect(prom.data.groups.map((g: any) => g.name)).toContain('strata.nodes');
    const events = await until('the AlertFiring event', async () =>
      (await objects.list(kindFor('v1', 'Event')!, 'default')).items.find((e) => e.reason === 'AlertFiring'),
    );
    expect(events.involvedObject).toMatchObject({ kind: 'Pod', name: 'crasher' });
    expect(events.message).toMatch(/Firing: CrashLoopFast P1 \(warning\)/);

    // The pod goes: the series is marked stale at the next scrape and the alert resolves.
    await objects.delete(kindFor('v1', 'Pod')!, 'default', 'crasher');
    const resolved = await until('the resolved notification', () =>
      received.find((p) => p.status === 'resolved'),
    );
    expect(resolved.alerts[0].endsAt).not.toBe('0001-01-01T00:00:00Z');
    expect((await req('GET', '/api/v2/alerts?filter=alertname%3D%22CrashLoopFast%22')).json()).toEqual([]);
  }, 60_000);
});
