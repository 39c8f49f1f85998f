// The agent against a real control plane (in process, over HTTP) with a scriptable driver: events,
// node conditions and taints, and what a returning agent does with sandboxes it left behind.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_CLASSES, kindFor } from '../api/index.ts';
import { Client } from '../client/client.ts';
import { startControlPlane, type ControlPlane } from '../node/assemble-control-plane.ts';
import { Agent } from './agent.ts';
import { FakeDriver } from './testing/fake-driver.ts';
import { MEMORY_PRESSURE_TAINT, RUNTIME_UNAVAILABLE_TAINT } from './node-health.ts';

/** Any runtime class the API accepts: the agent treats them all alike. */
const TIER = RUNTIME_CLASSES[0];
const POD = kindFor('v1', 'Pod')!;
const NODE = kindFor('v1', 'Node')!;
const EVENT = kindFor('v1', 'Event')!;
const Mi = 1024 * 1024;
let dir: string;
let cp: ControlPlane;
let client: Client;
const quiet = { info: () => {}, warn: () => {} };

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-agent-'));
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), port: 0, logger: false });
  // The control plane serves HTTPS with its own CA.
  client = new Client({ server: cp.url, token: cp.adminToken, tls: { ca: cp.pki?.ca.cert } });
});

afterAll(async () => {
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function agent(
  name: string,
  driver: FakeDriver,
  extra: Partial<ConstructorParameters<typeof Agent>[0]> = {},
) {
  driver.runtimeClass = TIER;
  return new Agent({
    client,
    drivers: [driver],
    dataDir: join(dir, name),
    nodeName: name,
    healthIntervalMs: 50,
    log: quiet,
    ...extra,
  });
}

const pod = (name: string, node: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, runtimeClassName: TIER, containers: [{ name: 'main', image: '/app.wasm' }] },
});

const taintKeys = async (node: string): Promise<string[]> =>
  ((await client.get(NODE, undefined, node)).spec.taints ?? []).map((t: any) => t.key);
const condition = async (node: string, type: string): Promise<any> =>
  (await client.get(NODE, undefined, node)).status.conditions.find((c: any) => c.type === type);

describe('agent events', () => {
  it('records what happens to pods and to its node through the API', async () => {
    const a = agent('ev-node', new FakeDriver());
    await a.start();
    try {
      await client.create(POD, pod('evented', 'ev-node'));
      const events = await until('Started event', async () => {
        const list = await client.list(EVENT, 'default', { fieldSelector: 'involvedObject.name=evented' });
        return list.items.some((e) => e.reason === 'Started') ? list.items : undefined;
      });
      const started = events.find((e) => e.reason === 'Started');
      expect(started).toMatchObject({
        type: 'Normal',
        message: 'Started container main',
        source: { component: 'strata-agent', host: 'ev-node' },
        involvedObject: { kind: 'Pod', name: 'evented', namespace: 'default' },
      });
      const nodeEvents = await client.list(EVENT, 'default', {
        fieldSelector: 'involvedObject.name=ev-node',
      });
      expect(nodeEvents.items.map((e) => e.reason)).toContain('Starting');
    } finally {
      await a.stop();
    }
  });
});

