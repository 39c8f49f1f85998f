// The allocator on a real sqlite-backed ObjectStore, through the same create path every writer takes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { objectStoreListWatch } from '../../store/list-watch.ts';
import { openTestObjects, until, type TestObjects } from '../../controllers/testutil.ts';
import { Informer } from '../../lib/informer.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import { startTestServer } from '../testing.ts';
import { startServiceAllocation } from './install.ts';
import { ensureKubernetesService } from './kubernetes-service.ts';
import { NODE_PORT_RECORDS, SERVICE_IP_RECORDS, ServiceAllocator } from './service-allocator.ts';

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function svc(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec },
  };
}

async function refusal(p: Promise<unknown>): Promise<{ code: number; causes: any[] }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, causes: err.status.details?.causes ?? [] };
    throw err;
  }
  throw new Error('expected the write to be refused');
}

async function records(objects: ObjectStore): Promise<string[]> {
  const ips = await objects.store.list(SERVICE_IP_RECORDS);
  const ports = await objects.store.list(NODE_PORT_RECORDS);
  return [...ips.items, ...ports.items].map((kv) => kv.key).sort();
}

let t: TestObjects;
let objects: ObjectStore;
let allocator: ServiceAllocator;

function useAllocator(opts: { serviceCidr?: string; nodePortRange?: string; leakGraceMs?: number } = {}) {
  allocator = new ServiceAllocator({ objects, log: quiet, ...opts });
  objects.addCreateHook(allocator.createHook);
  objects.addPrepareUpdateHook(allocator.prepareUpdateHook);
  objects.addUpdateHook(allocator.updateHook);
  return allocator;
}

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});
afterEach(async () => {
  await allocator?.stop();
  await t.close();
});

