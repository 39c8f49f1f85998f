import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import type { ObjectStore } from '../store/objects.ts';
import { EndpointSliceController, desiredSlices } from './endpointslice.ts';
import {
  POD,
  type TestObjects,
  createNode,
  openTestObjects,
  podObject,
  setPodReady,
  until,
} from './testutil.ts';

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';

let t: TestObjects;
let objects: ObjectStore;
let controller: EndpointSliceController;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
  controller = new EndpointSliceController({ objects });
  await controller.start();
});

afterEach(async () => {
  await controller.stop();
  await t.close();
});

function service(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec },
  };
}

/** A pod as an agent reports it: bound to n1, with an IP, Ready or not; `port` is its `http` container port. */
async function pod(
  name: string,
  opts: { app?: string; ip?: string; ready?: boolean; port?: number | null } = {},
): Promise<any> {
  const p = podObject({ name, nodeName: 'n1' });
  p.metadata.labels = { app: opts.app ?? 'web' };
  if (opts.port !== null) p.spec.containers[0].ports = [{ name: 'http', containerPort: opts.port ?? 8080 }];
  const created = await objects.create(p);
  await setPodReady(objects, created, opts.ready ?? true);
  if (opts.ip === undefined) return created;
  return objects.mutate(
    POD,
    'default',
    name,
    (x) => ({ ...x, status: { ...x.status, podIP: opts.ip } }),
    'status',
  );
}

async function slicesOf(name: string): Promise<any[]> {
  const { items } = await objects.list(SLICE, 'default');
  return items
    .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === name)
    .sort((a, b) => (JSON.stringify(a.ports) < JSON.stringify(b.ports) ? -1 : 1));
}

async function settled(): Promise<void> {
  // Twice: a sync may requeue itself until the cache has caught up with its own writes.
  await controller.whenIdle();
  await new Promise((r) => setTimeout(r, 50));
  await controller.whenIdle();
}

const addresses = (slice: any) => slice.endpoints.map((e: any) => e.addresses[0]).sort();

