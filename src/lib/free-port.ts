// A TCP port nobody listens on right now, for tests, benchmarks and helper processes that must be told a
// port before they start (etcd, a registry, a gateway listener). The port is released before returning, so
// the caller must bind it soon.
//
// Why not simply listen on port 0: the kernel then picks from the ephemeral range (32768–60999 here), the
// same range it hands to every outgoing connection. With a test suite opening thousands of connections, the
// port we returned was sometimes taken as a connection's local port before etcd bound it ("bind: address
// already in use", seen in CI). Ports below the ephemeral range and below the NodePort range (30000–32767)
// are never given out implicitly, so a random one there races only with another freePort caller.
import { createServer } from 'node:net';

const LOW = 15_000;
const HIGH = 29_999;

function tryListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (await tryListen(port, host)) return port;
  }
  throw new Error(`no free TCP port on ${host} in ${LOW}-${HIGH} after 200 tries`);
}