describe('ServiceAllocator on create', () => {
  it('gives a ClusterIP Service a free address of the range, with the IP family fields defaulted', async () => {
    useAllocator();
    const s = await objects.create(svc('web'));
    expect(allocator.cidr.allocatable(s.spec.clusterIP)).toBe(true);
    expect(s.spec.clusterIP).not.toBe('10.96.0.1'); // kept for default/kubernetes
    expect(s.spec).toMatchObject({
      clusterIPs: [s.spec.clusterIP],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
    });
    expect(await records(objects)).toEqual([`${SERVICE_IP_RECORDS}${s.spec.clusterIP}`]);
  });

  it('takes a requested address once: the second request is a 422 naming spec.clusterIPs[0]', async () => {
    useAllocator();
    await objects.create(svc('a', { clusterIP: '10.96.0.10' }));
    const before = await records(objects);
    const r = await refusal(objects.create(svc('b', { clusterIP: '10.96.0.10' })));
    expect(r.code).toBe(422);
    expect(r.causes).toEqual([
      {
        field: 'spec.clusterIPs[0]',
        reason: 'FieldValueInvalid',
        message:
          'Invalid value: "10.96.0.10": failed to allocate IP 10.96.0.10: provided IP is already allocated',
      },
    ]);
    expect(await records(objects)).toEqual(before);
    expect(await objects.get(SERVICE, 'default', 'b')).toBeUndefined();
  });

  it('refuses an address outside the service CIDR', async () => {
    useAllocator();
    const r = await refusal(objects.create(svc('a', { clusterIP: '10.97.0.5' })));
    expect(r.causes[0]).toMatchObject({ field: 'spec.clusterIPs[0]' });
    expect(r.causes[0].message).toContain('The range of valid IPs is 10.96.0.0/16');
    expect(await records(objects)).toEqual([]);
  });

  it('allocates node ports from the range and refuses a taken one without keeping the cluster IP', async () => {
    useAllocator({ nodePortRange: '30000-30100' });
    const a = await objects.create(
      svc('a', {
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80 },
          { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
        ],
      }),
    );
    const [http, dns] = a.spec.ports;
    expect(http.nodePort).toBeGreaterThanOrEqual(30000);
    expect(http.nodePort).toBeLessThanOrEqual(30100);
    expect(http.nodePort).not.toBe(30053);
    expect(dns.nodePort).toBe(30053);
    const before = await records(objects);
    expect(before).toHaveLength(3);

    const taken = await refusal(
      objects.create(svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30053 }] })),
    );
    expect(taken.causes).toEqual([
      {
        field: 'spec.ports[0].nodePort',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: 30053: provided port is already allocated',
      },
    ]);
    const outside = await refusal(
      objects.create(svc('c', { type: 'NodePort', ports: [{ port: 80, nodePort: 31000 }] })),
    );
    expect(outside.causes[0].message).toBe(
      'Invalid value: 31000: provided port is not in the valid range. The range of valid ports is 30000-30100',
    );
    // Neither refused create kept the cluster IP it had claimed first.
    expect(await records(objects)).toEqual(before);
  });

  it('lets one Service use a node port number for both TCP and UDP', async () => {
    useAllocator();
    const s = await objects.create(
      svc('dns', {
        type: 'NodePort',
        ports: [
          { name: 'tcp', port: 53, nodePort: 30053 },
          { name: 'udp', port: 53, protocol: 'UDP', nodePort: 30053 },
        ],
      }),
    );
    expect(s.spec.ports.map((p: any) => p.nodePort)).toEqual([30053, 30053]);
  });

  it('never hands out a value twice under concurrent creates, and says when the range is full', async () => {
    // /28: 16 addresses, minus network, broadcast and the kubernetes address = 13 dynamic ones.
    useAllocator({ serviceCidr: '10.100.0.0/28', nodePortRange: '30000-30019' });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => objects.create(svc(`s${i}`, { type: 'NodePort' }))),
    );
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(ok).toHaveLength(13);
    const ips = ok.map((s) => s.spec.clusterIP);
    const ports = ok.map((s) => s.spec.ports[0].nodePort);
    expect(new Set(ips).size).toBe(13);
    expect(new Set(ports).size).toBe(13);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((failed.reason as ApiError).code).toBe(422);
    expect((failed.reason as ApiError).message).toContain('range is full');
    // Only the 13 Services' values are recorded: the refused ones took nothing.
    expect(await records(objects)).toHaveLength(26);
  });

  it('gives headless and ExternalName Services no address', async () => {
    useAllocator();
    const headless = await objects.create(svc('h', { clusterIP: 'None' }));
    expect(headless.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4'] });
    const ext = await objects.create(
      svc('e', {
        type: 'ExternalName',
        externalName: 'db.example.com',
        selector: undefined,
        ports: undefined,
      }),
    );
    expect(ext.spec.clusterIP).toBeUndefined();
    expect(ext.spec.ipFamilies).toBeUndefined();
    expect(await records(objects)).toEqual([]);
  });

  it('refuses dual-stack requests on this single-stack cluster', async () => {
    useAllocator();
    const r = await refusal(objects.create(svc('a', { ipFamilies: ['IPv6'] })));
    expect(r.causes[0]).toMatchObject({ field: 'spec.ipFamilies[0]' });
    const p = await refusal(objects.create(svc('b', { ipFamilyPolicy: 'RequireDualStack' })));
    expect(p.causes[0]).toMatchObject({ field: 'spec.ipFamilyPolicy' });
  });

  it('checks but claims nothing on a dry run', async () => {
    useAllocator();
    await objects.create(svc('a', { clusterIP: '10.96.0.10' }));
    const before = await records(objects);
    const dry = svc('b', { type: 'NodePort' }) as any;
    await allocator.createHook(dry, SERVICE, { dryRun: true });
    expect(allocator.cidr.allocatable(dry.spec.clusterIP)).toBe(true);
    expect(dry.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(await records(objects)).toEqual(before);
    const taken = svc('c', { clusterIP: '10.96.0.10' });
    await expect(allocator.createHook(taken, SERVICE, { dryRun: true })).rejects.toThrow(
      'provided IP is already allocated',
    );
  });

  it('claims nothing for a create that will fail because the name is taken', async () => {
    useAllocator();
    await objects.create(svc('a'));
    const before = await records(objects);
    const r = await refusal(objects.create(svc('a', { clusterIP: '10.96.0.20' })));
    expect(r.code).toBe(409);
    expect(await records(objects)).toEqual(before);
  });
});

