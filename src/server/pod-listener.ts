// Where pods reach the API server. The server listens on loopback by default, which a pod cannot reach
// (its 127.0.0.1 is its own, and the node's loopback is fenced off from pods: CVE-2020-8558), so the
// `default/kubernetes` Service needs an address of the machine: the one on its default route, as
// kube-apiserver's --advertise-address defaults to. When the API listens on loopback only, a second
// HTTPS listener on that address serves the very same Fastify instance (same routes, authentication,
// client certificates, upgrades for exec/port-forward); the serving certificate carries every interface
// address and the Service's cluster IP.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';

/** The interface of the IPv4 default route (/proc/net/route), or undefined. */
function defaultRouteInterface(): string | undefined {
  try {
    const lines = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: destination and mask 0 = default.
    const routes = lines
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1] === '00000000' && f[7] === '00000000')
      .sort((a, b) => Number(a[6]) - Number(b[6]));
    return routes[0]?.[0];
  } catch {
    return undefined;
  }
}

/** The machine's address for others (pods, other nodes): its default route's IPv4 address. */
export function advertiseAddress(): string | undefined {
  const iface = defaultRouteInterface();
  const pick = (name: string) =>
    networkInterfaces()[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  if (iface) {
    const a = pick(iface);
    if (a) return a;
  }
  for (const name of Object.keys(networkInterfaces())) {
    const a = pick(name);
    if (a) return a;
  }
  return undefined;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

export interface PodListener {
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A second HTTPS listener on `address` (preferring `port`, else any free one) that hands every request
 * and upgrade to `app`. TLS options must be those of the app's own listener.
 */
export async function listenForPods(
  app: FastifyInstance,
  tls: { cert: string; key: string; ca: string },
  address: string,
  port: number,
): Promise<PodListener> {
  const server: Server = createServer(
    { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => app.routing(req, res),
  );
  // Watches and log streams are long-lived (as on the main listener).
  server.requestTimeout = 0;
  server.on('upgrade', (req, socket, head) => app.server.emit('upgrade', req, socket, head));
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(p, address, () => {
        server.off('error', onError);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await listen(0);
  }
  const bound = server.address() as { port: number };
  return {
    address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
