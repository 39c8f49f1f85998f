// `GET .../pods/{name}/log` is served by the node agent that runs the pod (as the kubelet serves it in
// Kubernetes). The server checks the request the way kube-apiserver and the kubelet do — the container
// (named, the kubectl.kubernetes.io/default-container annotation, or the only one), the PodLogOptions
// (follow, previous, tailLines, sinceSeconds, sinceTime, timestamps, limitBytes), and the container's
// state in the pod's status — then streams the agent's answer back (AgentDialer).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { badRequest, statusFailure } from '../api/index.ts';
import { ApiError } from '../store/objects.ts';
import { chooseContainer, requireHost } from './streams/pod-target.ts';

/** PodLogOptions passed on to the agent as they came (after validation). */
const PASSED = ['follow', 'previous', 'tailLines', 'sinceSeconds', 'sinceTime', 'timestamps', 'limitBytes'];

export async function proxyPodLogs(
  req: FastifyRequest,
  reply: FastifyReply,
  pod: any,
  node: any,
): Promise<void> {
  const q = req.query as Record<string, string | undefined>;
  const name = pod.metadata.name;
  const container = chooseContainer(pod, q.container);
  validateLogOptions(name, q);
  requireHost(pod);
  checkContainerState(pod, container, q.previous === 'true');
  const params = new URLSearchParams();
  for (const k of PASSED) if (q[k] !== undefined) params.set(k, q[k]!);
  const path = `/containerLogs/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${params}`;
  const abort = new AbortController();
  req.raw.on('close', () => abort.abort());
  let upstream: IncomingMessage;
  try {
    upstream = await req.server.agents.request(node, path, {
      headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
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
  // A follower may wait long for the first line: the client should not wait for headers too.
  reply.raw.flushHeaders();
  upstream.on('error', () => reply.raw.end());
  upstream.pipe(reply.raw);
}

/** kube-apiserver's ValidatePodLogOptions, after the query parameters convert. */
export function validateLogOptions(pod: string, q: Record<string, string | undefined>): void {
  const ints: Record<string, number> = {};
  for (const k of ['tailLines', 'sinceSeconds', 'limitBytes']) {
    const v = q[k];
    if (v === undefined) continue;
    if (!/^-?\d+$/.test(v)) throw new ApiError(badRequest(`${k}: Invalid value: "${v}": must be an integer`));
    ints[k] = Number(v);
  }
  for (const k of ['follow', 'previous', 'timestamps']) {
    const v = q[k];
    if (v !== undefined && !['true', 'false', '1', '0', 't', 'f', 'True', 'False', ''].includes(v)) {
      throw new ApiError(badRequest(`${k}: Invalid value: "${v}": must be true or false`));
    }
  }
  if (q.sinceTime !== undefined && !isRfc3339(q.sinceTime)) {
    throw new ApiError(badRequest(`sinceTime: Invalid value: "${q.sinceTime}": must be an RFC 3339 time`));
  }
  const causes: Array<{ field: string; message: string; reason: string }> = [];
  const invalid = (field: string, value: number, why: string): void => {
    causes.push({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${why}` });
  };
  if (ints.tailLines !== undefined && ints.tailLines < 0) {
    invalid('tailLines', ints.tailLines, 'must be greater than or equal to 0');
  }
  if (ints.limitBytes !== undefined && ints.limitBytes < 1) {
    invalid('limitBytes', ints.limitBytes, 'must be greater than 0');
  }
  if (ints.sinceSeconds !== undefined && q.sinceTime !== undefined) {
    causes.push({
      field: '',
      reason: 'FieldValueForbidden',
      message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
    });
  } else if (ints.sinceSeconds !== undefined && ints.sinceSeconds < 1) {
    invalid('sinceSeconds', ints.sinceSeconds, 'must be greater than 0');
  }
  if (causes.length === 0) return;
  const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const message = `PodLogOptions "${pod}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`;
  throw new ApiError(statusFailure(422, 'Invalid', message, { name: pod, kind: 'PodLogOptions', causes }));
}

function isRfc3339(v: string): boolean {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v));
}

/**
 * The kubelet's validateContainerLogStatus, read from the pod's status: which run's log exists, and the
 * kubelet's words for a container that has none yet.
 */
export function checkContainerState(pod: any, container: string, previous: boolean): void {
  const name = pod.metadata.name;
  const all = [
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  const cs = all.find((s: any) => s.name === container);
  const fail = (message: string): never => {
    throw new ApiError(badRequest(message));
  };
  if (!cs) return fail(`container "${container}" in pod "${name}" is waiting to start - no logs yet`);
  const state = cs.state ?? {};
  const last = cs.lastState ?? {};
  if (previous) {
    if (!last.terminated) fail(`previous terminated container "${container}" in pod "${name}" not found`);
    return;
  }
  if (state.running || state.terminated || last.terminated) return;
  const reason = state.waiting?.reason;
  if (reason === 'ErrImagePull')
    fail(`container "${container}" in pod "${name}" is waiting to start: image can't be pulled`);
  if (reason === 'ImagePullBackOff') {
    fail(`container "${container}" in pod "${name}" is waiting to start: trying and failing to pull image`);
  }
  if (reason) fail(`container "${container}" in pod "${name}" is waiting to start: ${reason}`);
  fail(`container "${container}" in pod "${name}" is waiting to start - no logs yet`);
}