describe('ServiceAllocator on update', () => {
  it('keeps what the Service held when a replacement leaves it out, and refuses a new cluster IP', async () => {
    useAllocator();
    const current = await objects.create(svc('a', { type: 'NodePort' }));
    const next = svc('a', { type: 'NodePort' }) as any;
    next.spec.ports[0].protocol = 'TCP';
    await allocator.admitUpdate(next, current);
    expect(next.spec.clusterIP).toBe(current.spec.clusterIP);
    expect(next.spec.ports[0].nodePort).toBe(current.spec.ports[0].nodePort);

    const moved = svc('a', { clusterIP: '10.96.0.99' });
    const r = await refusal(allocator.admitUpdate(moved, current));
    expect(r.causes[0]).toMatchObject({
      field: 'spec.clusterIPs[0]',
      message: 'Invalid value: "10.96.0.99": field is immutable',
    });
  });

  it('through the store: a PUT without the allocated values keeps them, an added port gets a node port', async () => {
    useAllocator();
    const created = await objects.create(svc('a', { type: 'NodePort' }));
    const replaced = await objects.update(
      svc('a', {
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9090 },
        ],
      }),
    );
    expect(replaced.spec.clusterIP).toBe(created.spec.clusterIP);
    expect(replaced.spec.ports[0].nodePort).toBe(created.spec.ports[0].nodePort);
    expect(replaced.spec.ports[1].nodePort).toBeGreaterThanOrEqual(30000);
    expect(await records(objects)).toContain(`${NODE_PORT_RECORDS}${replaced.spec.ports[1].nodePort}`);
    const r = await refusal(
      objects.mutate(SERVICE, 'default', 'a', (s) => ({
        ...s,
        spec: { ...s.spec, clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.99'] },
      })),
    );
    expect(r.causes[0]).toMatchObject({ field: 'spec.clusterIPs[0]' });
  });

  it('drops what the old type used when the type changes (as kubectl apply sends it: a merge over the live object)', async () => {
    useAllocator();
    const np = await objects.create(svc('a', { type: 'NodePort' }));
    const asClusterIP = await objects.mutate(SERVICE, 'default', 'a', (s) => ({
      ...s,
      spec: { ...s.spec, type: 'ClusterIP' },
    }));
    expect(asClusterIP.spec.ports[0].nodePort).toBeUndefined();
    expect(asClusterIP.spec.externalTrafficPolicy).toBeUndefined();
    expect(asClusterIP.spec.clusterIP).toBe(np.spec.clusterIP);
    const ext = await objects.mutate(SERVICE, 'default', 'a', (s) => ({
      ...s,
      spec: {
        ...s.spec,
        type: 'ExternalName',
        externalName: 'db.example.com',
        selector: undefined,
        ports: undefined,
      },
    }));
    expect(ext.spec.clusterIP).toBeUndefined();
    expect(ext.spec.ipFamilies).toBeUndefined();
    // An explicit nodePort on a ClusterIP Service is still refused.
    const r = await refusal(
      objects.mutate(SERVICE, 'default', 'a', () => svc('a', { ports: [{ port: 80, nodePort: 30001 }] })),
    );
    expect(r.causes[0]).toMatchObject({ field: 'spec.ports[0].nodePort' });
  });

  it('a dry-run create through the store claims nothing', async () => {
    useAllocator();
    const dry = await objects.create(svc('a', { type: 'NodePort' }), undefined, { dryRun: true });
    expect(allocator.cidr.allocatable(dry.spec.clusterIP)).toBe(true);
    expect(await records(objects)).toEqual([]);
  });

  it('allocates node ports when a ClusterIP Service becomes a NodePort', async () => {
    useAllocator();
    const current = await objects.create(svc('a'));
    const next = {
      ...current,
      spec: { ...current.spec, type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] },
    };
    await allocator.admitUpdate(next, current);
    expect(next.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(await records(objects)).toContain(`${NODE_PORT_RECORDS}${next.spec.ports[0].nodePort}`);
  });
});

