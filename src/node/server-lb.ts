// The agent's side of several API servers: with more than one --server (or --lb-port), the agent talks to
// its local load balancer (src/agent/server-lb.ts) and the load balancer to the servers; the servers
// named in the `default/kubernetes` EndpointSlice are added to its list as they appear (each server
// writes its own address there), and the list is kept in DATA/servers.json for restarts.
import { join } from 'node:path';
import { kindFor } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import { ServerLoadBalancer } from '../agent/server-lb.ts';

export const DEFAULT_LB_PORT = 6444;

export interface AgentLoadBalancer {
  /** https://127.0.0.1:PORT, the URL the agent uses. */
  url: string;
  balancer: ServerLoadBalancer;
  /** Starts learning servers from the cluster through `client` (every 30 s). */
  follow(client: Client): void;
  stop(): Promise<void>;
}

export async function startAgentLoadBalancer(o: {
  servers: string[];
  dataDir: string;
  port?: number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}): Promise<AgentLoadBalancer> {
  const balancer = new ServerLoadBalancer({
    servers: o.servers,
    port: o.port ?? DEFAULT_LB_PORT,
    stateFile: join(o.dataDir, 'servers.json'),
    log: o.log,
  });
  const url = await balancer.start();
  let timer: NodeJS.Timeout | undefined;
  const slice = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
  return {
    url,
    balancer,
    follow(client) {
      const refresh = async () => {
        try {
          const s = await client.find(slice, 'default', 'kubernetes');
          const port = s?.ports?.[0]?.port;
          if (!s || !port) return;
          const addrs = (s.endpoints ?? []).flatMap((e: { addresses?: string[] }) => e.addresses ?? []);
          balancer.learn(addrs.map((host: string) => ({ host, port })));
        } catch (err) {
          o.log?.warn(
            { err: (err as Error).message },
            'load balancer: could not read the kubernetes endpoints',
          );
        }
      };
      void refresh();
      timer = setInterval(() => void refresh(), 30_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await balancer.stop();
    },
  };
}
