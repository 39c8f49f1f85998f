// Pod networking across hosts, with hosts made of network namespaces on this machine: a test bridge
// (smh-br, 10.249.0.1/24 on this side) and two "hosts", smh-h1 and smh-h2 (10.249.0.11 and .12), each a
// netns with a veth on that bridge and no other route: traffic stays on these addresses. One `strata
// server` listens on 10.249.0.1 and allocates pod ranges (--cluster-cidr 10.242.0.0/16); each host runs
// `strata agent` inside its netns, with its own data dir, pod bridge (smh1, smh2: their own namespace,
// veth and rule names), image store, cgroup parent and per-boot state (runtime root, pid and exit files).
//
// Checks: each Node gets its own /24 and every agent routes the other's over VXLAN; a pod on h1 reaches a
// Service whose only endpoint is on h2 by ClusterIP and by DNS name (and the pod itself by its address,
// source address kept), so do h1 itself (cluster IP) and this machine through h1's node port; partitioning h2 (its link down) makes its pods be replaced on h1 after the eviction
// timeout, and when the link comes back h2 rejoins: its old pods' sandboxes go, no pod is duplicated.
//
// Timings on two shared cores: node grace period 10 s, pod eviction timeout 10 s, agent lease 10 s; waits up
// to 120 s for starts and for the partition to play out. The file takes 110–220 s here.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Client } from '../../src/client/client.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { which } from '../../src/lib/command.ts';
import { NODE, ROOT, waitFor } from './harness.ts';

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'network-namespace hosts need root';
  for (const bin of ['ip', 'bridge', 'runc', 'conmon', 'nft', 'iptables'])
    if (!which(bin)) return `${bin} is not installed`;
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (the test image)';
  return undefined;
}
const why = missing();
if (why) console.warn(`skipping the multi-host network e2e: ${why}`);

const MAIN = join(ROOT, 'src/cli/main.ts');
const POD = kindFor('v1', 'Pod')!;
const NODE_KIND = kindFor('v1', 'Node')!;
const SLICE = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
const DEPLOYMENT = kindFor('apps/v1', 'Deployment')!;
const SERVICE = kindFor('v1', 'Service')!;

const BRIDGE = 'smh-br';
const SERVER_IP = '10.249.0.1';
const CLUSTER_CIDR = '10.242.0.0/16';
const HOSTS = [
  { ns: 'smh-h1', ip: '10.249.0.11', veth: 'smh-v1', bridge: 'smh1', node: 'mh-h1' },
  { ns: 'smh-h2', ip: '10.249.0.12', veth: 'smh-v2', bridge: 'smh2', node: 'mh-h2' },
] as const;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });
const quiet = (f: () => unknown) => {
  try {
    f();
  } catch {
    /* not there */
  }
};

/**
 * A "host"'s mounts, as `ip netns exec` makes them (a mount namespace of its own, slave to this one, so
 * nothing mounted there comes back; a sysfs of the host's network namespace on /sys, so /sys/class/net
 * shows its links) — but with the machine's cgroup tree kept on /sys/fs/cgroup, which `ip netns exec`
 * hides: the container tier needs it.
 */
const HOST_MOUNTS = [
  'unshare',
  '--mount',
  '--propagation',
  'slave',
  '--',
  'sh',
  '-c',
  'set -e; cg=$(mktemp -d); mount --rbind /sys/fs/cgroup "$cg"; umount -l /sys; mount -t sysfs sysfs /sys; ' +
    'mount --rbind "$cg" /sys/fs/cgroup; umount -l "$cg"; rmdir "$cg"; exec "$@"',
];

interface Proc {
  proc: ChildProcess;
  out: () => string;
}

function spawnStrata(args: string[], netns?: string): Proc {
  const cmd = [NODE, '--disable-warning=ExperimentalWarning', MAIN, ...args];
  // Its own process group, so that the whole "host" can be killed at once.
  const proc = netns
    ? spawn('nsenter', [`--net=/run/netns/${netns}`, '--', ...HOST_MOUNTS, 'sh', ...cmd], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, out: () => out };
}

