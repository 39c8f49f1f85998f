import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { Client } from '../client/client.ts';
import { Slots, limitedClient } from './client-limit.ts';

const configMaps = kindFor('v1', 'ConfigMap')!;

describe('Slots', () => {
  it('runs at most `limit` at once, the newest waiter first, and frees a slot when one fails', async () => {
    const slots = new Slots(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await g.promise;
        running--;
        if (i === 1) throw new Error('boom');
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([0, 1]);
    expect(slots.queued).toBe(3);
    gates[1].resolve();
    await expect(runs[1]).rejects.toThrow('boom');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([0, 1, 4]);
    for (const g of gates) g.resolve();
    expect(await Promise.all([runs[0], runs[2], runs[3], runs[4]])).toEqual([0, 2, 3, 4]);
    expect(order).toEqual([0, 1, 4, 3, 2]);
    expect(most).toBe(2);
    expect(slots.inUse).toBe(0);
  });

  it('refuses a limit below one', () => {
    expect(() => new Slots(0)).toThrow(/at least 1/);
  });
});

describe('limitedClient', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it("bounds a client's requests in flight (a real HTTP server sees at most the limit at once)", async () => {
    let open = 0;
    let most = 0;
    server = createServer((req, res) => {
      open++;
      most = Math.max(most, open);
      // Answer after a few more requests had the chance to arrive.
      setTimeout(() => {
        open--;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: req.url!.split('/').pop() },
          }),
        );
      }, 20);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const client = new Client({ server: `http://127.0.0.1:${port}`, token: 't' });
    const limited = limitedClient(client, new Slots(3));
    const names = Array.from({ length: 12 }, (_, i) => `cm-${i}`);
    const got = await Promise.all(names.map((n) => limited.get(configMaps, 'default', n)));
    expect(got.map((o) => o.metadata.name)).toEqual(names);
    expect(most).toBe(3);
    // The unlimited client is untouched by the view.
    most = 0;
    await Promise.all(names.map((n) => client.get(configMaps, 'default', n)));
    expect(most).toBeGreaterThan(3);
    client.close();
  });
});
