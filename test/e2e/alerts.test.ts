// End to end, alerts: a real single-node cluster (`strata up`) with a webhook receiver (a local HTTP
// server) configured in kube-system/alertmanager-main; a PrometheusRule applied with the real kubectl
// (a bad expression refused with its field and position); a crash-looping wasm pod fires the P1 alert,
// the webhook receives Alertmanager's payload, `strata alerts` and /api/v2/alerts show it, an Event is
// recorded on the pod, and deleting the pod resolves it (a resolved notification follows).
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, waitFor, wasm } from './harness.ts';

// The wasm tier needs no root; the test drives the real kubectl.
const why =
  spawnSync('sh', ['-c', 'command -v kubectl']).status === 0 ? undefined : 'kubectl is not installed';
if (why) console.warn(`skipping alerts e2e tests: ${why}`);

interface Payload {
  version: string;
  groupKey: string;
  status: string;
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: Array<{
    status: string;
    labels: Record<string, string>;
    startsAt: string;
    endsAt: string;
    fingerprint: string;
  }>;
}

let c: Cluster;
let hook: Server;
let hookUrl: string;
const received: Payload[] = [];

const RULE = (expr: string) => `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: crashloop-fast
  namespace: default
spec:
  groups:
    - name: fast
      interval: 1s
      rules:
        - alert: CrashLoopFast
          expr: '${expr}'
          for: 3s
          labels:
            severity: warning
            priority: P1
          annotations:
            summary: '{{ $labels.namespace }}/{{ $labels.pod }} is crash looping'
`;

beforeAll(async () => {
  if (why) return;
  wasm('hello');
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(JSON.parse(body) as Payload);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
  c = await new Cluster().up();
}, 180_000);

afterAll(async () => {
  await c?.stop();
  hook?.close();
});

describe.skipIf(!!why)('alerts end to end', () => {
  it('a crash-looping pod fires the P1 alert, notifies the webhook, shows in strata alerts and /api/v2/alerts, and resolves', async () => {
    // The receiver: Alertmanager's configuration in its Secret.
    const secret = await c.kubectl(['apply', '-f', '-'], {
      input: `
apiVersion: v1
kind: Secret
metadata: {name: alertmanager-main, namespace: kube-system}
stringData:
  alertmanager.yaml: |
    route:
      receiver: team
      group_by: [alertname, namespace]
      group_wait: 0s
      group_interval: 1s
    receivers:
      - name: team
        webhook_configs:
          - url: ${hookUrl}
`,
    });
    expect(secret.code, secret.stderr).toBe(0);

    // A bad expression is refused by the server with the field and the position; nothing is stored.
    const bad = await c.kubectl(['apply', '-f', '-'], {
      input: RULE('max_over_time(kube_pod_container_status_waiting_reason[20s] >= 1'),
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.groups\[0\]\.rules\[0\]\.expr/);
    expect(bad.stderr).toMatch(/position \d+/);
    // Over 20 s (not the default rule's 5 min) so that the deleted pod's alert resolves soon.
    const good = await c.kubectl(['apply', '-f', '-'], {
      input: RULE(
        'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[20s]) >= 1',
      ),
    });
    expect(good.code, good.stderr).toBe(0);
    const rules = await c.kubectl(['get', 'prometheusrules', '-A']);
    expect(rules.stdout).toContain('crashloop-fast');
    expect(rules.stdout).toContain('strata-default-alerts');

    // A wasm pod that exits 3 every time, restarted forever: CrashLoopBackOff.
    const pod = await c.kubectl(['apply', '-f', '-'], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec:
  runtimeClassName: wasm
  restartPolicy: Always
  containers:
    - name: main
      image: ${wasm('hello')}
      env: [{name: EXIT_CODE, value: "3"}]
`,
    });
    expect(pod.code, pod.stderr).toBe(0);

    const firing = await waitFor(
      'the firing notification',
      () => received.find((p) => p.status === 'firing' && p.commonLabels.alertname === 'CrashLoopFast'),
      120_000,
    );
    expect(firing).toMatchObject({
      version: '4',
      groupKey: '{}:{alertname="CrashLoopFast",namespace="default"}',
      receiver: 'team',
      groupLabels: { alertname: 'CrashLoopFast', namespace: 'default' },
      commonLabels: {
        alertname: 'CrashLoopFast',
        namespace: 'default',
        pod: 'crasher',
        priority: 'P1',
        severity: 'warning',
      },
      commonAnnotations: { summary: 'default/crasher is crash looping' },
    });
    expect(firing.externalURL).toBe(c.server);
    expect(firing.alerts[0]).toMatchObject({ status: 'firing', endsAt: '0001-01-01T00:00:00Z' });

    const cli = await c.cli(['alerts']);
    expect(cli.code, cli.stderr).toBe(0);
    const line = cli.stdout.split('\n').find((l) => l.includes('CrashLoopFast'));
    expect(line).toMatch(
      /^P1\s+warning\s+firing\s+CrashLoopFast\s+pod\/default\/crasher \(main\)\s+\d+s\s+default\/crasher is crash looping/,
    );

    const api = (await (await c.client.request('GET', '/api/v2/alerts')).json()) as any[];
    const mine = api.find((a: any) => a.labels.alertname === 'CrashLoopFast');
    expect(mine).toMatchObject({
      labels: { pod: 'crasher', priority: 'P1' },
      status: { state: 'active' },
      receivers: [{ name: 'team' }],
      fingerprint: firing.alerts[0].fingerprint,
    });
    // kubectl reaches it too (RBAC: system:masters here; the view role names it).
    const raw = await c.kubectl(['get', '--raw', '/api/v2/alerts']);
    expect(raw.stdout).toContain('CrashLoopFast');

    const events = await waitFor('the AlertFiring event on the pod', async () => {
      const { items } = await c.client.list(kindFor('v1', 'Event')!, 'default');
      return items.find((e: any) => e.reason === 'AlertFiring' && e.involvedObject.name === 'crasher');
    });
    expect(events.message).toMatch(/Firing: CrashLoopFast P1 \(warning\)/);

    // The pod goes; its series goes stale, the 20 s window empties, the alert resolves.
    const del = await c.kubectl(['delete', 'pod', 'crasher', '--wait=true']);
    expect(del.code, del.stderr).toBe(0);
    const resolved = await waitFor(
      'the resolved notification',
      () => received.find((p) => p.status === 'resolved' && p.commonLabels.alertname === 'CrashLoopFast'),
      120_000,
    );
    expect(resolved.alerts[0].endsAt).not.toBe('0001-01-01T00:00:00Z');
    const after = (await (await c.client.request('GET', '/api/v2/alerts')).json()) as any[];
    expect(after.find((a: any) => a.labels.alertname === 'CrashLoopFast')).toBeUndefined();
    expect((await c.cli(['alerts'])).stdout).not.toContain('CrashLoopFast');
  }, 300_000);
});
