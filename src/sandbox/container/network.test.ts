// Containers on pod networks: a container serving HTTP on its pod address and on a hostPort of the node
// (127.0.0.1), two containers of one pod sharing its namespace, the pod's /etc files, and a network that
// goes away with the pod. A test bridge, range and chain prefix of its own; traffic only to pod
// addresses on that bridge and to 127.0.0.1. Needs root; skipped otherwise.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodNetwork } from '../../net/pod-network.ts';
import { inNetns, networkingUnavailable, removeStaleTestBridges, tracesOf } from '../../net/test-support.ts';
import { ContainerDriver } from './driver.ts';
import {
  buildTestRootfs,
  containerSpec,
  containersUnavailable,
  eventually,
  tempDir,
  type CapturedLog,
} from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const unavailable = containersUnavailable('runc') ?? networkingUnavailable();
if (unavailable) console.warn(`skipping container network tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const netOpts = {
  bridge: `stct${tag}`,
  subnet: '10.89.20.0/24',
  chainPrefix: `STCT${tag}`,
  netnsPrefix: `stct${tag}-`,
  vethPrefix: 'stct',
};

describe.skipIf(unavailable)('ContainerDriver with a PodNetwork', () => {
  let tmp: ReturnType<typeof tempDir>;
  let net: PodNetwork;
  let driver: ContainerDriver;
  const started: string[] = [];

  beforeAll(() => {
    removeStaleTestBridges('stct', netOpts.bridge);
    buildTestRootfs();
    tmp = tempDir('strata-ctnet-');
    net = new PodNetwork({ stateDir: join(tmp.path, 'net'), ...netOpts });
    driver = new ContainerDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      cgroupParent: `strata-ctnet-${process.pid}`,
      runDir: `/run/strata-test-${process.pid}-net`,
      network: net,
    });
  });
  afterAll(async () => {
    try {
      for (const id of started) await driver?.destroy(id).catch(() => {});
      await driver?.shutdown();
    } finally {
      await net?.uninstall();
      tmp?.remove();
      rmSync(`/run/strata-test-${process.pid}-net`, { recursive: true, force: true });
    }
  });

  it('serves HTTP on the pod address and on a hostPort at 127.0.0.1; a sidecar shares localhost', async () => {
    const web = containerSpec({
      podUid: `web-${tag}`,
      podName: 'web',
      args: [
        'sh',
        '-c',
        'mkdir -p /tmp/www && echo "hello from $(hostname)" > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www',
      ],
      // A non-root user binds port 80: the pod's sysctl opens low ports (no NET_BIND_SERVICE needed).
      options: { securityContext: { runAsUser: 65534 } },
    });
    started.push(web.id);
    expect(driver.capabilities.podNetwork).toBe(true);
    const handle = await driver.start(web);
    const pod = net.get(web.podUid)!;
    expect(pod.ip).toMatch(/^10\.89\.20\./);
    // start() hands the pod's address back: the agent never asks the network for it.
    expect(handle.podIP).toBe(pod.ip);
    await driver.publishHostPorts(web.podUid, [{ containerPort: 80, hostPort: 38180 }]);

    await eventually(() => {
      try {
        return inNetns(`${netOpts.netnsPrefix}${web.podUid}`, [
          'busybox',
          'wget',
          '-q',
          '-O',
          '-',
          'http://127.0.0.1/',
        ]).includes('hello');
      } catch {
        return false;
      }
    }, 10_000);
    expect(await (await fetch(`http://${pod.ip}/`)).text()).toBe('hello from web\n');
    expect(await (await fetch('http://127.0.0.1:38180/')).text()).toBe('hello from web\n');

    // A second container of the same pod: same namespace, so localhost reaches the server.
    const sidecar = containerSpec({
      podUid: web.podUid,
      podName: 'web',
      containerName: 'sidecar',
      args: [
        'sh',
        '-c',
        'wget -q -O - http://127.0.0.1/; grep web /etc/hosts; ping -c 1 -W 2 ' + pod.gateway + ' 2>&1; true',
      ],
    });
    started.push(sidecar.id);
    await driver.start(sidecar);
    const result = await driver.wait(sidecar.id);
    const out = (sidecar.log as CapturedLog).stdout();
    expect(result.exitCode).toBe(0);
    expect(out).toContain('hello from web\n');
    expect(out).toContain(`${pod.ip}\tweb\n`);
    // No CAP_NET_RAW: busybox ping (raw sockets only) is refused.
    expect(out).toContain('ping: permission denied');
    await driver.destroy(sidecar.id);

    // The pod goes away: its containers, then its network.
    await driver.destroy(web.id);
    await driver.releasePod(web.podUid);
    expect(
      tracesOf(web.podUid, { netns: `${netOpts.netnsPrefix}${web.podUid}`, veth: pod.hostInterface }),
    ).toEqual([]);
    await expect(fetch('http://127.0.0.1:38180/', { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
  });

  it('keeps the pod network while a container of the pod remains', async () => {
    const a = containerSpec({ podUid: `keep-${tag}`, args: ['sleep', '1000'] });
    started.push(a.id);
    await driver.start(a);
    await driver.releasePod(a.podUid); // a container is still there: no-op
    expect(net.get(a.podUid)).toBeDefined();
    await driver.destroy(a.id);
    await driver.releasePod(a.podUid);
    expect(net.get(a.podUid)).toBeUndefined();
  });
});