describe('ServiceAllocator following Services', () => {
  let informer: Informer<any>;
  afterEach(() => informer?.stop());

  it('frees what a deleted Service held, and what an updated one no longer uses', async () => {
    informer = new Informer(objectStoreListWatch(objects, SERVICE), { onError() {} }).start();
    ({ allocator } = await startServiceAllocation({ objects, services: informer, log: quiet }));
    await informer.waitForSync();
    const a = await objects.create(
      svc('a', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }),
    );
    await objects.mutate(SERVICE, 'default', 'a', (s) => ({
      ...s,
      spec: {
        ...s.spec,
        type: 'ClusterIP',
        externalTrafficPolicy: undefined,
        ports: [{ port: 80, targetPort: 80 }],
      },
    }));
    await until(
      async () => !(await records(objects)).includes(`${NODE_PORT_RECORDS}30080`),
      'node port freed',
    );
    expect(await records(objects)).toEqual([`${SERVICE_IP_RECORDS}10.96.0.10`]);
    await objects.delete(SERVICE, 'default', a.metadata.name);
    await until(async () => (await records(objects)).length === 0, 'address freed');
    // Free again: another Service may take it.
    expect((await objects.create(svc('b', { clusterIP: '10.96.0.10' }))).spec.clusterIP).toBe('10.96.0.10');
  });

  it('repair records values in use and frees old records nobody uses', async () => {
    useAllocator({ leakGraceMs: 1000 });
    const a = await objects.create(svc('a', { clusterIP: '10.96.0.10' }));
    // A leak (a create that failed after its hook) and a lost record (e.g. state restored from a backup).
    await objects.store.create(`${SERVICE_IP_RECORDS}10.96.0.77`, {
      owner: 'default/gone',
      at: new Date(Date.now() - 5000).toISOString(),
    });
    await objects.store.create(`${SERVICE_IP_RECORDS}10.96.0.78`, {
      owner: 'default/creating',
      at: new Date().toISOString(),
    });
    await objects.store.delete(`${SERVICE_IP_RECORDS}10.96.0.10`);
    const report = await allocator.repair();
    expect(report).toEqual({ recorded: 1, freed: 1, conflicts: [] });
    // The fresh record is left alone: its Service's write may still be on its way.
    expect(await records(objects)).toEqual([
      `${SERVICE_IP_RECORDS}10.96.0.10`,
      `${SERVICE_IP_RECORDS}10.96.0.78`,
    ]);
    const again = await allocator.repair([a]);
    expect(again).toEqual({ recorded: 0, freed: 0, conflicts: [] });
  });
});

describe('default/kubernetes', () => {
  it('is created with the first address and an EndpointSlice at the API server, and follows its address', async () => {
    useAllocator();
    await ensureKubernetesService(objects, allocator, { address: '10.88.0.1', port: 6443 });
    const s = await objects.get(SERVICE, 'default', 'kubernetes');
    expect(s.spec).toMatchObject({
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
    });
    expect(s.spec.selector).toBeUndefined();
    const slice = await objects.get(SLICE, 'default', 'kubernetes');
    expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('kubernetes');
    expect(slice.endpoints[0].addresses).toEqual(['10.88.0.1']);
    const rv = slice.metadata.resourceVersion;
    await ensureKubernetesService(objects, allocator, { address: '10.88.0.1', port: 6443 });
    expect((await objects.get(SLICE, 'default', 'kubernetes')).metadata.resourceVersion).toBe(rv);
    await ensureKubernetesService(objects, allocator, { address: '192.168.1.5', port: 7443 });
    expect((await objects.get(SLICE, 'default', 'kubernetes')).endpoints[0].addresses).toEqual([
      '192.168.1.5',
    ]);
    expect((await objects.get(SERVICE, 'default', 'kubernetes')).spec.ports[0].targetPort).toBe(7443);
    // Nobody else can take 10.96.0.1.
    const r = await refusal(objects.create(svc('x', { clusterIP: '10.96.0.1' })));
    expect(r.code).toBe(422);
  });
});

describe('through the HTTP API', () => {
  it('answers a taken address with a 422 Status naming the field, and changes nothing', async () => {
    const server = await startTestServer();
    try {
      const alloc = new ServiceAllocator({ objects: server.objects, log: quiet });
      server.objects.addCreateHook(alloc.createHook);
      server.objects.addUpdateHook(alloc.updateHook);
      const url = '/api/v1/namespaces/default/services';
      expect(
        (await server.req('POST', url, { body: svc('a', { clusterIP: '10.96.0.10' }) })).statusCode,
      ).toBe(201);
      const res = await server.req('POST', url, { body: svc('b', { clusterIP: '10.96.0.10' }) });
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({
        kind: 'Status',
        reason: 'Invalid',
        message:
          'Service "b" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.10": failed to allocate IP 10.96.0.10: provided IP is already allocated',
        details: { name: 'b', kind: 'Service', causes: [{ field: 'spec.clusterIPs[0]' }] },
      });
      expect((await server.req('GET', `${url}/b`)).statusCode).toBe(404);
      expect(await records(server.objects)).toEqual([`${SERVICE_IP_RECORDS}10.96.0.10`]);
      // dryRun=All answers with an address and claims none.
      const dry = await server.req('POST', `${url}?dryRun=All`, { body: svc('c', { type: 'NodePort' }) });
      expect(dry.statusCode).toBe(201);
      expect(dry.json().spec.clusterIP).toMatch(/^10\.96\./);
      expect(await records(server.objects)).toEqual([`${SERVICE_IP_RECORDS}10.96.0.10`]);
    } finally {
      await server.close();
    }
  });
});