describe('node health', () => {
  it('taints the node under memory pressure and untaints it when memory is back', async () => {
    let available = 50 * Mi;
    const a = agent('mem-node', new FakeDriver(), {
      availableMemory: () => available,
      memoryPressureTransitionMs: 0,
    });
    await a.start();
    try {
      expect(await taintKeys('mem-node')).toEqual([MEMORY_PRESSURE_TAINT]);
      expect((await condition('mem-node', 'MemoryPressure')).status).toBe('True');
      available = 4096 * Mi;
      await until('taint removed', async () => (await taintKeys('mem-node')).length === 0);
      await until(
        'condition cleared',
        async () => (await condition('mem-node', 'MemoryPressure')).status === 'False',
      );
    } finally {
      await a.stop();
    }
  });

  it('a tier that breaks taints the node, loses its label and runtime handler; fixing it undoes that', async () => {
    const driver = new FakeDriver();
    const a = agent('rt-node', driver, { availableMemory: () => 4096 * Mi });
    await a.start();
    try {
      // Someone else's taint must survive the agent's changes.
      await client.mutate(NODE, undefined, 'rt-node', (n) => {
        n.spec.taints = [{ key: 'example.com/maintenance', effect: 'PreferNoSchedule' }];
        return n;
      });
      driver.healthy = false;
      await until('tainted', async () => (await taintKeys('rt-node')).includes(RUNTIME_UNAVAILABLE_TAINT));
      const n = await client.get(NODE, undefined, 'rt-node');
      expect(n.spec.taints).toContainEqual(
        expect.objectContaining({ key: RUNTIME_UNAVAILABLE_TAINT, value: TIER, effect: 'NoSchedule' }),
      );
      expect(n.spec.taints.map((t: any) => t.key)).toContain('example.com/maintenance');
      await until('handler and label gone', async () => {
        const m = await client.get(NODE, undefined, 'rt-node');
        return (
          !m.metadata.labels[`strata.dev/runtime-${TIER}`] && (m.status.runtimeHandlers ?? []).length === 0
        );
      });
      expect((await condition('rt-node', 'RuntimeUnavailable')).message).toBe(
        `${TIER}: fake runtime is broken`,
      );
      driver.healthy = true;
      await until('untainted', async () => {
        const keys = await taintKeys('rt-node');
        return !keys.includes(RUNTIME_UNAVAILABLE_TAINT) && keys.includes('example.com/maintenance');
      });
      const m = await client.get(NODE, undefined, 'rt-node');
      expect(m.metadata.labels[`strata.dev/runtime-${TIER}`]).toBe('true');
      expect(m.status.runtimeHandlers).toEqual([{ name: TIER }]);
      const events = await client.list(EVENT, 'default', { fieldSelector: 'involvedObject.name=rt-node' });
      expect(events.items.map((e) => e.reason)).toEqual(
        expect.arrayContaining(['RuntimeUnavailable', 'RuntimeAvailable']),
      );
    } finally {
      await a.stop();
    }
  });
});

describe('registration', () => {
  it('offers 1,000 pods, or more when a tier holds more on its own (wasm guests)', async () => {
    const plain = agent('cap-plain', new FakeDriver());
    const dense = new FakeDriver();
    dense.maxSandboxes = 12_000;
    const many = agent('cap-dense', dense);
    await plain.start();
    await many.start();
    try {
      expect((await client.get(NODE, undefined, 'cap-plain')).status.capacity.pods).toBe('1000');
      expect((await client.get(NODE, undefined, 'cap-dense')).status.allocatable.pods).toBe('12000');
    } finally {
      await plain.stop();
      await many.stop();
    }
  });

  it('registers its node again when the Node object is deleted under it', async () => {
    const a = agent('reg-node', new FakeDriver(), { leaseDurationSeconds: 1 });
    await a.start();
    try {
      const before = await client.get(NODE, undefined, 'reg-node');
      await client.delete(NODE, undefined, 'reg-node');
      const again = await until('registered again', async () => {
        const n = await client.find(NODE, undefined, 'reg-node');
        return n && n.metadata.uid !== before.metadata.uid && n.status?.runtimeHandlers?.length
          ? n
          : undefined;
      });
      expect(again.metadata.labels[`strata.dev/runtime-${TIER}`]).toBe('true');
    } finally {
      await a.stop();
    }
  });
});

