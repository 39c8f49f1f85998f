// A TCP port nobody listens on right now, for tests, benchmarks and helper processes that must be told a
// port before they start (etcd, a registry, a gateway listener). The kernel picks it; the port is released
// before returning, so a caller races only with other processes picking ports at the same moment.
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
