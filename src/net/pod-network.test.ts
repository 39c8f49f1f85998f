// PodNetwork against the real kernel: namespaces, veths, a bridge and iptables rules of its own (a test
// bridge, range and chain prefix, so nothing of a real node is touched). Traffic goes only to pod
// addresses on that bridge and to 127.0.0.1. Needs root; skipped otherwise.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../lib/command.ts';
import { Iptables } from './iptables.ts';
import { PodNetwork } from './pod-network.ts';
import { inNetns, networkingUnavailable, tracesOf } from './test-support.ts';

const unavailable = networkingUnavailable();
if (unavailable) console.warn(`skipping pod network tests: ${unavailable}`);

const tag = String(process.pid % 100000);
const opts = {
  bridge: `stnt${tag}`,
  subnet: '10.89.10.0/24',
  chainPrefix: `STNT${tag}`,
  netnsPrefix: `stnt${tag}-`,
  vethPrefix: 'stnt',
};

let dir: string;
let net: PodNetwork;
const servers: ChildProcess[] = [];

// Busybox 1.35 (Debian, static) wget segfaults with -T: timeouts come from execFileSync instead.

/** Serves `text` over HTTP on port 8080 inside the pod's namespace (busybox httpd, foreground). */
async function serve(netns: string, text: string): Promise<void> {
  const www = mkdtempSync(join(dir, 'www-'));
  writeFileSync(join(www, 'index.html'), text);
  const child = spawn(
    which('ip')!,
    ['netns', 'exec', netns, which('busybox')!, 'httpd', '-f', '-p', '8080', '-h', www],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  servers.push(child);
  // Ready once the port answers from inside the namespace.
  for (let i = 0; i < 100; i++) {
    try {
      inNetns(netns, ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 3000);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`httpd did not start: ${stderr}`);
}

function netnsName(uid: string): string {
  return `${opts.netnsPrefix}${uid}`;
}

function nodeAddress(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe.skipIf(unavailable)('PodNetwork (root)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-net-'));
    net = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
  });
  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await net?.uninstall();
    // Nothing of the test network may remain.
    expect(existsSync(`/sys/class/net/${opts.bridge}`)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives each pod a namespace and an address; pods reach each other by ping and HTTP', async () => {
    const a = await net.setup('pod-a');
    const b = await net.setup('pod-b');
    expect(a.ip).toBe('10.89.10.2');
    expect(b.ip).toBe('10.89.10.3');
    expect(a.gateway).toBe('10.89.10.1');
    expect(existsSync(a.netnsPath)).toBe(true);
    expect(inNetns(netnsName('pod-a'), ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(
      '10.89.10.2/24',
    );
    expect(inNetns(netnsName('pod-a'), ['ip', 'route'])).toContain('default via 10.89.10.1');

    expect(inNetns(netnsName('pod-a'), ['busybox', 'ping', '-c', '1', '-W', '2', b.ip])).toContain(
      '1 packets received',
    );
    expect(inNetns(netnsName('pod-b'), ['busybox', 'ping', '-c', '1', '-W', '2', a.gateway])).toContain(
      '1 packets received',
    );
    await serve(netnsName('pod-b'), 'hello from b\n');
    const body = inNetns(netnsName('pod-a'), ['busybox', 'wget', '-q', '-O', '-', `http://${b.ip}:8080/`]);
    expect(body).toBe('hello from b\n');
  });

  it('setup is idempotent for a pod that already has a network', async () => {
    const again = await net.setup('pod-a');
    expect(again.ip).toBe('10.89.10.2');
    expect(net.pods().sort()).toEqual(['pod-a', 'pod-b']);
  });

  it('publishes a hostPort on 127.0.0.1 and the node address, and to other pods', async () => {
    await net.publish('pod-b', { containerPort: 8080, hostPort: 38080 });
    const res = await fetch('http://127.0.0.1:38080/');
    expect(await res.text()).toBe('hello from b\n');
    const node = nodeAddress();
    if (node) expect(await (await fetch(`http://${node}:38080/`)).text()).toBe('hello from b\n');
    // Another pod through the node address (DNAT + masquerade), and pod b through its own (hairpin).
    if (node) {
      for (const pod of ['pod-a', 'pod-b']) {
        const body = inNetns(netnsName(pod), ['busybox', 'wget', '-q', '-O', '-', `http://${node}:38080/`]);
        expect(body).toBe('hello from b\n');
      }
    }
    // Idempotent; a clash with another pod is refused and changes nothing.
    await net.publish('pod-b', { containerPort: 8080, hostPort: 38080 });
    await expect(net.publish('pod-a', { containerPort: 80, hostPort: 38080 })).rejects.toThrow(
      /already published/,
    );
    await expect(net.publish('pod-a', { containerPort: 0, hostPort: 1 })).rejects.toThrow(/containerPort/);
    expect(tracesOf('pod-a', { netns: 'none' })).toEqual([]);
    expect(tracesOf('pod-b', { netns: 'none' }).filter((l) => l.includes('DNAT'))).toHaveLength(1);
  });

  it('teardown leaves no trace of the pod', async () => {
    const b = net.get('pod-b')!;
    await net.teardown('pod-b');
    expect(tracesOf('pod-b', { netns: netnsName('pod-b'), veth: b.hostInterface })).toEqual([]);
    expect(net.get('pod-b')).toBeUndefined();
    expect(net.pods()).toEqual(['pod-a']);
    await net.teardown('pod-b'); // idempotent
    await expect(fetch('http://127.0.0.1:38080/', { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
  });

  it('reconcile after a crash removes what gone pods left, with or without their records', async () => {
    const c = await net.setup('pod-c');
    const d = await net.setup('pod-d');
    await net.publish('pod-c', { containerPort: 8080, hostPort: 38081 });
    // The agent "crashes": a new instance on the same state; pod-c's record is lost as well.
    rmSync(join(dir, 'state', 'pods', 'pod-c.json'));
    const after = new PodNetwork({ stateDir: join(dir, 'state'), ...opts });
    const report = await after.reconcile(['pod-d']);
    expect(report.pods.sort()).toEqual(['pod-a']);
    expect(report.netns).toEqual([netnsName('pod-c')]);
    expect(report.rules).toBe(1);
    expect(report.addresses).toEqual([c.ip]); // pod-a's went with its record
    expect(tracesOf('pod-c', { netns: netnsName('pod-c'), veth: c.hostInterface })).toEqual([]);
    expect(tracesOf('pod-a', { netns: netnsName('pod-a') })).toEqual([]);
    // The survivor keeps its address and still works.
    expect(after.get('pod-d')?.ip).toBe(d.ip);
    expect(inNetns(netnsName('pod-d'), ['busybox', 'ping', '-c', '1', '-W', '2', d.gateway])).toContain(
      '1 packets received',
    );
    net = after;
  });

  it('keeps node-level rules in its own chains only', async () => {
    const nat = await new Iptables().save('nat');
    const ours = nat.split('\n').filter((l) => l.includes(opts.chainPrefix));
    expect(ours).toContain(`-A POSTROUTING -j ${opts.chainPrefix}-POSTROUTING`);
    expect(ours).toContain(
      `-A ${opts.chainPrefix}-POSTROUTING -s 10.89.10.0/24 ! -d 10.89.10.0/24 -j MASQUERADE`,
    );
    // route_localnet is on for the bridge (DNAT from 127.0.0.1); the guard drops what a pod could send
    // to the node's loopback through it (CVE-2020-8558).
    const filter = await new Iptables().save('filter');
    expect(filter).toContain(
      `-A ${opts.chainPrefix}-INPUT -d 127.0.0.0/8 -i ${opts.bridge} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  });
});
