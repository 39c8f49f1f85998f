import { describe, expect, it } from 'vitest';
import {
  age,
  columnDefinition,
  columnsFor,
  podStatus,
  rowCells,
  sortEvents,
  type Column,
} from './columns.ts';
import { allKinds } from './registry.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();
const meta = (name: string, extra: object = {}) => ({
  name,
  namespace: 'default',
  creationTimestamp: ago(300),
  ...extra,
});

/** The row as `kubectl get` (wide: `-o wide`) shows it: header → cell. */
function row(kind: string, obj: unknown, wide = false): Record<string, string | number> {
  const cols = columnsFor(kind).filter((c) => wide || c.priority === 0);
  const cells = rowCells(cols, obj, NOW);
  return Object.fromEntries(cols.map((c, i) => [c.name.toUpperCase(), cells[i]]));
}
const headers = (kind: string, wide = false) =>
  columnsFor(kind)
    .filter((c) => wide || c.priority === 0)
    .map((c) => c.name.toUpperCase());

describe('age', () => {
  it('formats like kubectl (duration.HumanDuration)', () => {
    expect(age(ago(42), NOW)).toBe('42s');
    expect(age(ago(119), NOW)).toBe('119s');
    expect(age(ago(192), NOW)).toBe('3m12s');
    expect(age(ago(45 * 60), NOW)).toBe('45m');
    expect(age(ago(5 * 3600 + 180), NOW)).toBe('5h3m');
    expect(age(ago(5 * 3600), NOW)).toBe('5h');
    expect(age(ago(12 * 86400), NOW)).toBe('12d');
    expect(age(undefined, NOW)).toBe('<unknown>');
    expect(age(ago(-30), NOW)).toBe('0s'); // clock skew: never negative
  });
});

