// A platform engineer's first manifest: a Deployment plus a Service. The server allocates the cluster IP and
// node port, the endpoints controller lists the ready replicas, the node's service proxy programs the kernel
// (nftables), and the Service answers on its node port (127.0.0.1 included) and its cluster IP, spreading
// requests over the replicas. `strata down` removes the rules.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, waitFor } from './harness.ts';
import { networkNames } from '../../src/net/network-names.ts';
import { which } from '../../src/lib/command.ts';

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'Services need root (container tier and nftables)';
  for (const bin of ['runc', 'conmon', 'nft']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `${bin} is not installed`;
    }
  }
  return undefined;
}
const why = missing();
if (why) console.warn(`skipping the Services e2e tests: ${why}`);

const slices = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
let c: Cluster;

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return res.text();
}

describe.skipIf(!!why)('Services end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('a Deployment behind a NodePort Service answers on 127.0.0.1 and on its cluster IP, across replicas', async () => {
    const file = join(c.dir, 'app.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: echo }
spec:
  replicas: 3
  selector: { matchLabels: { app: echo } }
  template:
    metadata: { labels: { app: echo } }
    spec:
      runtimeClassName: container
      containers:
        - name: httpd
          image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: http }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: echo }
spec:
  type: NodePort
  selector: { app: echo }
  ports: [{ port: 80, targetPort: http }]
