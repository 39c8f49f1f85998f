// How the server reaches a node agent (the kubelet's port): logs, exec, attach and port-forward are served
// by the agent that runs the pod. The agent serves HTTPS with its own certificate, published on its Node
// (annotation strata.dev/agent-serving-cert); the server pins exactly that certificate, and presents its
// own client certificate (CN=system:kube-apiserver, signed by the cluster CA) so the agent knows the caller
// is the control plane — as kube-apiserver does with --kubelet-client-certificate.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { AGENT_CERT_ANNOTATION } from '../api/index.ts';

export interface AgentTarget {
  /** e.g. https://10.0.0.5:10250 */
  base: string;
  /** TLS options for node:https / node:tls / ws when base is https (empty for a plain-HTTP agent). */
  tls: ConnectionOptions;
}

export interface AgentRequest {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  signal?: AbortSignal;
}

export class AgentDialer {
  private readonly identity: { cert: string; key: string } | undefined;

  /** identity: the server's client certificate towards agents (none: plain-HTTP development clusters). */
  constructor(identity?: { cert: string; key: string }) {
    this.identity = identity;
  }

  /** Where the agent of `node` listens and how to verify it, or undefined if the Node advertises none. */
  target(node: any): AgentTarget | undefined {
    const port = node?.status?.daemonEndpoints?.kubeletEndpoint?.Port;
    const addrs: Array<{ type: string; address: string }> = node?.status?.addresses ?? [];
    const addr = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs[0]?.address;
    if (!port || !addr) return undefined;
    const host = addr.includes(':') ? `[${addr}]` : addr;
    const pinned = node?.metadata?.annotations?.[AGENT_CERT_ANNOTATION];
    if (!pinned) return { base: `http://${host}:${port}`, tls: {} };
    return {
      base: `https://${host}:${port}`,
      tls: {
        ca: Buffer.from(pinned, 'base64').toString('utf8'),
        // The pinned certificate is the only trust anchor: it was published by the node itself, so the
        // name it carries does not matter.
        checkServerIdentity: () => undefined,
        ...(this.identity ? { cert: this.identity.cert, key: this.identity.key } : {}),
      },
    };
  }

  /** An HTTP request to the node's agent; resolves with the response (any status). */
  request(node: any, path: string, r: AgentRequest = {}): Promise<IncomingMessage> {
    const t = this.mustTarget(node);
    const url = new URL(t.base + path);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...t.tls, method: r.method ?? 'GET', headers: r.headers, signal: r.signal });
      req.on('response', resolve);
      req.on('error', reject);
      req.end(r.body);
    });
  }

  /** An HTTP/1.1 Upgrade to the node's agent; resolves with the upgraded socket once it answers 101. */
  upgrade(
    node: any,
    path: string,
    headers: OutgoingHttpHeaders,
    method = 'GET',
  ): Promise<{ socket: Duplex; head: Buffer; response: IncomingMessage }> {
    const t = this.mustTarget(node);
    const url = new URL(t.base + path);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...t.tls, method, headers: { connection: 'Upgrade', ...headers } });
      req.on('upgrade', (response, socket, head) => resolve({ socket, head, response }));
      req.on('response', (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          reject(new AgentRefusedError(res.statusCode ?? 500, Buffer.concat(parts).toString('utf8'))),
        );
      });
      req.on('error', reject);
      req.end();
    });
  }

  private mustTarget(node: any): AgentTarget {
    const t = this.target(node);
    if (!t) throw new Error(`node ${node?.metadata?.name ?? '?'} has no reachable agent endpoint`);
    return t;
  }
}

/** The agent answered an upgrade with a normal response (its body is usually a Status). */
export class AgentRefusedError extends Error {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, body: string) {
    super(`the agent refused the upgrade with HTTP ${statusCode}`);
    this.statusCode = statusCode;
    this.body = body;
  }
}
