// `POST .../pods/{name}/exec` ({ container?, command: [...] }): runs a command in a running container
// through the node agent (non-interactive: the answer carries exit code, stdout and stderr, base64).
import type { FastifyRequest } from 'fastify';
import { badRequest, statusFailure } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';
import { agentEndpoint } from './logs-proxy.ts';

export async function proxyExec(req: FastifyRequest, pod: any, node: any): Promise<unknown> {
  const body = (req.body ?? {}) as { container?: string; command?: unknown };
  const containers: string[] = pod.spec.containers.map((c: any) => c.name);
  const container = body.container ?? (containers.length === 1 ? containers[0] : undefined);
  if (!container || !containers.includes(container)) {
    throw new ApiError(
      badRequest(`container: choose one of [${containers.join(' ')}] for pod ${pod.metadata.name}`),
    );
  }
  if (
    !Array.isArray(body.command) ||
    body.command.length === 0 ||
    !body.command.every((c) => typeof c === 'string')
  ) {
    throw new ApiError(badRequest('command: Required value: a non-empty list of strings'));
  }
  const base = agentEndpoint(node);
  if (!pod.spec.nodeName || !base) {
    throw new ApiError(badRequest(`pod ${pod.metadata.name} is not running on a node`));
  }
  const url = `${base}/exec/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/${encodeURIComponent(container)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ command: body.command }),
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
  const answer = await res.json().catch(() => undefined);
  if (!res.ok)
    throw new ApiError(answer ?? statusFailure(res.status, 'InternalError', `agent answered ${res.status}`));
  return answer;
}
