// End to end with two nodes on one machine: `strata up` (node-a, with short node-failure timeouts) and a
// second `strata agent` process (node-b). A node whose agent is killed has its Deployment's pods replaced
// on the other node within the configured timeouts, and its stale pods are cleaned up when it returns;
// `strata drain` empties a node without dropping below a PodDisruptionBudget's minAvailable; a
// high-priority pod preempts a low-priority one on a full node.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor, parseCpu } from '../../src/api/index.ts';
import { Cluster, fixture, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const nodes = kindFor('v1', 'Node')!;
/** Seconds: lease renewals every quarter of LEASE; a node is NotReady after GRACE; its pods go after EVICTION. */
const LEASE = 2;
const GRACE = 3;
const EVICTION = 4;
let c: Cluster;

beforeAll(async () => {
  c = await new Cluster().up([
    '--node-grace-period',
    `${GRACE}s`,
    '--pod-eviction-timeout',
    `${EVICTION}s`,
    '--lease-duration',
    `${LEASE}s`,
  ]);
  await c.addAgent('node-b', ['--lease-duration', `${LEASE}s`]);
});

afterAll(async () => {
  await c?.stop();
});

const isReady = (p: any): boolean =>
  !p.metadata.deletionTimestamp &&
  p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');

async function podsOf(app: string): Promise<any[]> {
  return (await c.client.list(pods, 'default', { labelSelector: `app=${app}` })).items;
}

async function apply(yaml: string): Promise<void> {
  const r = await c.cli(['apply', '-f', '-'], { input: yaml });
  if (r.code !== 0) throw new Error(`apply failed: ${r.stderr}`);
}

function deployment(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${fixture('sleeper')}
`;
}

describe('node failure', () => {
  it("a killed node's Deployment pods run on the other node within the timeouts; the node's stale pods go when it returns", async () => {
    // Put every replica on node-b: cordon node-a while they are placed.
    expect((await c.cli(['cordon', 'node-a'])).stdout.trim()).toBe('node/node-a cordoned');
    await apply(deployment('survivor', 3));
    const placed = await waitFor('3 ready replicas on node-b', async () => {
      const ps = (await podsOf('survivor')).filter(isReady);
      return ps.length === 3 && ps.every((p) => p.spec.nodeName === 'node-b') ? ps : undefined;
    });
    expect((await c.cli(['uncordon', 'node-a'])).stdout.trim()).toBe('node/node-a uncordoned');

    const killedAt = Date.now();
    await c.killAgent('node-b');
    const notReady = await waitFor(
      'node-b NotReady',
      async () => {
        const n = await c.client.get(nodes, undefined, 'node-b');
        return n.status.conditions.find((x: any) => x.type === 'Ready')?.status !== 'True' ? n : undefined;
      },
      (GRACE + 30) * 1000,
    );
    expect(notReady.status.conditions.find((x: any) => x.type === 'Ready').status).toBe('Unknown');
    expect((await c.cli(['get', 'nodes'])).stdout).toMatch(/node-b\s+NotReady/);

    // Within grace + eviction timeout (plus monitor periods and scheduling slack): 3 ready on node-a.
    const limitMs = (GRACE + EVICTION + 30) * 1000;
    const moved = await waitFor(
      '3 ready replicas on node-a',
      async () => {
        const ps = (await podsOf('survivor')).filter(isReady);
        return ps.length === 3 && ps.every((p) => p.spec.nodeName === 'node-a') ? ps : undefined;
      },
      limitMs,
    );
    expect(Date.now() - killedAt).toBeLessThan(limitMs);
    expect(moved.map((p) => p.metadata.uid)).not.toContain(placed[0].metadata.uid);

    // node-b comes back: the pods it ran (evicted while it was away) are finished off, none runs there.
    await c.restartAgent('node-b');
    await waitFor(
      'node-b Ready',
      async () => {
        const n = await c.client.get(nodes, undefined, 'node-b');
        return n.status.conditions.find((x: any) => x.type === 'Ready')?.status === 'True';
      },
      30_000,
    );
    await waitFor('no stale pods on node-b', async () => {
      const onB = (await c.client.list(pods, undefined, { fieldSelector: 'spec.nodeName=node-b' })).items;
      return onB.length === 0;
    });
    expect((await podsOf('survivor')).filter(isReady)).toHaveLength(3);
    await c.cli(['delete', 'deployment', 'survivor']);
  });
});

describe('a node cut off and back', () => {
  it('a frozen agent that comes back stops the pods that were replaced elsewhere', async () => {
    await c.cli(['cordon', 'node-a']);
    await apply(deployment('islander', 2));
    const onB = await waitFor('2 ready replicas on node-b', async () => {
      const ps = (await podsOf('islander')).filter(isReady);
      return ps.length === 2 && ps.every((p) => p.spec.nodeName === 'node-b') ? ps : undefined;
    });
    await c.cli(['uncordon', 'node-a']);
    const podDirs = onB.map((p) => join(c.agentDir('node-b'), 'pods', p.metadata.uid));
    expect(podDirs.every((d) => existsSync(d))).toBe(true);

    c.signalAgent('node-b', 'SIGSTOP');
    try {
      await waitFor(
        '2 ready replicas on node-a',
        async () => {
          const ps = (await podsOf('islander')).filter(isReady);
          return ps.length === 2 && ps.every((p) => p.spec.nodeName === 'node-a');
        },
        (GRACE + EVICTION + 30) * 1000,
      );
    } finally {
      c.signalAgent('node-b', 'SIGCONT');
    }
    // Back: it finishes the deletions of its old pods and stops what it was running for them.
    await waitFor('no pods left on node-b', async () => {
      const left = (await c.client.list(pods, undefined, { fieldSelector: 'spec.nodeName=node-b' })).items;
      return left.length === 0;
    });
    await waitFor('their sandboxes and files are gone', () => podDirs.every((d) => !existsSync(d)));
    await waitFor('node-b Ready again', async () => {
      const n = await c.client.get(nodes, undefined, 'node-b');
      return n.status.conditions.find((x: any) => x.type === 'Ready')?.status === 'True';
    });
    await c.cli(['delete', 'deployment', 'islander']);
  });
});

describe('drain', () => {
  it('empties a node without dropping below the PodDisruptionBudget', async () => {
    await apply(deployment('steady', 4));
    await apply(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: { name: steady }
spec:
  minAvailable: 3
  selector: { matchLabels: { app: steady } }
`);
    const spread = await waitFor('4 ready replicas on both nodes', async () => {
      const ps = (await podsOf('steady')).filter(isReady);
      return ps.length === 4 && ps.some((p) => p.spec.nodeName === 'node-b') ? ps : undefined;
    });
    const onB = spread.filter((p) => p.spec.nodeName === 'node-b').length;
    await waitFor('the budget allows a disruption', async () => {
      const r = await c.cli(['get', 'pdb', 'steady']);
      return /steady\s+3\s+N\/A\s+1\s/.test(r.stdout);
    });
    // Watch the ready count all through the drain.
    let minReady = Infinity;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const ready = (await podsOf('steady')).filter(isReady).length;
        minReady = Math.min(minReady, ready);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const drained = await c.cli(['drain', 'node-b', '--ignore-daemonsets', '--timeout', '120s'], {
      timeoutMs: 150_000,
    });
    watching = false;
    await watcher;
    expect(drained.code).toBe(0);
    expect(drained.stdout).toMatch(/^node\/node-b cordoned$/m);
    expect(drained.stdout).toMatch(/^evicting pod default\/steady-/m);
    expect(drained.stdout).toMatch(/^node\/node-b drained$/m);
    expect(minReady).toBeGreaterThanOrEqual(3);
    expect(drained.stdout.match(/^pod\/steady-\S+ evicted$/gm)).toHaveLength(onB);
    // The budget allows one disruption at a time: a second pod on node-b had to wait for a replacement.
    if (onB > 1)
      expect(drained.stderr).toContain(
        `(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.`,
      );
    const after = await podsOf('steady');
    expect(after.filter((p) => p.spec.nodeName === 'node-b')).toHaveLength(0);
    await waitFor('4 ready again', async () => (await podsOf('steady')).filter(isReady).length === 4);
    expect((await c.cli(['get', 'nodes'])).stdout).toMatch(/node-b\s+Ready,SchedulingDisabled/);
    await c.cli(['uncordon', 'node-b']);
    await c.cli(['delete', 'deployment', 'steady']);
    await c.cli(['delete', 'pdb', 'steady']);
  });
});