function stopProc(
  p: Proc | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 30_000,
): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      quiet(() => process.kill(-p.proc.pid!, 'SIGKILL'));
    }, timeoutMs);
    p.proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    quiet(() => process.kill(-p.proc.pid!, signal));
  });
}

/** A node -e script printing the body of GET url (retried for up to 20 s: rules and routes may lag). */
const fetchScript = (url: string) =>
  `(async()=>{for(let i=0;i<20;i++){try{const r=await fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(3000)});` +
  `process.stdout.write(await r.text());return}catch{await new Promise(r=>setTimeout(r,1000))}}process.exit(1)})()`;

function cli(args: string[]): string {
  const r = spawnSync(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** Removes the test's links and namespaces, and pod namespaces its agents may have left. */
function cleanupNetwork(): void {
  for (const h of HOSTS) {
    quiet(() => ip('netns', 'del', h.ns));
    quiet(() => ip('link', 'del', h.veth));
    for (const n of existsSync('/run/netns') ? readdirSync('/run/netns') : [])
      if (n.startsWith(`${h.bridge}-`)) quiet(() => ip('netns', 'del', n));
  }
  quiet(() => ip('link', 'del', BRIDGE));
  // The hosts' (now empty) cgroup parents and per-boot directories.
  for (const h of HOSTS) {
    rmSync(`/run/strata-${h.bridge}`, { recursive: true, force: true });
    for (const c of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : [])
      for (const parent of [`strata-${h.bridge}`, `strata-${h.bridge}-microvm`])
        quiet(() => rmdirSync(join('/sys/fs/cgroup', c, parent)));
  }
}

describe.skipIf(why)('pods across network-namespace hosts', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-multihost-net-'));
  let server: Proc;
  const agents = new Map<string, Proc>();
  let client: Client;
  let agentArgs: (h: (typeof HOSTS)[number]) => string[];

  beforeAll(async () => {
    cleanupNetwork();
    execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    ip('addr', 'add', `${SERVER_IP}/24`, 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');
    for (const h of HOSTS) {
      ip('netns', 'add', h.ns);
      ip('link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      ip('link', 'set', h.veth, 'master', BRIDGE, 'up');
      ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      // The Service range must be routable for the host's own connections to a cluster IP to reach the
      // nat OUTPUT hook (a real host's default route does this); DNAT then sends them to the endpoint.
      ip('-n', h.ns, 'route', 'add', '10.96.0.0/16', 'dev', 'eth0');
    }

    const dir = join(root, 'server');
    const port = await freePort();
    server = spawnStrata([
      'server',
      '--data-dir',
      dir,
      '--host',
      SERVER_IP,
      '--port',
      String(port),
      '--tls-san',
      SERVER_IP,
      '--advertise-address',
      'none',
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      '--cluster-cidr',
      CLUSTER_CIDR,
      '--node-grace-period',
      '10s',
      '--pod-eviction-timeout',
      '10s',
    ]);
    await waitFor(
      'the server listening',
      () => {
        if (server.proc.exitCode !== null) throw new Error(`server exited: ${server.out()}`);
        return server.out().includes('listening on');
      },
      120_000,
    );
    const tls = join(dir, 'tls');
    client = new Client({
      server: `https://${SERVER_IP}:${port}`,
      tls: {
        ca: readFileSync(join(tls, 'ca.crt'), 'utf8'),
        cert: readFileSync(join(tls, 'admin.crt'), 'utf8'),
        key: readFileSync(join(tls, 'admin.key'), 'utf8'),
      },
    });
    const caHash = readFileSync(join(tls, 'ca.hash'), 'utf8').trim();
    const token = cli(['--kubeconfig', join(dir, 'kubeconfig'), 'token', 'create', '--ttl', '1h']);
    agentArgs = (h) => [
      'agent',
      '--server',
      `https://${SERVER_IP}:${port}`,
      '--token',
      token,
      '--ca-cert-hash',
      caHash,
      '--data-dir',
      join(root, h.node),
      '--node-name',
      h.node,
      '--address',
      h.ip,
      '--runtimes',
      'wasm,container',
      '--pod-bridge',
      h.bridge,
      '--http-port',
      '0',
      '--https-port',
      '0',
      '--lease-duration',
      '10',
      // Each host's sandboxes in cgroups and per-boot state of their own, as on separate machines.
      '--cgroup-parent',
      `strata-${h.bridge}`,
      '--run-dir',
      `/run/strata-${h.bridge}`,
    ];
    for (const h of HOSTS) {
      cli([
        'image',
        'import',
        join(ROOT, 'build/images/busybox'),
        '--name',
        'localhost/busybox:1.0',
        '--root',
        join(root, h.node, 'images'),
      ]);
      agents.set(h.node, spawnStrata(agentArgs(h), h.ns));
    }
    for (const h of HOSTS)
      await waitFor(
        `node ${h.node} Ready`,
        async () => {
          const a = agents.get(h.node)!;
          if (a.proc.exitCode !== null) throw new Error(`agent ${h.node} exited: ${a.out()}`);
          const n = await client.find(NODE_KIND, undefined, h.node);
          return n?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
        },
        120_000,
      );
  }, 400_000);

  afterAll(async () => {
    // Pods first, so that each agent stops its containers and removes their network while it still can.
    if (client) {
      for (const name of ['echo', 'fleet']) await client.delete(DEPLOYMENT, 'default', name).catch(() => {});
      for (const p of (await client.list(POD, 'default').catch(() => ({ items: [] }))).items)
        await client.delete(POD, 'default', p.metadata.name).catch(() => {});
      await waitFor(
        'pods gone',
        async () => (await client.list(POD, 'default')).items.length === 0,
        60_000,
      ).catch((err) => console.warn(`multihost-network cleanup: ${(err as Error).message}`));
    }
    for (const a of agents.values()) await stopProc(a);
    await stopProc(server);
    client?.close();
    cleanupNetwork();
    rmSync(root, { recursive: true, force: true });
  }, 180_000);

  /** What the pods and the agents say, printed when a wait fails. */
  const diagnose = async (err: unknown): Promise<never> => {
    const pods = (await client.list(POD, 'default').catch(() => ({ items: [] }))).items;
    for (const p of pods as any[])
      console.log(
        `pod ${p.metadata.name} on ${p.spec.nodeName}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((c: any) => c.state))}`,
      );
    for (const h of HOSTS) {
      const log = join(root, h.node, 'agent.log');
      if (existsSync(log))
        console.log(
          `${h.node} agent.log (last lines):\n${readFileSync(log, 'utf8').split('\n').slice(-25).join('\n')}`,
        );
    }
    throw err;
  };
  const podLog = async (name: string) =>
    (await client.request('GET', `/api/v1/namespaces/default/pods/${name}/log`)).text();
  const podsOf = async (label: string) =>
    (await client.list(POD, 'default', { labelSelector: label })).items as any[];

  it('gives each node its own pod range and routes the other ranges over VXLAN', async () => {
    const ranges = await Promise.all(
      HOSTS.map(async (h) => (await client.get(NODE_KIND, undefined, h.node)).spec.podCIDR as string),
    );
    expect(new Set(ranges).size).toBe(HOSTS.length);
    for (const r of ranges) expect(r).toMatch(/^10\.242\.\d+\.0\/24$/);
    // h1 routes h2's range through its VXLAN device; its pod bridge carries its own range's gateway.
    await waitFor('h1 routes the range of h2', () =>
      ip('-n', HOSTS[0].ns, 'route', 'show', ranges[1]!).includes('strata.vxlan'),
    );
    expect(ip('-n', HOSTS[0].ns, '-4', 'addr', 'show', 'dev', HOSTS[0].bridge)).toContain(
      ranges[0]!.replace(/0\/24$/, '1/24'),
    );
  });

  it('a pod on h1 reaches a Service whose only endpoint is on h2, by ClusterIP and by DNS name', async () => {
    await client.create(
      DEPLOYMENT,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'echo' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'echo' } },
          template: {
            metadata: { labels: { app: 'echo' } },
            spec: {
              runtimeClassName: 'container',
              nodeSelector: { 'kubernetes.io/hostname': HOSTS[1].node },
              containers: [
                {
                  name: 'httpd',
                  image: 'localhost/busybox:1.0',
                  // Answers with its pod name, and logs who called (httpd -v: the client's address).
                  command: [
                    'sh',
                    '-c',
                    'mkdir -p /www && hostname > /www/index.html && exec httpd -f -v -p 8080 -h /www',
                  ],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      'default',
    );
    await client.create(
      SERVICE,
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo' },
        spec: { type: 'NodePort', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 'http' }] },
      },
      'default',
    );
    await waitFor(
      'a ready echo endpoint on h2',
      async () => {
        const l = await client.list(SLICE, 'default', { labelSelector: 'kubernetes.io/service-name=echo' });
        return l.items
          .flatMap((s: any) => s.endpoints ?? [])
          .some((e: any) => e.conditions?.ready && e.nodeName === HOSTS[1].node);
      },
      120_000,
    ).catch(diagnose);
    const [echo] = await podsOf('app=echo');
    const clusterIP = (await client.get(SERVICE, 'default', 'echo')).spec.clusterIP as string;
    // busybox's static wget crashes in this image and cannot resolve names: nc for HTTP (the body is the
    // response's last line), nslookup through the cluster DNS for the name.
    const script = [
      'get() { (printf "GET / HTTP/1.0\\r\\n\\r\\n"; sleep 2) | nc -w 3 "$1" "$2" | tail -1; }',
      `for i in $(seq 1 30); do r=$(get ${clusterIP} 80) && [ -n "$r" ] && break; sleep 1; done; echo "clusterip: $r"`,
      'ip=$(nslookup echo.default.svc.cluster.local | sed -n "s/^Address: *//p" | tail -1); echo "dns: $ip"',
      'echo "by-name: $(get "$ip" 80)"',
      `echo "pod-ip: $(get ${echo.status.podIP} 8080)"`,
    ].join('\n');
    await client.create(
      POD,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'caller' },
        spec: {
          runtimeClassName: 'container',
          restartPolicy: 'Never',
          nodeSelector: { 'kubernetes.io/hostname': HOSTS[0].node },
          containers: [{ name: 'main', image: 'localhost/busybox:1.0', command: ['sh', '-c', script] }],
        },
      },
      'default',
    );
    const caller = await waitFor(
      'the caller finished',
      async () => {
        const p = await client.get(POD, 'default', 'caller');
        return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p : undefined;
      },
      120_000,
    );
    expect(caller.spec.nodeName).toBe(HOSTS[0].node);
    const log = await podLog('caller');
    console.log(`caller on ${HOSTS[0].node} (${caller.status.podIP}) → echo on ${HOSTS[1].node}:\n${log}`);
    expect(log).toContain(`clusterip: ${echo.metadata.name}`);
    expect(log).toContain(`dns: ${clusterIP}`);
    expect(log).toContain(`by-name: ${echo.metadata.name}`);
    expect(log).toContain(`pod-ip: ${echo.metadata.name}`);
    // Pod to pod is not NATed: the endpoint saw the caller's own address.
    const echoLog = await podLog(echo.metadata.name);
    expect(echoLog).toContain(caller.status.podIP);

    // Not from a pod: h1 itself calls the cluster IP, and this machine calls h1's node port; both DNATed
    // on h1 to the endpoint on h2, over the tunnel (the node port's traffic masqueraded, as kube-proxy does).
    const svc = await client.get(SERVICE, 'default', 'echo');
    const fromH1 = execFileSync(
      'ip',
      ['netns', 'exec', HOSTS[0].ns, NODE, '-e', fetchScript(`http://${clusterIP}/`)],
      { encoding: 'utf8' },
    );
    expect(fromH1.trim()).toBe(echo.metadata.name);
    const viaNodePort = execFileSync(
      NODE,
      ['-e', fetchScript(`http://${HOSTS[0].ip}:${svc.spec.ports[0].nodePort}/`)],
      { encoding: 'utf8' },
    );
    expect(viaNodePort.trim()).toBe(echo.metadata.name);
  }, 300_000);

  it('replaces the pods of a partitioned host elsewhere; the host rejoins without duplicates', async () => {
    await client.delete(DEPLOYMENT, 'default', 'echo');
    await client.create(
      DEPLOYMENT,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'fleet' },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'fleet' } },
          template: {
            metadata: { labels: { app: 'fleet' } },
            spec: {
              runtimeClassName: 'container',
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'main', image: 'localhost/busybox:1.0', command: ['sleep', '3600'] }],
            },
          },
        },
      },
      'default',
    );
    const before = await waitFor(
      'four fleet pods Running',
      async () => {
        const pods = await podsOf('app=fleet');
        return pods.length === 4 && pods.every((p) => p.status?.phase === 'Running') && pods;
      },
      120_000,
    ).catch(diagnose);
    const onH2 = before.filter((p) => p.spec.nodeName === HOSTS[1].node);
    expect(onH2.length, 'the spread strategy puts some on h2').toBeGreaterThan(0);
    for (const p of onH2) expect(existsSync(`/run/netns/${HOSTS[1].bridge}-${p.metadata.uid}`)).toBe(true);
    // Its containers live under h2's own runtime root and cgroup parent, not the machine's defaults.
    expect(readdirSync(`/run/strata-${HOSTS[1].bridge}/runc`).length).toBeGreaterThan(0);
    const cgroupRoots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].filter((d) =>
      existsSync(join(d, 'cgroup.procs')),
    );
    expect(
      cgroupRoots.some((d) => existsSync(join(d, `strata-${HOSTS[1].bridge}`))),
      `a strata-${HOSTS[1].bridge} cgroup under ${cgroupRoots.join(' or ')}`,
    ).toBe(true);

    // The partition: h2's link goes down; its agent and pods keep running, cut off.
    ip('link', 'set', HOSTS[1].veth, 'down');
    const cutAt = Date.now();
    const replaced = await waitFor(
      'the fleet back to four Running pods, all on h1',
      async () => {
        const pods = await podsOf('app=fleet');
        return (
          pods.length === 4 &&
          pods.every((p) => p.status?.phase === 'Running' && p.spec.nodeName === HOSTS[0].node) &&
          pods
        );
      },
      120_000,
    );
    console.log(
      `partition: ${onH2.length} pod(s) replaced on h1 ${Math.round((Date.now() - cutAt) / 1000)} s after the cut`,
    );
    const h2Node = await client.get(NODE_KIND, undefined, HOSTS[1].node);
    expect(h2Node.spec.taints?.map((t: any) => t.key)).toContain('node.kubernetes.io/unreachable');

    // Back: the agent renews its lease, the node is Ready again, and the pods it ran are gone for good.
    ip('link', 'set', HOSTS[1].veth, 'up');
    const backAt = Date.now();
    await waitFor(
      'h2 Ready again',
      async () =>
        (await client.get(NODE_KIND, undefined, HOSTS[1].node)).status?.conditions?.some(
          (c: any) => c.type === 'Ready' && c.status === 'True',
        ),
      120_000,
    );
    await waitFor(
      "h2's old pods' sandboxes removed",
      () => onH2.every((p) => !existsSync(`/run/netns/${HOSTS[1].bridge}-${p.metadata.uid}`)),
      120_000,
    );
    console.log(
      `rejoin: Ready and old sandboxes removed ${Math.round((Date.now() - backAt) / 1000)} s after the link came back`,
    );
    const after = await podsOf('app=fleet');
    expect(after.map((p) => p.metadata.uid).sort()).toEqual(replaced.map((p) => p.metadata.uid).sort());
    expect(new Set(after.map((p) => p.metadata.name)).size).toBe(4);
    expect(after.some((p) => onH2.some((o) => o.metadata.uid === p.metadata.uid))).toBe(false);
  }, 300_000);
});