describe('columns', () => {
  it('every kind has one name-formatted column and an Age, Last Seen or Created At column; definitions are plain data', () => {
    for (const k of allKinds()) {
      const cols = columnsFor(k.kind);
      expect(
        cols.filter((c) => c.format === 'name'),
        k.kind,
      ).toHaveLength(1);
      expect(
        // Roles print Created At, as kube's printers do.
        cols.some((c) => c.name === 'Age' || c.name === 'Last Seen' || c.name === 'Created At'),
        k.kind,
      ).toBe(true);
      for (const c of cols) {
        const def = columnDefinition(c);
        expect(Object.keys(def).sort()).toEqual(['description', 'format', 'name', 'priority', 'type']);
        expect(def.description.length, `${k.kind}.${c.name}`).toBeGreaterThan(0);
        expect(['string', 'integer', 'number', 'boolean', 'date']).toContain(def.type);
      }
    }
  });

  it('a kind without its own columns gets NAME and AGE', () => {
    expect(headers('Widget')).toEqual(['NAME', 'AGE']);
    expect(row('Widget', { metadata: meta('w') })).toEqual({ NAME: 'w', AGE: '5m0s' });
  });

  it('Pod: kubectl columns, -o wide adds IP, NODE, NOMINATED NODE, READINESS GATES and the runtime', () => {
    expect(headers('Pod')).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(headers('Pod', true)).toEqual([
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
      'RUNTIME',
    ]);
    const pod = {
      metadata: meta('web-1'),
      spec: { nodeName: 'node-a', runtimeClassName: 'container', containers: [{ name: 'a' }, { name: 'b' }] },
      status: {
        phase: 'Running',
        podIP: '10.88.0.7',
        containerStatuses: [
          {
            name: 'a',
            ready: true,
            restartCount: 2,
            lastState: { terminated: { exitCode: 1, finishedAt: ago(60) } },
          },
          { name: 'b', ready: false, restartCount: 1 },
        ],
      },
    };
    expect(row('Pod', pod, true)).toEqual({
      NAME: 'web-1',
      READY: '1/2',
      STATUS: 'Running',
      RESTARTS: '3 (60s ago)',
      AGE: '5m0s',
      IP: '10.88.0.7',
      NODE: 'node-a',
      'NOMINATED NODE': '<none>',
      'READINESS GATES': '<none>',
      RUNTIME: 'container',
    });
    const pending = { metadata: meta('p'), spec: { containers: [{ name: 'a' }] } };
    expect(row('Pod', pending, true)).toMatchObject({
      READY: '0/1',
      STATUS: 'Pending',
      RESTARTS: '0',
      IP: '<none>',
      NODE: '<none>',
    });
  });

  it('pod status: waiting reasons, terminated containers, deletion', () => {
    const pod = (status: object, extra: object = {}): any => ({
      metadata: meta('p', extra),
      spec: { nodeName: 'n', containers: [{ name: 'a' }] },
      status,
    });
    expect(
      podStatus(
        pod({
          phase: 'Pending',
          containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff' } } }],
        }),
      ),
    ).toBe('ImagePullBackOff');
    expect(
      podStatus(
        pod({
          phase: 'Pending',
          containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }],
        }),
      ),
    ).toBe('ContainerCreating');
    expect(
      podStatus(pod({ phase: 'Succeeded', containerStatuses: [{ state: { terminated: { exitCode: 0 } } }] })),
    ).toBe('Completed');
    expect(
      podStatus(pod({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 3 } } }] })),
    ).toBe('Error');
    expect(podStatus(pod({ phase: 'Failed', reason: 'OOMKilled' }))).toBe('OOMKilled');
    expect(podStatus(pod({ phase: 'Running' }, { deletionTimestamp: ago(1) }))).toBe('Terminating');
  });

  it('Deployment and DaemonSet: counts are integers, -o wide shows containers, images, selector', () => {
    const template = {
      spec: {
        nodeSelector: { disk: 'ssd' },
        containers: [
          { name: 'web', image: 'httpd:2' },
          { name: 'log', image: 'busybox' },
        ],
      },
    };
    const d = {
      metadata: meta('web', { generation: 2 }),
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template },
      status: {
        observedGeneration: 2,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 2,
        availableReplicas: 3,
      },
    };
    expect(row('Deployment', d, true)).toEqual({
      NAME: 'web',
      READY: '2/3',
      'UP-TO-DATE': 3,
      AVAILABLE: 3,
      STATUS: 'Available',
      AGE: '5m0s',
      CONTAINERS: 'web,log',
      IMAGES: 'httpd:2,busybox',
      SELECTOR: 'app=web',
    });
    const ds = {
      metadata: meta('agent'),
      spec: { selector: { matchLabels: { app: 'agent' } }, template },
      status: {
        desiredNumberScheduled: 2,
        currentNumberScheduled: 2,
        numberReady: 1,
        updatedNumberScheduled: 2,
        numberAvailable: 1,
      },
    };
    expect(row('DaemonSet', ds)).toEqual({
      NAME: 'agent',
      DESIRED: 2,
      CURRENT: 2,
      READY: 1,
      'UP-TO-DATE': 2,
      AVAILABLE: 1,
      'NODE SELECTOR': 'disk=ssd',
      AGE: '5m0s',
    });
  });

  it("ReplicaSet: kubectl's DESIRED CURRENT READY, and -o wide with the hash in the selector", () => {
    const rs = {
      metadata: meta('web-5d4b8'),
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d4b8' } },
        template: { spec: { containers: [{ name: 'web', image: 'httpd:2' }] } },
      },
      status: { replicas: 2, readyReplicas: 1, availableReplicas: 1 },
    };
    expect(row('ReplicaSet', rs, true)).toEqual({
      NAME: 'web-5d4b8',
      DESIRED: 3,
      CURRENT: 2,
      READY: 1,
      AGE: '5m0s',
      CONTAINERS: 'web',
      IMAGES: 'httpd:2',
      SELECTOR: 'app=web,pod-template-hash=5d4b8',
    });
    expect(row('ReplicaSet', { ...rs, status: undefined })).toMatchObject({ CURRENT: 0, READY: 0 });
  });

  it('Job, CronJob, PodDisruptionBudget, PriorityClass, ControllerRevision', () => {
    const job = {
      metadata: meta('hello'),
      spec: { completions: 5 },
      status: {
        succeeded: 5,
        startTime: ago(100),
        completionTime: ago(40),
        conditions: [{ type: 'Complete', status: 'True' }],
      },
    };
    expect(row('Job', job)).toEqual({
      NAME: 'hello',
      STATUS: 'Complete',
      COMPLETIONS: '5/5',
      DURATION: '60s',
      AGE: '5m0s',
    });
    const cj = {
      metadata: meta('nightly'),
      spec: { schedule: '0 3 * * *', suspend: true },
      status: { active: [{}], lastScheduleTime: ago(30) },
    };
    expect(row('CronJob', cj)).toEqual({
      NAME: 'nightly',
      SCHEDULE: '0 3 * * *',
      TIMEZONE: '<none>',
      SUSPEND: 'True',
      ACTIVE: 1,
      'LAST SCHEDULE': '30s',
      AGE: '5m0s',
    });
    const pdb = { metadata: meta('web'), spec: { minAvailable: '50%' }, status: { disruptionsAllowed: 1 } };
    expect(row('PodDisruptionBudget', pdb)).toEqual({
      NAME: 'web',
      'MIN AVAILABLE': '50%',
      'MAX UNAVAILABLE': 'N/A',
      'ALLOWED DISRUPTIONS': 1,
      AGE: '5m0s',
    });
    const pc = { metadata: meta('high'), value: 1000 };
    expect(row('PriorityClass', pc)).toEqual({
      NAME: 'high',
      VALUE: 1000,
      'GLOBAL-DEFAULT': 'false',
      AGE: '5m0s',
      PREEMPTIONPOLICY: 'PreemptLowerPriority',
    });
    const rev = {
      metadata: meta('web-5d8f', {
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true }],
      }),
      revision: 4,
    };
    expect(row('ControllerRevision', rev)).toEqual({
      NAME: 'web-5d8f',
      CONTROLLER: 'deployment.apps/web',
      REVISION: 4,
      AGE: '5m0s',
    });
  });

  it('Event: kubectl order, wide columns interleaved where kubectl puts them', () => {
    expect(headers('Event')).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(headers('Event', true)).toEqual([
      'LAST SEEN',
      'TYPE',
      'REASON',
      'OBJECT',
      'SOURCE',
      'MESSAGE',
      'FIRST SEEN',
      'COUNT',
      'NAME',
    ]);
    const ev = {
      metadata: meta('web-1.abc'),
      involvedObject: { kind: 'Pod', name: 'web-1' },
      reason: 'BackOff',
      type: 'Warning',
      message: 'Back-off\n  restarting',
      source: { component: 'strata-agent', host: 'node-a' },
      firstTimestamp: ago(600),
      lastTimestamp: ago(10),
      count: 4,
    };
    expect(row('Event', ev, true)).toEqual({
      'LAST SEEN': '10s',
      TYPE: 'Warning',
      REASON: 'BackOff',
      OBJECT: 'pod/web-1',
      SOURCE: 'strata-agent, node-a',
      MESSAGE: 'Back-off restarting',
      'FIRST SEEN': '10m',
      COUNT: 4,
      NAME: 'web-1.abc',
    });
    const later = { ...ev, metadata: meta('b'), lastTimestamp: ago(5) };
    expect(sortEvents([later, ev] as any[]).map((e) => e.metadata.name)).toEqual(['web-1.abc', 'b']);
  });

  it('Node, Namespace, ConfigMap, Secret, Lease', () => {
    const node = {
      metadata: meta('node-a'),
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        runtimeHandlers: [{ name: 'wasm' }, { name: 'container' }],
        nodeInfo: { kubeletVersion: 'v0.1.0', kernelVersion: '6.1.0' },
        addresses: [{ type: 'InternalIP', address: '10.0.0.5' }],
        allocatable: { cpu: '2', memory: '4Gi' },
      },
    };
    expect(row('Node', node, true)).toEqual({
      NAME: 'node-a',
      STATUS: 'Ready,SchedulingDisabled',
      RUNTIMES: 'wasm,container',
      AGE: '5m0s',
      VERSION: 'v0.1.0',
      'INTERNAL-IP': '10.0.0.5',
      'KERNEL-VERSION': '6.1.0',
      CPU: '2',
      MEMORY: '4Gi',
    });
    expect(row('Namespace', { metadata: meta('gone', { deletionTimestamp: ago(1) }) })).toEqual({
      NAME: 'gone',
      STATUS: 'Terminating',
      AGE: '5m0s',
    });
    expect(row('ConfigMap', { metadata: meta('c'), data: { a: '1' }, binaryData: { b: 'AA==' } })).toEqual({
      NAME: 'c',
      DATA: 2,
      AGE: '5m0s',
    });
    expect(
      row('Secret', {
        metadata: meta('s'),
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': '', 'tls.key': '' },
      }),
    ).toEqual({ NAME: 's', TYPE: 'kubernetes.io/tls', DATA: 2, AGE: '5m0s' });
    expect(row('Lease', { metadata: meta('node-a'), spec: { holderIdentity: 'node-a' } })).toEqual({
      NAME: 'node-a',
      HOLDER: 'node-a',
      AGE: '5m0s',
    });
  });

  it('cell functions tolerate objects with no status at all', () => {
    for (const k of allKinds()) {
      const bare = {
        metadata: meta('x'),
        spec: { containers: [], template: { spec: { containers: [] } }, schedule: '@daily' },
      };
      const cells = rowCells(columnsFor(k.kind) as readonly Column[], bare, NOW);
      for (const c of cells) expect(['string', 'number'], k.kind).toContain(typeof c);
    }
  });
});
