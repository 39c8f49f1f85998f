// `GET .../pods/{name}/log` is served by the node agent that runs the pod (as the kubelet serves it in
// Kubernetes). The server finds the agent's endpoint in the Node's status and streams its answer back,
// forwarding the caller's bearer token; the agent checks that token with a TokenReview.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { badRequest, statusFailure } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';

export function agentEndpoint(node: any): string | undefined {
  const port = node?.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  const addrs: Array<{ type: string; address: string }> = node?.status?.addresses ?? [];
  const addr = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs[0]?.address;
  if (!port || !addr) return undefined;
  return `http://${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
}

export async function proxyPodLogs(
  req: FastifyRequest,
  reply: FastifyReply,
  pod: any,
  node: any,
): Promise<void> {
  const q = req.query as Record<string, string | undefined>;
  const containers: string[] = pod.spec.containers.map((c: any) => c.name);
  const container = q.container ?? (containers.length === 1 ? containers[0] : undefined);
  if (!container) {
    throw new ApiError(
      badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.join(' ')}]`,
      ),
    );
  }
  if (!containers.includes(container)) {
    throw new ApiError(badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`));
  }
  if (!pod.spec.nodeName) {
    throw new ApiError(badRequest(`pod ${pod.metadata.name} is not scheduled to a node yet; it has no logs`));
  }
  const base = agentEndpoint(node);
  if (!base) {
    throw new ApiError(
      statusFailure(503, 'ServiceUnavailable', `node ${pod.spec.nodeName} has no reachable agent endpoint`),
    );
  }
  const params = new URLSearchParams();
  for (const k of ['follow', 'previous', 'tailLines', 'timestamps', 'limitBytes'])
    if (q[k] !== undefined) params.set(k, q[k]!);
  const url = `${base}/containerLogs/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/${encodeURIComponent(container)}?${params}`;
  const abort = new AbortController();
  req.raw.on('close', () => abort.abort());
  let upstream: Response;
  try {
    upstream = await fetch(url, {
      headers: { authorization: req.headers.authorization ?? '' },
      signal: abort.signal,
    });
  } catch (err) {
    throw new ApiError(
      statusFailure(
        503,
        'ServiceUnavailable',
        `cannot reach the agent of node ${pod.spec.nodeName}: ${(err as Error).message}`,
      ),
    );
  }
  if (!upstream.ok) {
    const text = await upstream.text();
    let status: any;
    try {
      status = JSON.parse(text);
    } catch {
      status = statusFailure(upstream.status, 'InternalError', text || `agent answered ${upstream.status}`);
    }
    throw new ApiError(status);
  }
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' });
  const body = Readable.fromWeb(upstream.body as any);
  body.on('error', () => reply.raw.end());
  body.pipe(reply.raw);
}
