// The agent's load balancer against real HTTP servers on loopback: it sticks to the first server, moves
// to another when that one dies (new requests and a long-lived response alike), comes back to a list it
// learned, and keeps that list across restarts.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerLoadBalancer } from './server-lb.ts';

async function named(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200);
      res.write(`${name}\n`); // stays open, like a watch
      return;
    }
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}` };
}

const get = async (url: string) => (await fetch(url, { headers: { connection: 'close' } })).text();

describe('agent server load balancer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-lb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails over to another server when the one in use dies, and cuts what was open to it', async () => {
    const a = await named('a');
    const b = await named('b');
    const lb = new ServerLoadBalancer({ servers: [a.url, b.url], port: 0, healthIntervalMs: 200 });
    const url = await lb.start();
    try {
      expect(await get(url)).toBe('a');
      expect(await get(url)).toBe('a');
      // A long-lived response through the balancer (a watch).
      const stream = await fetch(`${url}/stream`);
      const reader = stream.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('a\n');
      const ended = (async () => {
        try {
          while (!(await reader.read()).done);
          return 'ended';
        } catch {
          return 'cut';
        }
      })();
      a.server.closeAllConnections();
      await new Promise<void>((r) => a.server.close(() => r()));
      expect(['ended', 'cut']).toContain(await ended);
      expect(await get(url)).toBe('b');
      expect(lb.status().current).toBe(new URL(b.url).host);
      expect(lb.status().servers.find((s) => s.address === new URL(a.url).host)?.healthy).toBe(false);
    } finally {
      await lb.stop();
      b.server.closeAllConnections();
      b.server.close();
    }
  });

  it('learns servers, keeps them in its state file, and uses them when the --server one is gone', async () => {
    const a = await named('a');
    const c = await named('c');
    const stateFile = join(dir, 'servers.json');
    const first = new ServerLoadBalancer({ servers: [a.url], port: 0, stateFile });
    await first.start();
    const cu = new URL(c.url);
    first.learn([{ host: cu.hostname, port: Number(cu.port) }]);
    await first.stop();
    a.server.close();
    // A restart with only the dead server on the command line still reaches the learned one.
    const second = new ServerLoadBalancer({ servers: [a.url], port: 0, stateFile });
    const url = await second.start();
    try {
      expect(await get(url)).toBe('c');
    } finally {
      await second.stop();
      c.server.close();
    }
  });
});