describe('a returning agent', () => {
  it('re-adopts sandboxes of its pods and stops those of pods deleted while it was away', async () => {
    const driver = new FakeDriver({ capabilities: { survivesAgentRestart: true } });
    const first = agent('back-node', driver);
    await first.start();
    await client.create(POD, pod('keep', 'back-node'));
    await client.create(POD, pod('gone', 'back-node'));
    const running = async (name: string) =>
      (await client.get(POD, 'default', name)).status?.containerStatuses?.[0]?.state?.running;
    await until('both running', async () => (await running('keep')) && (await running('gone')));
    const goneUid = (await client.get(POD, 'default', 'gone')).metadata.uid;
    await first.stop();
    // The agent is away: its sandboxes keep running (this tier survives), and one pod is force-deleted.
    expect(driver.stopped).toEqual([]);
    await client.delete(POD, 'default', 'gone', { gracePeriodSeconds: 0 });
    driver.restarted();

    const second = agent('back-node', driver);
    await second.start();
    try {
      expect(driver.stopped).toEqual([`${goneUid}-main-0`]);
      expect(existsSync(join(dir, 'back-node', 'pods', goneUid))).toBe(false);
      const keepUid = (await client.get(POD, 'default', 'keep')).metadata.uid;
      // Both were recovered: one to be supervised again, the orphan to be stopped.
      expect(driver.recovered.sort()).toEqual([`${goneUid}-main-0`, `${keepUid}-main-0`].sort());
      expect(driver.started).toHaveLength(2);
      // Every status the new agent writes says running, restart count 0: it never looked restarted.
      await until('keep reported by the new agent', async () => {
        const keep = await client.get(POD, 'default', 'keep');
        return keep.metadata.resourceVersion !== undefined && keep.status.containerStatuses[0].state.running;
      });
      const keep = await client.get(POD, 'default', 'keep');
      expect(keep.status.containerStatuses[0].restartCount).toBe(0);
    } finally {
      await second.stop();
    }
  });
});

describe('a tier on the pod network', () => {
  it('is reconciled with the live pods at start, and releases the network of a deleted pod', async () => {
    const driver = new FakeDriver({ capabilities: { podNetwork: true } });
    const a = agent('net-node', driver);
    await client.create(POD, pod('netted', 'net-node'));
    const uid = (await client.get(POD, 'default', 'netted')).metadata.uid;
    await a.start();
    try {
      expect(driver.reconciled).toEqual([[uid]]);
      await until('pod IP reported', async () => {
        const p = await client.get(POD, 'default', 'netted');
        return p.status?.podIP === driver.podIP;
      });
      await client.delete(POD, 'default', 'netted', { gracePeriodSeconds: 0 });
      await until('network released', async () => driver.releasedPods.includes(uid));
    } finally {
      await a.stop();
    }
  });
});

/** The agent's own client, counting the pod DELETEs it sends. */
class DeleteCountingClient extends Client {
  readonly podDeletes: string[] = [];
  override delete(...args: Parameters<Client['delete']>): ReturnType<Client['delete']> {
    if (args[0].kind === 'Pod') this.podDeletes.push(args[2]);
    return super.delete(...args);
  }
}

describe('a terminating pod', () => {
  it('is deleted for good once, however many updates its termination brings', async () => {
    const driver = new FakeDriver();
    driver.stopDelayMs = 1500;
    const own = new DeleteCountingClient({
      server: cp.url,
      token: cp.adminToken,
      tls: { ca: cp.pki?.ca.cert },
    });
    const a = agent('term-node', driver, { client: own });
    await a.start();
    try {
      await client.create(POD, pod('leaving', 'term-node'));
      await until('the pod running', async () => {
        const p = await client.get(POD, 'default', 'leaving');
        return p.status?.phase === 'Running';
      });
      await client.delete(POD, 'default', 'leaving', { gracePeriodSeconds: 30 });
      // While its stop takes its time, the terminating pod changes several times: each change is an event
      // the agent syncs (and a shorter grace period must still be honoured).
      for (let i = 0; i < 3; i++)
        await client.patch(POD, 'default', 'leaving', { metadata: { labels: { step: String(i) } } });
      await client.delete(POD, 'default', 'leaving', { gracePeriodSeconds: 1 });
      await until('the pod gone', async () => !(await client.find(POD, 'default', 'leaving')));
      await new Promise((r) => setTimeout(r, 2000)); // any late finalization would have been sent by now
      expect(own.podDeletes.filter((n) => n === 'leaving')).toHaveLength(1);
    } finally {
      await a.stop();
    }
  });
});
