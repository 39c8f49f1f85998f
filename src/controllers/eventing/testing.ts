// For the eventing tests: a real HTTP server on loopback standing for a sink or subscriber.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: Record<string, unknown>;
  body: string;
}

export interface RecordingSink {
  server: Server;
  url: string;
  port: number;
  /** Every request, in arrival order. */
  got: Received[];
  close(): Promise<void>;
}

/** A sink answering `statuses` in turn (the last one repeats), recording what it got. */
export async function recordingSink(statuses: number[] = [200]): Promise<RecordingSink> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses[Math.min(got.length - 1, statuses.length - 1)]).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${port}/`,
    port,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