describe('EndpointSliceController', () => {
  it('lists the matching pods with an IP, their conditions, node, zone and target', async () => {
    await createNode(objects, { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } });
    const svc = await objects.create(service('web'));
    await pod('a', { ip: '10.88.0.2' });
    await pod('b', { ip: '10.88.0.3', ready: false });
    await pod('no-ip'); // a wasm pod, or one not started yet
    await pod('other', { app: 'db', ip: '10.88.0.9' });
    const [slice] = await until(async () => {
      const s = await slicesOf('web');
      return s.length === 1 && s[0].endpoints.length === 2 && s;
    }, 'a slice with two endpoints');
    expect(slice.addressType).toBe('IPv4');
    expect(slice.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(slice.metadata.labels).toEqual({
      tier: 'front',
      'kubernetes.io/service-name': 'web',
      [MANAGED_BY]: 'endpointslice-controller.k8s.io',
    });
    expect(slice.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Service', name: 'web', uid: svc.metadata.uid, controller: true }),
    ]);
    expect(slice.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 8080 }]);
    const byName = Object.fromEntries(slice.endpoints.map((e: any) => [e.targetRef.name, e]));
    expect(byName.a).toEqual({
      addresses: ['10.88.0.2'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'n1',
      zone: 'z1',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: expect.any(String) },
    });
    expect(byName.b.conditions).toEqual({ ready: false, serving: false, terminating: false });
  });

  it('resolves a named targetPort per pod: different container ports give different slices', async () => {
    await objects.create(service('web'));
    await pod('a', { ip: '10.88.0.2', port: 8080 });
    await pod('b', { ip: '10.88.0.3', port: 9090 });
    await pod('c', { ip: '10.88.0.4', port: null }); // no port named http
    const slices = await until(async () => {
      const s = await slicesOf('web');
      return s.reduce((n, x) => n + x.endpoints.length, 0) === 3 && s;
    }, 'three endpoints');
    expect(slices.map((s) => [s.ports.map((p: any) => p.port), addresses(s)])).toEqual([
      [[], ['10.88.0.4']],
      [[8080], ['10.88.0.2']],
      [[9090], ['10.88.0.3']],
    ]);
  });

  it('follows readiness and deletion: terminating pods stay listed as not ready until gone', async () => {
    await objects.create(service('web', { ports: [{ port: 80, targetPort: 8080 }] }));
    const a = await pod('a', { ip: '10.88.0.2', ready: false });
    await until(
      async () => (await slicesOf('web'))[0]?.endpoints[0]?.conditions.ready === false,
      'not ready',
    );
    await setPodReady(objects, a, true);
    await until(async () => (await slicesOf('web'))[0]?.endpoints[0]?.conditions.ready === true, 'ready');
    await objects.delete(POD, 'default', 'a', { gracePeriodSeconds: 30 });
    const [slice] = await until(async () => {
      const s = await slicesOf('web');
      return s[0]?.endpoints[0]?.conditions.terminating === true && s;
    }, 'terminating');
    expect(slice.endpoints[0].conditions).toEqual({ ready: false, serving: true, terminating: true });
    expect(slice.ports).toEqual([{ name: '', protocol: 'TCP', port: 8080 }]);
    await objects.delete(POD, 'default', 'a', { gracePeriodSeconds: 0 });
    await until(async () => (await slicesOf('web'))[0]?.endpoints.length === 0, 'removed');
    // One empty slice stays, as Kubernetes keeps it.
    expect(await slicesOf('web')).toHaveLength(1);
  });

  it('lists not-ready pods as ready with publishNotReadyAddresses', async () => {
    await objects.create(service('web', { publishNotReadyAddresses: true }));
    await pod('a', { ip: '10.88.0.2', ready: false });
    const [slice] = await until(async () => {
      const s = await slicesOf('web');
      return s[0]?.endpoints.length === 1 && s;
    }, 'one endpoint');
    expect(slice.endpoints[0].conditions).toEqual({ ready: true, serving: true, terminating: false });
  });

  it('writes nothing when nothing changed', async () => {
    await objects.create(service('web'));
    await pod('a', { ip: '10.88.0.2' });
    const [slice] = await until(async () => {
      const s = await slicesOf('web');
      return s[0]?.endpoints.length === 1 && s;
    }, 'one endpoint');
    await settled();
    // A change elsewhere in the namespace (another pod of the Service, not yet with an IP) resyncs it.
    await pod('b');
    await settled();
    const [again] = await slicesOf('web');
    expect(again.metadata.name).toBe(slice.metadata.name);
    expect(again.metadata.resourceVersion).toBe(slice.metadata.resourceVersion);
  });

  it('leaves Services without a selector to hand-written slices', async () => {
    await objects.create(service('ext', { selector: undefined }));
    const handWritten = await objects.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'ext-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'ext' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['192.0.2.10'] }],
      ports: [{ name: 'http', port: 80 }],
    });
    await pod('a', { app: 'ext', ip: '10.88.0.2' });
    await settled();
    const slices = await slicesOf('ext');
    expect(slices).toHaveLength(1);
    expect(slices[0].metadata.resourceVersion).toBe(handWritten.metadata.resourceVersion);
  });

  it('removes its slices when the Service goes or loses its selector', async () => {
    await objects.create(service('web'));
    await objects.create(service('api', { selector: { app: 'web' } }));
    await pod('a', { ip: '10.88.0.2' });
    await until(
      async () => (await slicesOf('web')).length === 1 && (await slicesOf('api')).length === 1,
      'slices',
    );
    await objects.delete(SERVICE, 'default', 'web');
    await objects.mutate(SERVICE, 'default', 'api', (s) => ({
      ...s,
      spec: { ...s.spec, selector: undefined },
    }));
    await until(
      async () => (await slicesOf('web')).length === 0 && (await slicesOf('api')).length === 0,
      'gone',
    );
  });

  it('moves a pod between Services when its labels change', async () => {
    await objects.create(service('web'));
    await objects.create(service('db'));
    await pod('a', { ip: '10.88.0.2' });
    await until(async () => (await slicesOf('web'))[0]?.endpoints.length === 1, 'in web');
    await objects.mutate(POD, 'default', 'a', (p) => ({
      ...p,
      metadata: { ...p.metadata, labels: { app: 'db' } },
    }));
    await until(
      async () =>
        (await slicesOf('web'))[0]?.endpoints.length === 0 &&
        (await slicesOf('db'))[0]?.endpoints.length === 1,
      'moved to db',
    );
  });
});

describe('desiredSlices', () => {
  const svc = service('web', { ports: [{ port: 80, targetPort: 8080 }] });
  svc.metadata.namespace = 'default';
  const pods = Array.from({ length: 250 }, (_, i) => ({
    metadata: {
      name: `p${String(i).padStart(3, '0')}`,
      namespace: 'default',
      uid: `u${i}`,
      labels: { app: 'web' },
    },
    spec: { nodeName: 'n1', containers: [] },
    status: { podIP: `10.88.${i >> 8}.${i & 255}`, conditions: [{ type: 'Ready', status: 'True' }] },
  }));

  it('cuts endpoints into slices of 100, sorted, independent of input order', () => {
    const out = desiredSlices(svc, pods);
    expect(out.map((s) => s.endpoints.length)).toEqual([100, 100, 50]);
    expect(desiredSlices(svc, [...pods].reverse())).toEqual(out);
  });

  it('skips finished pods and other namespaces', () => {
    const finished = { ...pods[0], status: { ...pods[0].status, phase: 'Succeeded' } };
    const elsewhere = { ...pods[1], metadata: { ...pods[1].metadata, namespace: 'other' } };
    expect(desiredSlices(svc, [finished, elsewhere])).toEqual([{ ports: [], endpoints: [] }]);
  });
});
