// Two "hosts", each a network namespace on a test link (10.250.77.1/.2, made here; nothing else is
// touched), each with a pod range on a bridge (as the node's pod bridge). The overlay carries TCP from
// one pod range to the other over VXLAN; sync() removes a peer that went away, and traffic to it stops.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../../lib/command.ts';
import { VxlanOverlay } from './vxlan.ts';

const why =
  process.getuid?.() !== 0
    ? 'needs root'
    : !which('ip') || !which('bridge')
      ? 'needs iproute2 (ip, bridge)'
      : undefined;
if (why) console.warn(`skipping VXLAN overlay test: ${why}`);

const H = ['stratavx-h1', 'stratavx-h2'] as const;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });

/** A TCP connection from `from` in host h1 to `to`:7777 (a server in host h2); what the server said. */
function connectAcross(from: string, to: string, timeoutMs: number): string {
  const script =
    `const s=require('net').connect({host:'${to}',port:7777,localAddress:'${from}',timeout:${timeoutMs}});` +
    `s.on('data',d=>{process.stdout.write(d);s.end()});` +
    `s.on('timeout',()=>{console.error('timeout');process.exit(1)});` +
    `s.on('error',e=>{console.error(e.message);process.exit(1)})`;
  return execFileSync('ip', ['netns', 'exec', H[0], process.execPath, '-e', script], {
    encoding: 'utf8',
    stdio: 'pipe',
  });
}

function cleanup(): void {
  for (const ns of H) {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* not there */
    }
  }
}

describe.skipIf(why)('VXLAN overlay between two netns hosts', () => {
  const overlays: VxlanOverlay[] = [];
  let server: ChildProcess | undefined;
  const ranges = ['10.251.0.0/24', '10.251.1.0/24'];

  beforeAll(async () => {
    cleanup();
    for (const ns of H) ip('netns', 'add', ns);
    ip('link', 'add', 'svx-a', 'netns', H[0], 'type', 'veth', 'peer', 'name', 'svx-b', 'netns', H[1]);
    for (const [i, ns] of H.entries()) {
      const dev = i === 0 ? 'svx-a' : 'svx-b';
      ip('-n', ns, 'addr', 'add', `10.250.77.${i + 1}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // The "pods": an address in the node's range on its pod bridge.
      ip('-n', ns, 'link', 'add', 'pods', 'type', 'bridge');
      ip('-n', ns, 'addr', 'add', `10.251.${i}.10/24`, 'dev', 'pods');
      ip('-n', ns, 'link', 'set', 'pods', 'up');
      const o = new VxlanOverlay({ localIP: `10.250.77.${i + 1}`, podCidr: ranges[i]!, netns: ns });
      await o.up();
      await o.up(); // idempotent
      overlays.push(o);
    }
    const peers = [
      { nodeIP: '10.250.77.1', podCidr: ranges[0]! },
      { nodeIP: '10.250.77.2', podCidr: ranges[1]! },
    ];
    for (const o of overlays) {
      await o.sync(peers);
      await o.sync(peers); // nothing changes the second time
    }
    // A "pod" server in h2 on its pod address, answering with the caller's address.
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        H[1],
        process.execPath,
        '-e',
        `require('net').createServer(s=>s.end('hello from h2 to '+s.remoteAddress)).listen(7777,'10.251.1.10',()=>console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => server!.stdout!.once('data', () => resolve()));
  });
  afterAll(() => {
    server?.kill();
    cleanup();
  });

  it('carries pod-range traffic from one host to the other, source address kept', () => {
    expect(connectAcross('10.251.0.10', '10.251.1.10', 10_000)).toBe('hello from h2 to 10.251.0.10');
    // Through the VXLAN device: its route names the peer's device address, its FDB the peer's node.
    expect(ip('-n', H[0], 'route', 'show', 'dev', 'strata.vxlan')).toMatch(
      /10\.251\.1\.0\/24 via 10\.251\.1\.0/,
    );
    const fdb = execFileSync('bridge', ['-netns', H[0], 'fdb', 'show', 'dev', 'strata.vxlan'], {
      encoding: 'utf8',
    });
    expect(fdb).toMatch(/00:00:00:00:00:00 dst 10\.250\.77\.2/);
  });

  it('removes a peer that went away, and traffic to it stops', async () => {
    // The peer goes first, as a node that left would: while it still knew h1 its late packets (the last
    // connection's teardown) could make h1's device learn an entry behind it again after h1's sync.
    await overlays[1]!.sync([{ nodeIP: '10.250.77.2', podCidr: ranges[1]! }]);
    await overlays[0]!.sync([{ nodeIP: '10.250.77.1', podCidr: ranges[0]! }]);
    expect(ip('-n', H[0], 'route', 'show', 'dev', 'strata.vxlan')).not.toMatch(/10\.251\.1\.0/);
    const fdb = execFileSync('bridge', ['-netns', H[0], 'fdb', 'show', 'dev', 'strata.vxlan'], {
      encoding: 'utf8',
    });
    expect(fdb).not.toMatch(/dst 10\.250\.77\.2/);
    expect(() => connectAcross('10.251.0.10', '10.251.1.10', 2_000)).toThrow();
  });
});
