// `strata logs` and the log streaming `strata run` shares: the server's pod log endpoint, followed.
import { kindFor } from '../api/index.ts';
import { ClientError, resourcePath, type Client } from '../client/client.ts';

const podKind = kindFor('v1', 'Pod')!;

export interface LogOptions {
  container?: string;
  follow?: boolean;
  previous?: boolean;
  tail?: number;
}

/** Streams a container's log to `write`; resolves when the stream ends. */
export async function streamLogs(
  client: Client,
  namespace: string,
  pod: string,
  o: LogOptions,
  write: (chunk: Uint8Array) => void,
): Promise<void> {
  const res = await client.request('GET', resourcePath(podKind, namespace, pod, 'log'), {
    query: {
      container: o.container,
      follow: o.follow ? 'true' : undefined,
      previous: o.previous ? 'true' : undefined,
      tailLines: o.tail !== undefined && o.tail >= 0 ? String(o.tail) : undefined,
    },
  });
  for await (const chunk of res.body as any as AsyncIterable<Uint8Array>) write(chunk);
}

/** Like streamLogs, but waits (polling) while the container has not started yet. */
export async function streamLogsWhenReady(
  client: Client,
  namespace: string,
  pod: string,
  o: LogOptions,
  write: (chunk: Uint8Array) => void,
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await streamLogs(client, namespace, pod, o, write);
      return;
    } catch (err) {
      // The server's words (kube-apiserver's): not scheduled yet — a pod waiting for its claim to bind, say —
      // or scheduled with its container not started yet.
      const waiting =
        err instanceof ClientError &&
        err.code === 400 &&
        /waiting to start|does not have a host assigned/.test(err.message);
      if (!waiting || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
