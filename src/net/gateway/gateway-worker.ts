// A gateway worker thread (started by workers.ts): a NodeGateway of its own, fed the main thread's
// informer lists and changes instead of API watches, binding the same ports with SO_REUSEPORT. It writes
// no status; its Events, logs and counters go to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import type { InformerWatchEvent, ListWatch } from '../../lib/informer.ts';
import type { Log } from '../../lib/log.ts';
import { errorMessage } from '../../lib/log.ts';
import { NodeGateway, type GatewaySources } from './gateway.ts';
import {
  COUNTER_PUSH_MS,
  type FromWorker,
  type SourceName,
  type ToWorker,
  type WorkerInit,
} from './workers.ts';

/** A ListWatch over what the main thread sends: the initial list, then its changes. */
class Feed<T> implements ListWatch<T> {
  private onEvent?: (ev: InformerWatchEvent<T>) => void;
  /** Changes that arrive before the informer starts watching. */
  private readonly early: InformerWatchEvent<T>[] = [];
  private readonly items: T[];
  constructor(items: T[]) {
    this.items = items;
  }
  async list() {
    return { items: this.items, resourceVersion: '1' };
  }
  async watch(_rv: string, onEvent: (ev: InformerWatchEvent<T>) => void) {
    this.onEvent = onEvent;
    for (const ev of this.early.splice(0)) onEvent(ev);
    return { cancel: () => (this.onEvent = undefined) };
  }
  push(ev: InformerWatchEvent<T>): void {
    if (this.onEvent) this.onEvent(ev);
    else this.early.push(ev);
  }
}

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);
const level =
  (l: keyof Log) =>
  (fields: object, msg: string): void =>
    post({ t: 'log', level: l, fields: JSON.parse(JSON.stringify(fields)) as object, msg });
const log: Log = { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };

const feeds = Object.fromEntries(
  Object.entries(init.lists).map(([k, items]) => [k, new Feed<unknown>(items)]),
) as Record<SourceName, Feed<unknown>>;

const gateway = new NodeGateway({
  ...init.options,
  reusePort: true,
  workers: 1,
  event: (obj, type, reason, message) => post({ t: 'event', obj, type, reason, message }),
  log,
});
const pushCounters = () => post({ t: 'counters', snapshot: gateway.counters.snapshot() });
const pusher = setInterval(pushCounters, COUNTER_PUSH_MS);

port.on('message', (m: ToWorker) => {
  if (m.t === 'event') {
    feeds[m.source].push({ type: m.type, object: m.object });
    return;
  }
  clearInterval(pusher);
  void gateway.stop().finally(() => {
    pushCounters();
    post({ t: 'stopped' });
    port.close();
  });
});

try {
  await gateway.start(feeds as unknown as GatewaySources);
  post({ t: 'ready' });
} catch (err) {
  post({ t: 'failed', error: errorMessage(err) });
}
