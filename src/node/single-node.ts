// `strata up`: the control plane and a node in one process — the node's agent talks to the API over
// HTTPS like any other agent, so a single-node cluster runs the same code paths as a multi-node one.
import { join } from 'node:path';
import {
  startControlPlaneNode,
  type ControlPlaneNodeOptions,
  type RunningControlPlane,
} from './control-plane.ts';
import { fileLogger, nodeTiers, startNode, type PodNetworkSettings, type RunningNode } from './node.ts';

export interface SingleNodeOptions extends ControlPlaneNodeOptions {
  /** Comma-separated runtime classes the node runs (default: the registry's defaults). */
  runtimes?: string;
  nodeName?: string;
  /** The agent's lease duration in seconds (it renews every quarter of it). */
  leaseDurationSeconds?: number;
  /** The node's pod bridge and range (`--pod-bridge`, `--pod-cidr`). */
  podNetwork?: PodNetworkSettings;
  /** The gateway's Ingress ports (`--http-port`, `--https-port`; 0 = off). */
  httpPort?: number;
  httpsPort?: number;
  /** The node's log (JSON lines); the server logs to DATA/server.log. */
  logFile: string;
  verbose?: boolean;
}

export interface SingleNode {
  controlPlane: RunningControlPlane;
  node: RunningNode;
  /** The whole node goes away: its sandboxes are stopped too (a kill -9 leaves them to be re-adopted). */
  stop(): Promise<void>;
}

export async function startSingleNode(o: SingleNodeOptions): Promise<SingleNode> {
  nodeTiers(o.runtimes); // a bad --runtimes fails before anything starts
  const log = fileLogger(o.logFile, !!o.verbose);
  const controlPlane = await startControlPlaneNode(o);
  const node = await startNode({
    dataDir: join(o.dataDir, 'agent'),
    server: controlPlane.url,
    token: controlPlane.adminToken,
    ca: controlPlane.ca,
    runtimes: o.runtimes,
    nodeName: o.nodeName,
    leaseDurationSeconds: o.leaseDurationSeconds,
    serviceCidr: o.serviceCidr,
    podNetwork: o.podNetwork,
    httpPort: o.httpPort,
    httpsPort: o.httpsPort,
    log: log.child({ component: 'agent' }),
  });
  return {
    controlPlane,
    node,
    async stop() {
      await node.stop({ stopSandboxes: true });
      await controlPlane.stop();
    },
  };
}