describe('preemption', () => {
  it('a high-priority pod that fits nowhere evicts a low-priority one', async () => {
    // Only node-a takes pods; size the requests from what it has left.
    await c.cli(['cordon', 'node-b']);
    const node = await c.client.get(nodes, undefined, 'node-a');
    const allocatable = parseCpu(node.status.allocatable.cpu);
    const onA = (await c.client.list(pods, undefined, { fieldSelector: 'spec.nodeName=node-a' })).items;
    const used = onA
      .filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase))
      .flatMap((p) => p.spec.containers)
      .reduce((n: number, ct: any) => n + parseCpu(ct.resources?.requests?.cpu ?? '0'), 0);
    const free = allocatable - used;
    const low = Math.floor(free * 0.7);
    const high = Math.floor(free * 0.5);
    const file = join(c.dir, 'priority.yaml');
    writeFileSync(
      file,
      `apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: batch-low }
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: critical-high }
value: 100000
description: serving traffic
---
apiVersion: v1
kind: Pod
metadata: { name: low }
spec:
  priorityClassName: batch-low
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${fixture('sleeper')}
      resources: { requests: { cpu: ${low}m } }
`,
    );
    await c.cli(['apply', '-f', file]);
    const lowPod = await waitFor('low running on node-a', async () => {
      const p = await c.client.get(pods, 'default', 'low');
      return isReady(p) && p.spec.nodeName === 'node-a' ? p : undefined;
    });
    expect(lowPod.spec.priority).toBe(100);
    expect((await c.cli(['get', 'priorityclasses'])).stdout).toMatch(/critical-high\s+100000\s+false/);

    await apply(`apiVersion: v1
kind: Pod
metadata: { name: high }
spec:
  priorityClassName: critical-high
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${fixture('sleeper')}
      resources: { requests: { cpu: ${high}m } }
`);
    const highPod = await waitFor(
      'high running on node-a',
      async () => {
        const p = await c.client.get(pods, 'default', 'high');
        return isReady(p) && p.spec.nodeName === 'node-a' ? p : undefined;
      },
      90_000,
    );
    expect(highPod.spec.priority).toBe(100000);
    await waitFor('low is gone', async () => !(await c.client.find(pods, 'default', 'low')));
    const events = await c.cli(['get', 'events', '--field-selector', 'involvedObject.name=low']);
    expect(events.stdout).toMatch(/Preempted|Killing/);
    await c.cli(['uncordon', 'node-b']);
  });
});
