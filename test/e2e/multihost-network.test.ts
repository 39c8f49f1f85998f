// The issue's multi-host scenario on one machine, with hosts made of network namespaces: a test bridge
// (smh-br, 10.249.0.1/24 on this side, where only the test itself sits) and three "hosts", smh-h1..smh-h3
// (10.249.0.11..13), each a netns with a veth on that bridge and no other route: traffic stays on these
// addresses. EACH host runs a `strata server` with an embedded etcd member advertised on the host's own
// address (s1 --cluster-init, s2 and s3 --join through s1 with a server join token: a three-member etcd over
// TLS) AND a `strata agent` (wasm,container) whose --server lists all three servers, so that its local load
// balancer fails over. Each agent has its own data dir, pod bridge (smh1..smh3: their own namespace, veth and
// rule names), image store, cgroup parent and per-boot state (runtime root, pid and exit files). Nine
// processes (three servers, three etcd members, three agents) on two shared cores.
//
// Checks, in this order on one cluster:
// 1. three etcd members, one per server; each Node gets its own /24 and every agent routes the others' over
//    VXLAN;
// 2. a pod on h1 reaches a Service whose only endpoint is on h2 by ClusterIP and by DNS name (and the pod
//    itself by its address, source address kept), so do h1 itself (cluster IP) and this machine through h1's
//    node port;
// 3. partitioning the host whose server holds the controller Lease (its link down: its server, etcd member
//    and agent all cut off, still running) keeps quorum (the two other members), another server takes the
//    Lease, the cut host's pods are replaced on the others after the eviction timeout while the surviving
//    hosts' pods stay where they are, and when the link comes back the host rejoins: its old pods'
//    sandboxes go, no pod is duplicated, and its server answers /readyz ok and serves a write again (its
//    member caught up).
// 4. SIGKILL the process group of the server holding the Lease now (the server and its etcd member, as a
//    host's control plane dies; that host's agent stays): another server takes the Lease, a Deployment
//    scaled and one created right after the kill converge with pods Running on the agents (the one on the
//    dead server's host included, through its load balancer), the two survivors keep quorum (writes, /readyz).
// Why this order: the partition must come before the kill. With one server dead, partitioning a host whose
// server is up leaves one etcd member of three reachable: no quorum, nothing could be replaced. Partitioning
// first (all three members up) cuts a live leader and its member off and lets them rejoin, and the kill then
// finds three healthy members again (waited for, above).
//
// Timings on two shared cores: node grace period 20 s, pod eviction timeout 10 s, agent lease 10 s, the
// controller Lease 15 s; waits up to 120–300 s for starts, the partition and the takeover. A failed wait
// prints the pods, the Lease, the nodes, the servers' and the agents' logs. The leader's host cut off: its
// pods replaced 46–65 s after the cut in three runs in a row here at load 8–16 (a non-leader host's before:
// 30–155 s); the whole file took 199 s (replaced 60 s after the cut, the killed leader's work converged 25 s
// after the kill).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Client } from '../../src/client/client.ts';
import { which } from '../../src/lib/command.ts';
import { buildTestImages, NODE, ROOT, waitFor } from './harness.ts';

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
const LEASE = kindFor('coordination.k8s.io/v1', 'Lease')!;
const CONFIGMAP = kindFor('v1', 'ConfigMap')!;

const BRIDGE = 'smh-br';
const BRIDGE_IP = '10.249.0.1';
const CLUSTER_CIDR = '10.242.0.0/16';
// Each host has its own network stack, so every server uses the same ports on its own address.
const API_PORT = 6443;
const HOSTS = [
  { ns: 'smh-h1', ip: '10.249.0.11', veth: 'smh-v1', bridge: 'smh1', node: 'mh-h1', server: 's1' },
  { ns: 'smh-h2', ip: '10.249.0.12', veth: 'smh-v2', bridge: 'smh2', node: 'mh-h2', server: 's2' },
  { ns: 'smh-h3', ip: '10.249.0.13', veth: 'smh-v3', bridge: 'smh3', node: 'mh-h3', server: 's3' },
] as const;
type Host = (typeof HOSTS)[number];
const serverURL = (h: Host) => `https://${h.ip}:${API_PORT}`;

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

