// ServiceProxy following a real store (the same informers the agent feeds from the API) and writing a
// test table of its own in the real kernel. Only rules are checked here; traffic is data-plane.test.ts's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { objectStoreListWatch } from '../../store/list-watch.ts';
import { openTestObjects, until, type TestObjects } from '../../controllers/testutil.ts';
import { which } from '../../lib/command.ts';
import { networkingUnavailable } from '../test-support.ts';
import { nftListElements, nftListTable } from './nft.ts';
import { ServiceProxy } from './service-proxy.ts';

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
const unavailable = networkingUnavailable() ?? (which('nft') ? undefined : 'nft not found');
const table = `stsvproxy${process.pid % 100000}`;
const ip = `10.97.${(process.pid % 200) + 30}`;

let t: TestObjects;
let proxy: ServiceProxy;

beforeEach(async () => {
  t = await openTestObjects();
});
afterEach(async () => {
  await proxy?.stop({ teardown: true });
  await t.close();
});

const keys = async (map: string) =>
  JSON.stringify(await nftListElements('ip', table, 'map', map).catch(() => []));

describe.skipIf(unavailable)('ServiceProxy (root)', () => {
  it('follows Services and EndpointSlices into the kernel, keeps rules on stop, removes them on teardown', async () => {
    const { objects } = t;
    await objects.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { clusterIP: `${ip}.10`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    const syncs: number[] = [];
    proxy = new ServiceProxy({ table, coalesceMs: 10, onSync: (r) => syncs.push(r.servicePorts) });
    const first = await proxy.start({
      services: objectStoreListWatch(objects, SERVICE),
      endpointSlices: objectStoreListWatch(objects, SLICE),
    });
    expect(first).toMatchObject({ full: true, servicePorts: 1 });
    // No endpoints yet: the Service port is rejected.
    expect(await keys('no-endpoint-services')).toContain(`${ip}.10`);
    await objects.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.88.77.2'] }],
      ports: [{ name: 'http', port: 8080 }],
    });
    await until(async () => (await keys('service-ips')).includes(`${ip}.10`), 'the service map element');
    expect(await keys('no-endpoint-services')).not.toContain(`${ip}.10`);
    await objects.delete(SERVICE, 'default', 'web');
    await until(async () => !(await keys('service-ips')).includes(`${ip}.10`), 'the element removed');
    const chains = (await nftListTable('ip', table))!.chains;
    expect([...chains].filter((c) => c.includes('default/web'))).toEqual([]);
    expect(syncs.length).toBeGreaterThan(0);

    await proxy.stop();
    expect(await nftListTable('ip', table)).toBeDefined(); // an agent restart leaves the rules serving
    await proxy.stop({ teardown: true });
    expect(await nftListTable('ip', table)).toBeUndefined();
  });
});
