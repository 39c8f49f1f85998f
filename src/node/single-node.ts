// `strata up`: the control plane and a node in one process — the node's agent talks to the API over
// HTTPS like any other agent, so a single-node cluster runs the same code paths as a multi-node one.
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  startControlPlaneNode,
  type ControlPlaneNodeOptions,
  type RunningControlPlane,
} from './control-plane.ts';
import { Client } from '../client/client.ts';
import { fileLogger, nodeTiers, startNode, type PodNetworkSettings, type RunningNode } from './node.ts';
import { createJoinToken, storedNodeCertificate } from './node-identity.ts';

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
  const controlPlane = await startControlPlaneNode({
    ...o,
    localNodeName: o.nodeName ?? hostname().toLowerCase(),
    // Event sinks that are Knative Services are reached through this node's gateway.
    eventing: {
      ...(o.httpPort !== 0 ? { gateway: `http://127.0.0.1:${o.httpPort ?? 80}` } : {}),
      ...o.eventing,
    },
  });
  const agentDir = join(o.dataDir, 'agent');
  const node = await startNode({
    dataDir: agentDir,
    // `strata up`: the node follows the cluster's DATA/image-signatures.yaml, as admission does.
    imageSignaturePolicy: join(o.dataDir, 'image-signatures.yaml'),
    server: controlPlane.url,
    ...(await localNodeCredentials(controlPlane, agentDir, o.nodeName)),
    ca: controlPlane.ca,
    runtimes: o.runtimes,
    nodeName: o.nodeName,
    leaseDurationSeconds: o.leaseDurationSeconds,
    serviceCidr: o.serviceCidr,
    podNetwork: o.podNetwork,
    // One node: its pods keep the local range (10.88.0.0/16 unless --pod-cidr), as before servers allocated.
    waitForPodCidr: false,
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

/**
 * How the local node authenticates: on HTTPS, its own certificate — the first time through a short-lived
 * join token the admin makes, exactly as a node on another host joins; over plain HTTP (no certificates),
 * a token of its own (system:node:NAME, in DATA/tokens), never the admin's.
 */
async function localNodeCredentials(
  cp: RunningControlPlane,
  agentDir: string,
  nodeName = hostname().toLowerCase(),
): Promise<{ token?: string; joinToken?: string }> {
  if (!cp.ca) return { token: cp.localNodeToken ?? cp.adminToken };
  if (storedNodeCertificate(agentDir, cp.ca, nodeName)) return {};
  const admin = new Client({ server: cp.url, token: cp.adminToken, tls: { ca: cp.ca } });
  try {
    return { joinToken: await createJoinToken(admin, 600, `strata up: node ${nodeName} joining`) };
  } finally {
    admin.close();
  }
}
