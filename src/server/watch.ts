// `?watch=true` streams: newline-delimited JSON events (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR),
// the wire format of the Kubernetes watch API.
//
// Without a resourceVersion (or with "0") the stream starts with a synthetic ADDED for every existing
// object, then follows changes, exactly like `kubectl get -w`. With a resourceVersion it replays the
// store's history after it; a compacted one gets an ERROR event carrying a 410 Expired Status.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ListOptions, ObjectEvent } from '../store/objects.ts';
import { ApiError, type ObjectStore } from '../store/objects.ts';
import type { KindInfo } from '../api/index.ts';
import { watchObjectEncoder } from './table.ts';

export interface WatchParams {
  kind: KindInfo;
  namespace?: string;
  resourceVersion?: string;
  filter: ListOptions;
  bookmarks: boolean;
  timeoutSeconds?: number;
}

const BOOKMARK_INTERVAL_MS = 10_000;

function matches(filter: ListOptions, obj: any): boolean {
  if (filter.labelSelector && !filter.labelSelector(obj.metadata?.labels)) return false;
  if (filter.fieldSelector && !filter.fieldSelector(obj)) return false;
  return true;
}

export async function serveWatch(
  objects: ObjectStore,
  req: FastifyRequest,
  reply: FastifyReply,
  p: WatchParams,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'application/json',
    'transfer-encoding': 'chunked',
    'cache-control': 'no-cache',
  });
  // Send the headers now: a watch with nothing to report yet must still tell the client it started.
  res.flushHeaders();
  let lastRv = p.resourceVersion ?? '0';
  let closed = false;
  // With Accept: …as=Table, each event's object is a one-row Table (table.ts).
  const encode = watchObjectEncoder(req);
  const send = (type: string, object: any): void => {
    if (closed) return;
    res.write(`${JSON.stringify({ type, object: encode(type, object) })}\n`);
  };
  const timers: NodeJS.Timeout[] = [];
  let cancel = (): void => {};
  const finish = (): void => {
    if (closed) return;
    closed = true;
    for (const t of timers) clearInterval(t);
    cancel();
    res.end();
  };
  req.raw.on('close', finish);
  res.on('error', finish);

  try {
    let from = p.resourceVersion;
    if (!from || from === '0') {
      const list = await objects.list(p.kind, p.namespace, p.filter);
      for (const obj of list.items) send('ADDED', obj);
      from = list.resourceVersion;
    }
    lastRv = from;
    const watch = await objects.watch(
      p.kind,
      p.namespace,
      from,
      (ev: ObjectEvent) => {
        lastRv = ev.object.metadata.resourceVersion;
        if (matches(p.filter, ev.object)) send(ev.type, ev.object);
      },
      () => finish(),
    );
    cancel = () => watch.cancel();
    if (closed) watch.cancel();
  } catch (err) {
    if (err instanceof ApiError) {
      send('ERROR', err.status);
      finish();
      return;
    }
    req.log.error({ err }, 'watch failed');
    finish();
    return;
  }
  if (p.bookmarks) {
    timers.push(
      setInterval(() => {
        send('BOOKMARK', {
          kind: p.kind.kind,
          apiVersion: p.kind.apiVersion,
          metadata: { resourceVersion: lastRv },
        });
      }, BOOKMARK_INTERVAL_MS),
    );
  }
  if (p.timeoutSeconds && p.timeoutSeconds > 0) {
    timers.push(setTimeout(finish, p.timeoutSeconds * 1000));
  }
}
