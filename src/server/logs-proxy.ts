// `GET .../pods/{name}/log` is served by the node agent that runs the pod (as the kubelet serves it in
// Kubernetes). The server finds the agent's endpoint in the Node's status and streams its answer back,
// forwarding the caller's bearer token; the agent checks that token with a TokenReview.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { badRequest, statusFailure } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';

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
  const base = req.server.agents.target(node)?.base;
  if (!base) {
    throw new ApiError(
      statusFailure(503, 'ServiceUnavailable', `node ${pod.spec.nodeName} has no reachable agent endpoint`),
    );
  }
  const params = new URLSearchParams();
  for (const k of ['follow', 'previous', 'tailLines', 'timestamps', 'limitBytes'])
    if (q[k] !== undefined) params.set(k, q[k]!);
  const path = `/containerLogs/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/${encodeURIComponent(container)}?${params}`;
  const abort = new AbortController();
  req.raw.on('close', () => abort.abort());
  let upstream: IncomingMessage;
  try {
    upstream = await req.server.agents.request(node, path, {
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
  const code = upstream.statusCode ?? 500;
  if (code >= 400) {
    const parts: Buffer[] = [];
    for await (const d of upstream) parts.push(d as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    let status: any;
    try {
      status = JSON.parse(text);
    } catch {
      status = statusFailure(code, 'InternalError', text || `agent answered ${code}`);
    }
    throw new ApiError(status);
  }
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' });
  upstream.on('error', () => reply.raw.end());
  upstream.pipe(reply.raw);
}
