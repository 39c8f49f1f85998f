// An in-process Strata (control plane, optionally with an agent) in a temp directory, for benchmarks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.ts';
import { Client } from '../../src/client/client.ts';
import { WasmDriver } from '../../src/sandbox/wasm/driver.ts';
import { startControlPlane, type ControlPlane } from '../../src/node/assemble-control-plane.ts';

export interface BenchCluster {
  cp: ControlPlane;
  client: Client;
  agent?: Agent;
  stop(): Promise<void>;
}

/** insecureHttp: serve plain HTTP (to compare with an HTTP baseline); default HTTPS, as users run it. */
export async function startBenchCluster(opts: {
  agent: boolean;
  insecureHttp?: boolean;
}): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  const cp = await startControlPlane({ dataDir: dir, port: 0, insecureHttp: opts.insecureHttp });
  const client = new Client({ server: cp.url, token: cp.adminToken, tls: { ca: cp.pki?.ca.cert } });
  let agent: Agent | undefined;
  if (opts.agent) {
    agent = new Agent({
      client,
      drivers: [new WasmDriver({ cacheDir: join(dir, 'wasm-cache') })],
      dataDir: join(dir, 'agent'),
      nodeName: 'bench-node',
      maxPods: 100_000,
    });
    await agent.start();
  }
  return {
    cp,
    client,
    agent,
    async stop() {
      await agent?.stop();
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