`,
    );
    const applied = await c.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/service\/echo created/);
    await waitFor(
      'three ready endpoints',
      async () => {
        const l = await c.client.list(slices, 'default', {
          labelSelector: 'kubernetes.io/service-name=echo',
        });
        const ready = l.items.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready);
        return ready.length === 3;
      },
      90_000,
    );
    const svc = JSON.parse((await c.kubectl(['get', 'svc', 'echo', '-o', 'json'])).stdout);
    const nodePort = svc.spec.ports[0].nodePort;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(svc.spec.clusterIP.startsWith(c.serviceCidr.replace(/0\.0\/16$/, ''))).toBe(true);
    const pods = (
      await c.kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[*].metadata.name}'])
    ).stdout
      .split(' ')
      .sort();
    const seen = new Set<string>();
    await waitFor('the node port reaching every replica', async () => {
      seen.add((await get(`http://127.0.0.1:${nodePort}/`)).trim());
      return pods.every((p) => seen.has(p));
    });
    expect([...seen].sort()).toEqual(pods);
    expect(pods).toContain((await get(`http://${svc.spec.clusterIP}/`)).trim());
  });

  it('a pod resolves the Service by name through the cluster DNS (ClusterFirst resolv.conf)', async () => {
    const file = join(c.dir, 'client.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: dns-client }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      # busybox's own resolver (its static glibc cannot resolve through NSS: its wget crashes on any host).
      command: [sh, -c, 'cat /etc/resolv.conf; for n in echo.default.svc.cluster.local echo nothere; do ip=$(nslookup $n 2>/dev/null | sed -n "s/^Address: *//p" | tail -1); echo "$n -> $ip"; done']
`,
    );
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    await waitFor('dns-client finished', async () => {
      const p = JSON.parse((await c.kubectl(['get', 'pod', 'dns-client', '-o', 'json'])).stdout);
      return ['Succeeded', 'Failed'].includes(p.status?.phase);
    });
    const out = (await c.kubectl(['logs', 'dns-client'])).stdout;
    // The nameserver is the kube-dns Service (the tenth address of the service range), DNATed to the node.
    const dnsIP = c.serviceCidr.replace(/0\/16$/, '10');
    const dns = JSON.parse(
      (await c.kubectl(['get', 'svc', 'kube-dns', '-n', 'kube-system', '-o', 'json'])).stdout,
    );
    expect(dns.spec.clusterIP).toBe(dnsIP);
    expect(out).toMatch(new RegExp(`^nameserver ${dnsIP.replace(/\./g, '\\.')}$`, 'm'));
    expect(out).toMatch(/^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
    expect(out).toMatch(/^options ndots:5$/m);
    const ip = JSON.parse((await c.kubectl(['get', 'svc', 'echo', '-o', 'json'])).stdout).spec.clusterIP;
    // The full name, and the short one through the search path. (busybox's nslookup walks the search path
    // for single-label names only; a libc resolver also completes NAME.NS and NAME.NS.svc, after NXDOMAIN
    // for the expansions that do not exist: src/net/dns/records.test.ts.)
    for (const n of ['echo.default.svc.cluster.local', 'echo'])
      expect(out).toMatch(new RegExp(`^${n.replaceAll('.', '\\.')} -> ${ip.replaceAll('.', '\\.')}$`, 'm'));
    // An unknown name gets no answer (busybox then prints only its server's address).
    expect(out).toMatch(new RegExp(`^nothere -> \\s*${dnsIP.replace(/\./g, '\\.')}:53$`, 'm'));
  });

  it('the API is reachable from a pod through default/kubernetes, named by its env and by DNS', async () => {
    const svc = JSON.parse((await c.kubectl(['get', 'svc', 'kubernetes', '-o', 'json'])).stdout);
    expect(svc.spec.clusterIP).toBe(c.serviceCidr.replace(/0\/16$/, '1'));
    expect(svc.spec.ports[0]).toMatchObject({ name: 'https', port: 443 });
    const file = join(c.dir, 'api-client.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: api-client }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo "env $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; echo "dns $(nslookup kubernetes.default.svc.cluster.local | sed -n "s/^Address: *//p" | tail -1)"; exec sleep 3600']
`,
    );
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    const ip = svc.spec.clusterIP;
    const out = await waitFor('api-client printed its env and DNS answer', async () => {
      const o = (await c.kubectl(['logs', 'api-client'])).stdout;
      return /^dns /m.test(o) && o;
    });
    expect(out).toMatch(new RegExp(`^env ${ip.replaceAll('.', '\\.')}:443$`, 'm'));
    expect(out).toMatch(new RegExp(`^dns ${ip.replaceAll('.', '\\.')}$`, 'm'));
    // A TCP connection from the pod to the Service reaches the API's pod-facing listener (busybox nc
    // runs `true` once connected; it only complains when it cannot connect).
    const nc = await c.kubectl(['exec', 'api-client', '--', 'nc', '-w', '5', ip, '443', '-e', 'true']);
    expect(nc.stderr).not.toMatch(/can't connect/);
    // busybox's TLS cannot finish a handshake with the server (it offers no signature algorithm OpenSSL 3
    // accepts), so curl speaks TLS from inside the pod's network namespace: the certificate verifies
    // under kubernetes.default.svc and the unauthenticated /version answers.
    if (!which('curl')) {
      console.warn('skipping the TLS part: curl is not installed');
      return;
    }
    const pod = JSON.parse((await c.kubectl(['get', 'pod', 'api-client', '-o', 'json'])).stdout);
    const kubeconfig = YAML.parse(readFileSync(c.kubeconfig, 'utf8'));
    const caFile = join(c.dir, 'api-ca.crt');
    writeFileSync(
      caFile,
      Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64'),
    );
    const netns = `${networkNames(c.podBridge).netnsPrefix}${pod.metadata.uid}`;
    const curl = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'curl',
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        caFile,
        '--resolve',
        `kubernetes.default.svc:443:${ip}`,
        'https://kubernetes.default.svc/version',
      ],
      { encoding: 'utf8' },
    );
    expect(curl.status, curl.stderr).toBe(0);
    expect(JSON.parse(curl.stdout).gitVersion).toMatch(/^v1\./);
  });

  it('describe svc lists the endpoints; an ExternalName Service has no cluster IP and a CNAME in DNS', async () => {
    const described = await c.cli(['describe', 'svc', 'echo']);
    expect(described.code, described.stderr).toBe(0);
    const endpoints = /^Endpoints:\s+(.*)$/m.exec(described.stdout)?.[1] ?? '';
    expect(endpoints.split(',').filter((e) => /^\d+\.\d+\.\d+\.\d+:8080$/.test(e))).toHaveLength(3);
    const file = join(c.dir, 'external.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Service
metadata: { name: ext }
spec: { type: ExternalName, externalName: example.com }
`,
    );
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    const ext = JSON.parse((await c.kubectl(['get', 'svc', 'ext', '-o', 'json'])).stdout);
    expect(ext.spec.clusterIP).toBeUndefined();
    expect(ext.spec.clusterIPs).toBeUndefined();
    // Asked straight at the node's DNS server (the bridge address): a CNAME to the external name.
    const server = c.podCidr.replace(/0\/16$/, '1');
    const answer = await waitFor('the CNAME of ext', async () => {
      const sock = createSocket('udp4');
      try {
        const reply = await new Promise<Buffer>((resolve, reject) => {
          sock.once('message', resolve);
          sock.once('error', reject);
          const q = dnsPacket.encode({
            type: 'query',
            id: 7,
            flags: dnsPacket.RECURSION_DESIRED,
            questions: [{ type: 'CNAME', name: 'ext.default.svc.cluster.local' }],
          });
          sock.send(q, 53, server);
          setTimeout(() => reject(new Error('no answer')), 2000);
        });
        const r = dnsPacket.decode(reply);
        return r.answers?.find((a: any) => a.type === 'CNAME');
      } finally {
        sock.close();
      }
    });
    expect((answer as any).data).toBe('example.com');
  });

  it('strata down removes the Service rules, the node rules and the bridge', async () => {
    // The node's table and chains are named after its bridge (the harness gives each cluster its own).
    const names = networkNames(c.podBridge);
    const list = () => spawnSync('nft', ['list', 'table', 'ip', names.serviceTable], { encoding: 'utf8' });
    const nodeRules = () =>
      spawnSync('iptables-save', [], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.includes(`${names.chainPrefix}-`) || l.includes(` ${c.podBridge} `));
    const bridge = () => spawnSync('ip', ['link', 'show', c.podBridge], { encoding: 'utf8' });
    expect(list().status).toBe(0);
    expect(nodeRules().length).toBeGreaterThan(0);
    expect(bridge().status).toBe(0);
    // Checked as the stop left them, before the harness clears the slot.
    await c.stop({
      afterExit: () => {
        expect(list().status).not.toBe(0);
        expect(nodeRules()).toEqual([]);
        expect(bridge().status).not.toBe(0);
      },
    });
  });
});
