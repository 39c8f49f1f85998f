// The whole chain on one machine, every part real: a Service created through the store gets its cluster
// IP and node port from the allocator, the endpoints controller lists the matching pods (with IPs from
// the real PodNetwork, busybox httpd inside), the ServiceProxy writes the kernel rules, and HTTP through
// the cluster IP and the node port reaches both pods. Test bridge, range, table and service CIDR of its
// own; the service CIDR is routed to the test bridge so nothing leaves the machine. Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../api/index.ts';
import { EndpointSliceController } from '../../controllers/endpointslice.ts';
import { objectStoreListWatch } from '../../store/list-watch.ts';
import { SharedInformers } from '../../store/shared-informers.ts';
import {
  POD,
  openTestObjects,
  podObject,
  setPodReady,
  until,
  type TestObjects,
} from '../../controllers/testutil.ts';
import { startServiceAllocation, type RunningServiceAllocation } from '../../server/allocators/index.ts';
import { run, which } from '../../lib/command.ts';
import { PodNetwork } from '../pod-network.ts';
import { inNetns, networkingUnavailable } from '../test-support.ts';
import { ServiceProxy } from './service-proxy.ts';

const SERVICE = kindFor('v1', 'Service')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
const unavailable =
  networkingUnavailable() ?? (which('nft') && which('busybox') ? undefined : 'nft or busybox not found');

const tag = String(process.pid % 100000);
const net3 = 30 + ((process.pid + 7) % 200);
const opts = {
  bridge: `stch${tag}`,
  subnet: `10.89.${net3}.0/24`,
  chainPrefix: `STCH${tag}`,
  netnsPrefix: `stch${tag}-`,
  vethPrefix: 'stch',
};
const serviceCidr = `10.98.${net3}.0/24`;
const portBase = 30000 + (process.pid % 2000);

let dir: string;
let t: TestObjects;
let net: PodNetwork;
let informers: SharedInformers;
let controller: EndpointSliceController;
let allocation: RunningServiceAllocation;
let proxy: ServiceProxy;
const servers: ChildProcess[] = [];

async function serve(pod: string, text: string): Promise<void> {
  const www = mkdtempSync(join(dir, 'www-'));
  writeFileSync(join(www, 'index.html'), text);
  const netns = `${opts.netnsPrefix}${pod}`;
  servers.push(
    spawn(which('ip')!, ['netns', 'exec', netns, which('busybox')!, 'httpd', '-f', '-p', '8080', '-h', www], {
      stdio: 'ignore',
    }),
  );
  await until(() => {
    inNetns(netns, ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 3000);
    return true;
  }, `httpd in ${pod}`);
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000), headers: { connection: 'close' } });
  return res.text();
}

describe.skipIf(unavailable)(
  'Service chain (root): allocator → endpoints controller → proxy → kernel',
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'strata-chain-'));
      t = await openTestObjects();
      net = new PodNetwork({ stateDir: join(dir, 'net'), ...opts });
      informers = new SharedInformers(t.objects);
      allocation = await startServiceAllocation({
        objects: t.objects,
        services: informers.informerFor(SERVICE),
        serviceCidr,
        nodePortRange: `${portBase}-${portBase + 9}`,
      });
      controller = new EndpointSliceController({ objects: t.objects, informers });
      const started = controller.start();
      informers.start();
      await started;
    });

    afterAll(async () => {
      for (const s of servers) s.kill('SIGKILL');
      await proxy?.stop({ teardown: true });
      await controller?.stop();
      await allocation?.stop();
      informers?.stop();
      await net?.uninstall();
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a Deployment-like set of pods is reached through its Service by cluster IP and node port', async () => {
      for (const [name, text] of [
        ['web-1', 'one'],
        ['web-2', 'two'],
      ]) {
        const { ip } = await net.setup(name);
        await serve(name, text);
        const pod = podObject({ name, nodeName: 'n1' });
        pod.metadata.labels = { app: 'web' };
        pod.spec.containers[0].ports = [{ name: 'http', containerPort: 8080 }];
        await setPodReady(t.objects, await t.objects.create(pod));
        await t.objects.mutate(
          POD,
          'default',
          name,
          (p) => ({ ...p, status: { ...p.status, podIP: ip } }),
          'status',
        );
      }
      // The bridge exists once the first pod is set up.
      await run('ip', ['route', 'replace', serviceCidr, 'dev', opts.bridge]);
      const svc = await t.objects.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          type: 'NodePort',
          selector: { app: 'web' },
          ports: [{ name: 'http', port: 80, targetPort: 'http' }],
        },
      });
      expect(svc.spec.clusterIP.startsWith(`10.98.${net3}.`)).toBe(true);
      const nodePort = svc.spec.ports[0].nodePort;
      proxy = new ServiceProxy({
        table: `stchain${tag}`,
        nodeName: 'n1',
        clusterCidr: opts.subnet,
        serviceCidr,
        coalesceMs: 10,
      });
      await proxy.start({
        services: objectStoreListWatch(t.objects, SERVICE),
        endpointSlices: objectStoreListWatch(t.objects, SLICE),
      });
      const seen = new Set<string>();
      await until(async () => {
        seen.add(await get(`http://${svc.spec.clusterIP}/`).catch(() => ''));
        return seen.has('one') && seen.has('two');
      }, 'both pods through the cluster IP');
      expect(await get(`http://127.0.0.1:${nodePort}/`)).toMatch(/^(one|two)$/);

      // A pod that stops being ready leaves the rotation.
      await setPodReady(t.objects, await t.objects.get(POD, 'default', 'web-2'), false);
      await until(async () => {
        for (let i = 0; i < 10; i++) if ((await get(`http://${svc.spec.clusterIP}/`)) !== 'one') return false;
        return true;
      }, 'only web-1 answering');
    });
  },
);
