// The port-forward protocol on a SPDY connection (k8s.io/kubelet's cri/streaming/portforward/httpstream.go):
// every local connection kubectl accepts becomes a pair of streams sharing a `requestid` header — first
// `streamtype: error`, then `streamtype: data`, both with `port: <n>`. Once both are there the bytes of the
// data stream go to the pod's port and back; when the pod side ends, the data stream gets a FIN and the
// error stream is closed empty. A failure (nothing listens, the pod cannot be reached) is written as one
// message on the error stream, which makes kubectl report it and drop the connection.
import type { Duplex } from 'node:stream';
import { RST_STATUS } from './spdy.ts';
import type { SpdyServerSession, SpdyStream } from './spdy-session.ts';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** How long a stream waits for its partner (the kubelet's default stream creation timeout). */
export const STREAM_PAIR_TIMEOUT_MS = 30_000;

export interface PortForwardOptions {
  /** Opens a byte stream to the pod's port; rejects with a message the user will read. */
  dial: (port: number) => Promise<Duplex>;
  /** Names the pod in error messages, e.g. `web-1, uid 0f3e…`. */
  pod: string;
  pairTimeoutMs?: number;
}

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Serves port-forward streams on a session until it closes. */
export function servePortForward(session: SpdyServerSession, opts: PortForwardOptions): void {
  const pairs = new Map<string, Pair>();
  const sockets = new Set<Duplex>();
  session.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
    for (const s of sockets) s.destroy();
  });

  session.on('stream', (stream) => {
    const problem = checkHeaders(stream);
    if (problem) {
      stream.refuse(RST_STATUS.refusedStream);
      return;
    }
    stream.accept();
    const type = stream.header('streamtype') as 'error' | 'data';
    const id = requestId(stream, type);
    let pair = pairs.get(id);
    if (!pair) {
      const created: Pair = {
        timer: setTimeout(() => {
          pairs.delete(id);
          const msg = `(request=${id}) timed out waiting for streams`;
          if (created.error) created.error.end(msg);
          else created.data?.destroy();
        }, opts.pairTimeoutMs ?? STREAM_PAIR_TIMEOUT_MS),
      };
      pair = created;
      pairs.set(id, pair);
    }
    if (pair[type]) {
      // A second stream of the same type for one request: report it where the kubelet does.
      const msg = `error processing stream for request ${id}: ${type} stream already assigned`;
      if (pair.error && type !== 'error') pair.error.write(msg);
      stream.refuse(RST_STATUS.streamInUse);
      return;
    }
    pair[type] = stream;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      forward(pair.error, pair.data, opts, sockets);
    }
  });
}

/** The kubelet's checks of a new stream; undefined when it is acceptable. */
function checkHeaders(stream: SpdyStream): string | undefined {
  const port = stream.header('port');
  if (!port) return '"port" header is required';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return `unable to parse "${port}" as a port`;
  }
  const type = stream.header('streamtype');
  if (!type) return '"streamType" header is required';
  if (type !== 'error' && type !== 'data') return `invalid stream type "${type}"`;
  return undefined;
}

/**
 * The pair key. Clients older than the requestID header get the kubelet's best effort: consecutive
 * stream ids, error first (error n pairs with data n+2).
 */
function requestId(stream: SpdyStream, type: 'error' | 'data'): string {
  const id = stream.header('requestid');
  if (id) return id;
  return String(type === 'error' ? stream.id : stream.id - 2);
}

function forward(error: SpdyStream, data: SpdyStream, opts: PortForwardOptions, sockets: Set<Duplex>): void {
  const port = Number(data.header('port'));
  // The client closes its end of the error stream right away; nothing to read there.
  error.resume();
  error.on('error', () => undefined);
  data.on('error', () => undefined);
  const fail = (message: string): void => {
    if (!error.writableEnded) error.end(`error forwarding port ${port} to pod ${opts.pod}: ${message}`);
    if (!data.writableEnded) data.end();
  };
  opts.dial(port).then(
    (conn) => {
      if (data.destroyed) {
        conn.destroy();
        if (!error.writableEnded) error.end();
        return;
      }
      sockets.add(conn);
      conn.on('error', (err) => fail(err.message));
      conn.on('close', () => {
        sockets.delete(conn);
        // Pod side gone: FIN on data (after what was read), then close the error stream empty.
        if (!data.writableEnded) data.end();
        if (!error.writableEnded) error.end();
      });
      // kubectl resets the data stream once its copy from the pod is done: drop the pod connection.
      data.on('close', () => conn.destroy());
      data.pipe(conn);
      conn.pipe(data);
    },
    (err: Error) => fail(err.message),
  );
}
