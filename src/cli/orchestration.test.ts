// The CLI's orchestration verbs, without a server: rollout progress (kubectl's wording), drain's pod
// filters, event tables, rollout state columns and durations.
import { describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { drainPlan } from './drain.ts';
import { seconds } from './duration.ts';
import { ClientError } from '../client/client.ts';
import { eventsSection, listEvents } from './events.ts';
import { deploymentRolloutState, tableRows } from './printers.ts';
import { probeLine, replicaSetList } from './describe.ts';
import { splitReplicaSets } from '../api/deployment-history.ts';
import { rolloutProgress, rolloutTarget } from './rollout.ts';

const deploy = (spec: any, status: any, generation = 2): any => ({
  metadata: { name: 'web', generation },
  spec: { replicas: 3, ...spec },
  status: { observedGeneration: 2, ...status },
});

describe('rollout status', () => {
  it("says where a rollout stands, in kubectl's words", () => {
    expect(rolloutProgress(deploy({}, { observedGeneration: 1 })).message).toBe(
      'Waiting for deployment spec update to be observed...',
    );
    expect(rolloutProgress(deploy({}, { updatedReplicas: 1, replicas: 4 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    );
    expect(rolloutProgress(deploy({}, { updatedReplicas: 3, replicas: 4 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
    );
    expect(
      rolloutProgress(deploy({}, { updatedReplicas: 3, replicas: 3, availableReplicas: 2 })).message,
    ).toBe('Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...');
    const done = rolloutProgress(deploy({}, { updatedReplicas: 3, replicas: 3, availableReplicas: 3 }));
    expect(done).toEqual({ done: true, message: 'deployment "web" successfully rolled out' });
  });

  it('fails once the progress deadline is exceeded', () => {
    const stalled = deploy(
      {},
      {
        updatedReplicas: 1,
        replicas: 4,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      },
    );
    expect(rolloutProgress(stalled)).toEqual({
      done: false,
      failed: true,
      message: 'deployment "web" exceeded its progress deadline',
    });
    expect(deploymentRolloutState(stalled)).toBe('Stalled');
  });

  it('follows daemon sets too', () => {
    const ds = (status: any): any => ({
      kind: 'DaemonSet',
      metadata: { name: 'agent', generation: 1 },
      spec: { updateStrategy: { type: 'RollingUpdate' } },
      status: { observedGeneration: 1, desiredNumberScheduled: 2, ...status },
    });
    expect(rolloutProgress(ds({ updatedNumberScheduled: 1 })).message).toBe(
      'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...',
    );
    expect(rolloutProgress(ds({ updatedNumberScheduled: 2, numberAvailable: 1 })).message).toBe(
      'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...',
    );
    expect(rolloutProgress(ds({ updatedNumberScheduled: 2, numberAvailable: 2 }))).toEqual({
      done: true,
      message: 'daemon set "agent" successfully rolled out',
    });
    expect(rolloutTarget(['ds/agent'], ['Deployment', 'DaemonSet']).kind.kind).toBe('DaemonSet');
  });

  it('takes deployment/NAME or deployment NAME, and only deployments', () => {
    expect(rolloutTarget(['deployment/web']).name).toBe('web');
    expect(rolloutTarget(['deploy', 'web']).name).toBe('web');
    expect(() => rolloutTarget(['jobs/x'])).toThrow('only deployments have rollouts');
    expect(() => rolloutTarget(['deployment'])).toThrow('specify the name');
  });
});

describe('rollout state column', () => {
  it('Available, Progressing, Paused, Stalled', () => {
    const complete = { updatedReplicas: 3, replicas: 3, availableReplicas: 3 };
    expect(deploymentRolloutState(deploy({}, complete))).toBe('Available');
    expect(deploymentRolloutState(deploy({}, { ...complete, updatedReplicas: 2 }))).toBe('Progressing');
    expect(deploymentRolloutState(deploy({ paused: true }, complete))).toBe('Paused');
    const table = tableRows(
      kindFor('apps/v1', 'Deployment')!,
      [deploy({}, { ...complete, readyReplicas: 3 })],
      {},
    );
    expect(table[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+STATUS\s+AGE$/);
    expect(table[1]).toMatch(/^web\s+3\/3\s+3\s+3\s+Available\s+/);
  });
});

describe('drain plan', () => {
  const pod = (name: string, owner?: string, extra: any = {}): any => ({
    metadata: {
      name,
      namespace: 'default',
      ...(owner ? { ownerReferences: [{ kind: owner, name: 'o', controller: true, uid: 'u' }] } : {}),
    },
    spec: { containers: [], ...extra.spec },
    status: { phase: 'Running', ...extra.status },
  });

  it('evicts controlled pods and refuses what kubectl refuses, naming the flag', () => {
    const pods = [
      pod('web-1', 'Deployment'),
      pod('agent-x', 'DaemonSet'),
      pod('lonely'),
      pod('scratch', 'Job', { spec: { volumes: [{ name: 'tmp', emptyDir: {} }] } }),
      pod('done', undefined, { status: { phase: 'Succeeded' } }),
    ];
    const plan = drainPlan(pods, {});
    expect(plan.evict.map((p) => p.metadata.name)).toEqual(['web-1', 'done']);
    expect(plan.errors).toEqual([
      'cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/agent-x',
      'cannot delete Pods that declare no controller (use --force to override): default/lonely',
      'cannot delete Pods with local storage (use --delete-emptydir-data to override): default/scratch',
    ]);
    const forced = drainPlan(pods, { ignoreDaemonsets: true, force: true, deleteEmptydirData: true });
    expect(forced.errors).toEqual([]);
    expect(forced.evict.map((p) => p.metadata.name)).toEqual(['web-1', 'lonely', 'scratch', 'done']);
    expect(forced.warnings).toEqual([
      'Warning: ignoring DaemonSet-managed Pods: default/agent-x',
      'Warning: deleting Pods that declare no controller: default/lonely',
    ]);
  });
});

describe('events', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const ev = (reason: string, last: string, extra: any = {}): any => ({
    metadata: { name: `x.${reason}`, namespace: 'default', creationTimestamp: last },
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default' },
    reason,
    message: `${reason} happened`,
    type: 'Normal',
    source: { component: 'strata-agent', host: 'node-a' },
    firstTimestamp: last,
    lastTimestamp: last,
    count: 1,
    ...extra,
  });

  it("describe's section: aggregated counts, sources, <none>", () => {
    const lines = eventsSection(
      [
        ev('Started', '2026-01-01T00:09:00Z'),
        ev('BackOff', '2026-01-01T00:09:50Z', {
          type: 'Warning',
          count: 4,
          firstTimestamp: '2026-01-01T00:05:00Z',
        }),
      ],
      now,
    );
    expect(lines[0]).toBe('Events:');
    expect(lines[1]).toMatch(/^ {2}Type\s+Reason\s+Age\s+From\s+Message$/);
    expect(lines[3]).toMatch(/^ {2}Normal\s+Started\s+60s\s+strata-agent, node-a\s+Started happened$/);
    expect(lines[4]).toMatch(
      /^ {2}Warning\s+BackOff\s+10s \(x4 over 5m0s\)\s+strata-agent, node-a\s+BackOff happened$/,
    );
    expect(eventsSection([], now)).toEqual(['Events:  <none>']);
  });

  it('get events: sorted by last seen, with the object column', () => {
    const kind = kindFor('v1', 'Event')!;
    const rows = tableRows(
      kind,
      [ev('Later', '2026-01-01T00:09:00Z'), ev('Earlier', '2026-01-01T00:01:00Z')],
      {},
    );
    expect(rows[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    expect(rows[1]).toMatch(/Earlier\s+pod\/web-1\s+Earlier happened$/);
    expect(rows[2]).toMatch(/Later\s+pod\/web-1/);
  });
});

describe('event field selectors', () => {
  it('filter here when the server does not know the fields', async () => {
    const items = [
      { metadata: { name: 'a' }, involvedObject: { name: 'web-1', kind: 'Pod' } },
      { metadata: { name: 'b' }, involvedObject: { name: 'web-2', kind: 'Pod' } },
    ];
    const calls: any[] = [];
    const client: any = {
      list: async (_kind: unknown, _ns: unknown, q: any) => {
        calls.push(q);
        if (q.fieldSelector)
          throw new ClientError(400, {
            message: 'fieldSelector: field label not supported: "involvedObject.name"',
          });
        return { items, metadata: { resourceVersion: '1' } };
      },
    };
    const res = await listEvents(client, 'default', { fieldSelector: 'involvedObject.name=web-2' });
    expect(res.items.map((e) => e.metadata.name)).toEqual(['b']);
    expect(calls).toHaveLength(2);
  });
});

describe('describe helpers', () => {
  it('prints probes like kubectl', () => {
    expect(probeLine({ httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 })).toBe(
      'http-get http://:8080/healthz delay=0s timeout=1s period=5s #success=1 #failure=3',
    );
    expect(probeLine({ tcpSocket: { port: 'web' }, initialDelaySeconds: 3 })).toBe(
      'tcp-socket :web delay=3s timeout=1s period=10s #success=1 #failure=3',
    );
    expect(probeLine({ exec: { command: ['cat', '/ok'] } })).toMatch(/^exec \[cat \/ok\] /);
  });
});

describe('describe deployment: ReplicaSets as kubectl lists them', () => {
  it('splits the new ReplicaSet (template match) from the old ones, scaled to zero or not', () => {
    const template = (image: string, hash: string) => ({
      metadata: { labels: { app: 'web', 'pod-template-hash': hash } },
      spec: { containers: [{ name: 'web', image }] },
    });
    const rs = (name: string, image: string, replicas: number, current: number) => ({
      metadata: { name, creationTimestamp: '2024-01-01T00:00:00Z' },
      spec: { replicas, template: template(image, name.slice(4)) },
      status: { replicas: current },
    });
    const d = { spec: { template: { ...template('web:2', ''), metadata: { labels: { app: 'web' } } } } };
    const gone = rs('web-aaa', 'web:0', 0, 0);
    const old = rs('web-bbb', 'web:1', 1, 2);
    const fresh = rs('web-ccc', 'web:2', 3, 2);
    const { newRS, olds } = splitReplicaSets(d, [gone, old, fresh]);
    expect(newRS).toBe(fresh);
    expect(olds).toEqual([gone, old]);
    expect(replicaSetList(olds)).toBe('web-aaa (0/0 replicas created), web-bbb (2/1 replicas created)');
    expect(replicaSetList([newRS, old])).toBe(
      'web-ccc (2/3 replicas created), web-bbb (2/1 replicas created)',
    );
    expect(replicaSetList([])).toBe('<none>');
  });
});

describe('durations', () => {
  it('accepts kubectl-style durations', () => {
    expect(seconds('90')).toBe(90);
    expect(seconds('90s')).toBe(90);
    expect(seconds('5m')).toBe(300);
    expect(seconds('1h30m')).toBe(5400);
    expect(seconds('500ms')).toBe(0.5);
    expect(() => seconds('soon')).toThrow('expected a duration like 30s, 5m or 1h, got "soon"');
    expect(() => seconds('5m3x')).toThrow();
  });
});