/** The last lines of a log file, or a note that it is not there. */
const tail = (file: string, n = 30) =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-n).join('\n') : `(no ${file})`;

describe.skipIf(why)(
  'three network-namespace hosts, each a server (embedded etcd member) and an agent',
  () => {
    const root = mkdtempSync(join(tmpdir(), 'strata-multihost-net-'));
    const servers = new Map<string, Proc>();
    const agents = new Map<string, Proc>();
    const clients = new Map<string, Client>();
    /** Hosts whose server must not be asked (cut off or killed): requests to them would hang or fail. */
    const unreachable = new Set<string>();
    let client: Client;
    const serverDir = (h: Host) => join(root, h.server);

    /** A client of a server that is up and reachable (h1's, unless it is cut off or dead). */
    const live = (): Client => {
      const h = HOSTS.find((x) => !unreachable.has(x.node))!;
      return clients.get(h.node)!;
    };
    const useLive = () => (client = live());

    function serverArgs(h: Host): string[] {
      const dir = serverDir(h);
      return [
        'server',
        '--data-dir',
        dir,
        '--host',
        h.ip,
        '--port',
        String(API_PORT),
        '--tls-san',
        h.ip,
        '--advertise-address',
        'none',
        '--kubeconfig',
        join(dir, 'kubeconfig'),
        '--cluster-cidr',
        CLUSTER_CIDR,
        // Twice the agent's 10 s lease: in a CI run at full load, etcd stalls ("request timed out") held
        // the surviving agents' renewals past a 10 s grace, and the new leader evicted their pods too.
        '--node-grace-period',
        '20s',
        '--pod-eviction-timeout',
        '10s',
        // The member's peers reach it on the host's address (127.0.0.1 is each host's own loopback).
        '--etcd-address',
        h.ip,
        '--quota-backend-bytes',
        String(256 * 1024 * 1024),
      ];
    }

    async function startServer(h: Host, extra: string[]): Promise<void> {
      const p = spawnStrata([...serverArgs(h), ...extra], h.ns);
      servers.set(h.node, p);
      await waitFor(
        `${h.server} listening`,
        () => {
          if (p.proc.exitCode !== null) throw new Error(`${h.server} exited: ${p.out()}`);
          return p.out().includes('listening on');
        },
        120_000,
      ).catch(diagnose);
    }

    beforeAll(async () => {
      cleanupNetwork();
      buildTestImages();
      ip('link', 'add', BRIDGE, 'type', 'bridge');
      ip('addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE);
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

      // s1 founds the cluster; s2 and s3 join through it with a server join token.
      const [h1, ...others] = HOSTS;
      await startServer(h1, ['--cluster-init']);
      const tls = join(serverDir(h1), 'tls');
      const creds = {
        ca: readFileSync(join(tls, 'ca.crt'), 'utf8'),
        cert: readFileSync(join(tls, 'admin.crt'), 'utf8'),
        key: readFileSync(join(tls, 'admin.key'), 'utf8'),
      };
      // One CA for the cluster: s1's admin certificate is good on every server.
      for (const h of HOSTS) clients.set(h.node, new Client({ server: serverURL(h), tls: creds }));
      useLive();
      const caHash = readFileSync(join(tls, 'ca.hash'), 'utf8').trim();
      const kc = ['--kubeconfig', join(serverDir(h1), 'kubeconfig')];
      const serverToken = cli([
        ...kc,
        'token',
        'create',
        '--ttl',
        '1h',
        '--groups',
        'system:bootstrappers:strata:servers',
      ]);
      for (const h of others)
        await startServer(h, ['--join', serverURL(h1), '--token', serverToken, '--ca-cert-hash', caHash]);

      const token = cli([...kc, 'token', 'create', '--ttl', '1h']);
      const agentArgs = (h: Host) => [
        'agent',
        '--server',
        HOSTS.map(serverURL).join(','),
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
        ).catch(diagnose);
    }, 600_000);

    afterAll(async () => {
      // Pods first, so that each agent stops its containers and removes their network while it still can.
      for (const h of HOSTS) quiet(() => ip('link', 'set', h.veth, 'up'));
      unreachable.clear();
      for (const [node, p] of servers)
        if (p.proc.exitCode !== null || p.proc.signalCode !== null) unreachable.add(node);
      if (clients.size > 0 && unreachable.size < HOSTS.length) {
        const c = live();
        for (const name of ['echo', 'fleet', 'scaled', 'after-kill'])
          await c.delete(DEPLOYMENT, 'default', name).catch(() => {});
        for (const p of (await c.list(POD, 'default').catch(() => ({ items: [] }))).items)
          await c.delete(POD, 'default', p.metadata.name).catch(() => {});
        await waitFor(
          'pods gone',
          async () => (await c.list(POD, 'default')).items.length === 0,
          60_000,
        ).catch((err) => console.warn(`multihost-network cleanup: ${(err as Error).message}`));
      }
      for (const a of agents.values()) await stopProc(a);
      // A server's process group holds its etcd member too.
      for (const s of servers.values()) await stopProc(s);
      for (const c of clients.values()) c.close();
      cleanupNetwork();
      rmSync(root, { recursive: true, force: true });
    }, 240_000);

    /** What the pods, the servers and the agents say, printed when a wait fails. */
    async function diagnose(err: unknown): Promise<never> {
      const lease = await client
        ?.get(LEASE, 'kube-system', 'strata-controller-manager')
        .catch(() => undefined);
      console.log(`controller Lease: ${lease?.spec?.holderIdentity} renewed ${lease?.spec?.renewTime}`);
      for (const n of client ? (await client.list(NODE_KIND).catch(() => ({ items: [] }))).items : [])
        console.log(
          `node ${n.metadata.name}: ${JSON.stringify(n.status?.conditions?.map((c: any) => `${c.type}=${c.status}`))} taints ${JSON.stringify(n.spec?.taints?.map((t: any) => t.key))}`,
        );
      const pods = client ? (await client.list(POD, 'default').catch(() => ({ items: [] }))).items : [];
      for (const p of pods as any[])
        console.log(
          `pod ${p.metadata.name} on ${p.spec.nodeName}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((c: any) => c.state))}`,
        );
      for (const h of HOSTS) {
        const s = servers.get(h.node);
        console.log(
          `${h.server} on ${h.node} (${s ? (s.proc.exitCode ?? s.proc.signalCode ?? 'running') : 'not started'}) server.log (last lines):\n` +
            tail(join(serverDir(h), 'server.log')) +
            (s ? `\n${h.server} output (last lines):\n${s.out().split('\n').slice(-15).join('\n')}` : ''),
        );
        console.log(`${h.node} agent.log (last lines):\n${tail(join(root, h.node, 'agent.log'))}`);
      }
      throw err;
    }
    const podLog = async (name: string) =>
      (await client.request('GET', `/api/v1/namespaces/default/pods/${name}/log`)).text();
    const podsOf = async (label: string) =>
      (await client.list(POD, 'default', { labelSelector: label })).items as any[];
    /** The host whose server holds the controller Lease: its log names the Lease's holder identity as its own. */
    const leaderHost = async () => {
      const lease = await client.get(LEASE, 'kube-system', 'strata-controller-manager');
      const h = HOSTS.find((x) =>
        tail(join(serverDir(x), 'server.log'), 1e9).includes(`"identity":"${lease.spec.holderIdentity}"`),
      );
      expect(h, `the server holding the Lease (${lease.spec.holderIdentity})`).toBeDefined();
      return { host: h!, lease };
    };
    const ready = async (c: Client) => (await c.request('GET', '/readyz').then((r) => r.text())) === 'ok';

    it('runs a three-member etcd, one member per server, each advertised on its host', async () => {
      // Each server's member record lists the cluster it was created in: three peer URLs on the hosts' addresses.
      const record = JSON.parse(readFileSync(join(serverDir(HOSTS[2]), 'etcd/member.json'), 'utf8'));
      for (const h of HOSTS) expect(record.initialCluster).toContain(`https://${h.ip}:`);
      for (const c of clients.values()) expect(await ready(c)).toBe(true);
    });

    it('gives each node its own pod range and routes the other ranges over VXLAN', async () => {
      const ranges = await Promise.all(
        HOSTS.map(async (h) => (await client.get(NODE_KIND, undefined, h.node)).spec.podCIDR as string),
      );
      expect(new Set(ranges).size).toBe(HOSTS.length);
      for (const r of ranges) expect(r).toMatch(/^10\.242\.\d+\.0\/24$/);
      // h1 routes the others' ranges through its VXLAN device; its pod bridge carries its own range's gateway.
      for (const r of ranges.slice(1))
        await waitFor(`h1 routes ${r}`, () =>
          ip('-n', HOSTS[0].ns, 'route', 'show', r).includes('strata.vxlan'),
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

    it('cuts off the leading server’s host: another leads, its pods are replaced elsewhere; it rejoins without duplicates', async () => {
      await client.delete(DEPLOYMENT, 'default', 'echo');
      await client.create(
        DEPLOYMENT,
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'fleet' },
          spec: {
            replicas: 6,
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
        'six fleet pods Running',
        async () => {
          const pods = await podsOf('app=fleet');
          return pods.length === 6 && pods.every((p) => p.status?.phase === 'Running') && pods;
        },
        150_000,
      ).catch(diagnose);
      // The host cut off runs the server holding the Lease, the harsher case: its controllers must stop
      // (renew deadline), the others take the Lease, and the survivors' etcd clients lose a member silently
      // (their watches and calls on it must move to the others: keepalive, per-attempt deadlines).
      const { host: cut, lease: leadingLease } = await leaderHost();
      const onCut = before.filter((p) => p.spec.nodeName === cut.node);
      expect(onCut.length, 'the spread strategy puts some on the cut host').toBeGreaterThan(0);
      for (const p of onCut) expect(existsSync(`/run/netns/${cut.bridge}-${p.metadata.uid}`)).toBe(true);
      // Its containers live under that host's own runtime root and cgroup parent, not the machine's defaults.
      expect(readdirSync(`/run/strata-${cut.bridge}/runc`).length).toBeGreaterThan(0);
      const cgroupRoots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].filter((d) =>
        existsSync(join(d, 'cgroup.procs')),
      );
      expect(
        cgroupRoots.some((d) => existsSync(join(d, `strata-${cut.bridge}`))),
        `a strata-${cut.bridge} cgroup under ${cgroupRoots.join(' or ')}`,
      ).toBe(true);

      // The partition: the leader's host's link goes down; its server, etcd member, agent and pods keep
      // running, cut off. The other two members keep quorum and another server takes the Lease.
      unreachable.add(cut.node);
      useLive();
      ip('link', 'set', cut.veth, 'down');
      const cutAt = Date.now();
      const replaced = await waitFor(
        `the fleet back to six Running pods, none on ${cut.node}`,
        async () => {
          const pods = await podsOf('app=fleet');
          return (
            pods.length === 6 &&
            pods.every((p) => p.status?.phase === 'Running' && p.spec.nodeName !== cut.node) &&
            pods
          );
        },
        // Up to 155 s seen under load (load average 20 from others): a Lease takeover, grace, eviction, starts.
        300_000,
      ).catch(diagnose);
      console.log(
        `partition: ${onCut.length} pod(s) replaced elsewhere ${Math.round((Date.now() - cutAt) / 1000)} s after the cut`,
      );
      // Only the cut host's pods moved: the surviving hosts stayed Ready and kept theirs (a new leader whose
      // informers missed the node leases once marked every node NotReady and evicted them all).
      const stayed = before.filter((p) => p.spec.nodeName !== cut.node).map((p) => p.metadata.uid);
      expect(replaced.map((p) => p.metadata.uid)).toEqual(expect.arrayContaining(stayed));
      const leaseAfterCut = await client.get(LEASE, 'kube-system', 'strata-controller-manager');
      expect(leaseAfterCut.spec.holderIdentity, 'another server leads').not.toBe(
        leadingLease.spec.holderIdentity,
      );
      const cutNode = await client.get(NODE_KIND, undefined, cut.node);
      expect(cutNode.spec.taints?.map((t: any) => t.key)).toContain('node.kubernetes.io/unreachable');

      // Back: the agent renews its lease, the node is Ready again, and the pods it ran are gone for good.
      ip('link', 'set', cut.veth, 'up');
      const backAt = Date.now();
      await waitFor(
        `${cut.node} Ready again`,
        async () =>
          (await client.get(NODE_KIND, undefined, cut.node)).status?.conditions?.some(
            (c: any) => c.type === 'Ready' && c.status === 'True',
          ),
        120_000,
      ).catch(diagnose);
      await waitFor(
        `${cut.node}'s old pods' sandboxes removed`,
        () => onCut.every((p) => !existsSync(`/run/netns/${cut.bridge}-${p.metadata.uid}`)),
        120_000,
      ).catch(diagnose);
      console.log(
        `rejoin: Ready and old sandboxes removed ${Math.round((Date.now() - backAt) / 1000)} s after the link came back`,
      );
      const after = await podsOf('app=fleet');
      // Seen once in five runs (the leader's host cut): one replacement pod itself replaced after the rejoin.
      // Say which, and why the events say, before failing.
      const gone = replaced.filter((p) => !after.some((a) => a.metadata.uid === p.metadata.uid));
      const added = after.filter((a) => !replaced.some((p) => p.metadata.uid === a.metadata.uid));
      if (gone.length + added.length > 0) {
        const events = (await client.list(kindFor('v1', 'Event')!, 'default')).items as any[];
        for (const p of [...gone, ...added])
          console.log(
            `${gone.includes(p) ? 'gone' : 'new'}: ${p.metadata.name} on ${p.spec.nodeName} (${p.metadata.uid}): ` +
              events
                .filter(
                  (e) =>
                    e.involvedObject?.uid === p.metadata.uid || e.involvedObject?.name === p.metadata.name,
                )
                .map((e) => `${e.source?.component ?? e.reportingController}: ${e.reason} ${e.message}`)
                .join(' | '),
          );
        await diagnose(new Error('fleet pods changed after the rejoin')).catch(() => {});
      }
      expect(after.map((p) => p.metadata.uid).sort()).toEqual(replaced.map((p) => p.metadata.uid).sort());
      expect(new Set(after.map((p) => p.metadata.name)).size).toBe(6);
      expect(after.some((p) => onCut.some((o) => o.metadata.uid === p.metadata.uid))).toBe(false);

      // Its member caught up: its server is ready and serves a write read back through another server. The
      // next test kills a member, which then needs all three healthy here.
      const back = clients.get(cut.node)!;
      await waitFor(`${cut.server} ready again`, () => ready(back).catch(() => false), 120_000).catch(
        diagnose,
      );
      await waitFor(
        `a write through ${cut.server}`,
        () =>
          back.create(
            CONFIGMAP,
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: 'via-rejoined' },
              data: { from: cut.server },
            },
            'default',
          ),
        60_000,
      ).catch(diagnose);
      expect((await client.get(CONFIGMAP, 'default', 'via-rejoined')).data).toEqual({ from: cut.server });
      unreachable.delete(cut.node);
      useLive();
    }, 600_000);

    it('survives the leading server dying with its etcd member: another leads, work converges, quorum holds', async () => {
      const deployment = (name: string, replicas: number) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: {
          replicas,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              runtimeClassName: 'container',
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'main', image: 'localhost/busybox:1.0', command: ['sleep', '3600'] }],
            },
          },
        },
      });
      const running = (app: string, n: number) => async () => {
        const pods = await podsOf(`app=${app}`);
        return pods.length === n && pods.every((p) => p.status?.phase === 'Running') && pods;
      };
      await client.create(DEPLOYMENT, deployment('scaled', 1), 'default');
      await waitFor('scaled: one pod Running', running('scaled', 1), 120_000).catch(diagnose);

      const { host: dead, lease: leaseBefore } = await leaderHost();
      unreachable.add(dead.node);
      useLive();
      const nodeLease = async () =>
        (await client.get(LEASE, 'kube-node-lease', dead.node)).spec.renewTime as string;
      await stopProc(servers.get(dead.node), 'SIGKILL');
      const killedAt = Date.now();
      expect(agents.get(dead.node)!.proc.exitCode, `${dead.node}'s agent keeps running`).toBeNull();

      // Writes go on through another server (two of three etcd members keep quorum).
      await waitFor(
        'a write through a surviving server',
        () => client.create(DEPLOYMENT, deployment('after-kill', 2), 'default'),
        60_000,
      ).catch(diagnose);
      await client.patch(DEPLOYMENT, 'default', 'scaled', { spec: { replicas: 4 } });
      // Both converge: another server leads (the Lease's holder is alive) and the agents run their pods.
      const pods = [
        ...(await waitFor('after-kill: two pods Running', running('after-kill', 2), 180_000).catch(diagnose)),
        ...(await waitFor('scaled: four pods Running', running('scaled', 4), 120_000).catch(diagnose)),
      ];
      const leaseAfter = await client.get(LEASE, 'kube-system', 'strata-controller-manager');
      console.log(
        `leader before the kill: ${leaseBefore.spec.holderIdentity} (${dead.server} on ${dead.node}); after: ${leaseAfter.spec.holderIdentity}; ` +
          `converged ${Math.round((Date.now() - killedAt) / 1000)} s after the kill; pods on ${[...new Set(pods.map((p) => p.spec.nodeName))].sort().join(', ')}`,
      );
      expect(leaseAfter.spec.holderIdentity).not.toBe(leaseBefore.spec.holderIdentity);
      expect(leaseAfter.spec.renewTime > leaseBefore.spec.renewTime).toBe(true);
      expect(pods.every((p) => HOSTS.some((h) => h.node === p.spec.nodeName))).toBe(true);
      // Quorum: both surviving servers are ready (their etcd check passes) and serve each other's writes.
      const survivors = HOSTS.filter((h) => h !== dead).map((h) => clients.get(h.node)!);
      for (const c of survivors) expect(await ready(c)).toBe(true);
      await survivors[1]!.create(
        CONFIGMAP,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-kill' }, data: { quorum: '2 of 3' } },
        'default',
      );
      expect((await survivors[0]!.get(CONFIGMAP, 'default', 'after-kill')).data).toEqual({
        quorum: '2 of 3',
      });
      // The dead server's host carries on: its agent heartbeats through another server (its load balancer).
      const first = await nodeLease();
      await waitFor(
        `${dead.node}'s node lease renewed after the kill`,
        async () => (await nodeLease()) !== first,
        60_000,
      ).catch(diagnose);
      expect(readFileSync(join(root, dead.node, 'agent.log'), 'utf8') + agents.get(dead.node)!.out()).toMatch(
        /load balancer: (server down|switched server)/,
      );
    }, 480_000);
  },
);
