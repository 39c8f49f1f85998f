// The PingSource controller (Knative's pingsource + mt-ping adapter in one): one croner job per
// PingSource, on its schedule and timezone; each tick POSTs a CloudEvent of type
// dev.knative.sources.ping (source /apis/v1/namespaces/NS/pingsources/NAME, the data or dataBase64 as
// the body with contentType) to the resolved sink, retrying as DELIVERY says. Status: sinkUri,
// ceAttributes and the SinkProvided / Deployed / Ready conditions; a failed delivery is a Warning Event.
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { PING_EVENT_TYPE, type PingSource, kindFor, pingSourceUri } from '../../api/index.ts';
import type { EventRecorder } from '../../lib/events.ts';
import type { Informer } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { SharedInformers } from '../../store/shared-informers.ts';
import type { CloudEvent } from './cloudevents.ts';
import { type DeliveryResult, type DeliverySpec, deliver, describeFailure } from './delivery.ts';
import { type SinkOptions, SinkError, resolveSink } from './sinks.ts';
import { setEventingCondition, writeStatusIfChanged } from './status.ts';

const KIND = kindFor('sources.knative.dev/v1', 'PingSource')!;

/**
 * How a tick's event is retried. Knative's PingSource has no delivery field; its adapter retries a
 * failed send a few times, and Strata does the same: 3 retries, exponential from 200 ms.
 */
export const PING_DELIVERY: DeliverySpec = { retry: 3, backoffPolicy: 'exponential', backoffDelay: 'PT0.2S' };

export interface PingSourceControllerOptions extends SinkOptions {
  objects: ObjectStore;
  informers: SharedInformers;
  recorder: EventRecorder;
  log?: Log;
  /** Told about each tick's outcome (tests). */
  onDelivered?(source: PingSource, event: CloudEvent, result: DeliveryResult): void;
}

interface Job {
  cron: Cron;
  spec: string;
}

/** The event one tick of a PingSource sends. */
export function pingEvent(p: PingSource, now = new Date()): CloudEvent {
  const data =
    p.spec.dataBase64 !== undefined
      ? Buffer.from(p.spec.dataBase64, 'base64')
      : p.spec.data !== undefined
        ? Buffer.from(p.spec.data, 'utf8')
        : undefined;
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: pingSourceUri(p.metadata.namespace!, p.metadata.name!),
    type: PING_EVENT_TYPE,
    time: now.toISOString(),
    ...(data ? { data, datacontenttype: p.spec.contentType ?? 'application/json' } : {}),
    extensions: { ...(p.spec.ceOverrides?.extensions ?? {}) },
  };
}

export class PingSourceController {
  private readonly o: PingSourceControllerOptions;
  private readonly log: Log;
  private informer!: Informer<PingSource>;
  private readonly jobs = new Map<string, Job>();
  private remove?: () => void;
  private stopped = false;
  private resync?: ReturnType<typeof setInterval>;

  constructor(o: PingSourceControllerOptions) {
    this.o = o;
    this.log = o.log ?? defaultLog;
  }

  async start(): Promise<void> {
    this.informer = this.o.informers.informerFor(KIND);
    this.remove = this.informer.addHandler({
      onAdd: (p) => void this.reconcile(p),
      onUpdate: (old, p) => {
        if (old.metadata.generation !== p.metadata.generation) void this.reconcile(p);
      },
      onDelete: (p) => this.unschedule(`${p.metadata.namespace}/${p.metadata.name}`),
    });
    await this.informer.waitForSync();
    // Sources whose sink was missing are looked at again: the sink may have appeared since.
    this.resync = setInterval(() => {
      for (const p of this.informer.values())
        if (p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') void this.reconcile(p);
    }, 10_000);
    this.resync.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync) clearInterval(this.resync);
    this.remove?.();
    for (const key of [...this.jobs.keys()]) this.unschedule(key);
  }

  private unschedule(key: string): void {
    this.jobs.get(key)?.cron.stop();
    this.jobs.delete(key);
  }

  private schedule(key: string, p: PingSource): void {
    const schedule = p.spec.schedule ?? '* * * * *';
    const spec = `${schedule}|${p.spec.timezone ?? ''}`;
    const existing = this.jobs.get(key);
    if (existing?.spec === spec) return;
    existing?.cron.stop();
    const fields = schedule.trim().split(/\s+/).length;
    const cron = new Cron(
      schedule,
      { mode: fields === 6 ? '6-part' : '5-part', timezone: p.spec.timezone, protect: true },
      () => void this.tick(key),
    );
    this.jobs.set(key, { cron, spec });
  }

  /** One tick: the latest object from the cache, its sink resolved now (endpoints change). */
  private async tick(key: string): Promise<void> {
    const p = this.informer.get(key);
    if (!p || this.stopped) return;
    let sink;
    try {
      sink = await resolveSink(this.o.objects, p.metadata.namespace!, p.spec.sink, this.o);
    } catch (err) {
      this.o.recorder.warning(p, 'SinkNotFound', `Unable to resolve sink: ${errorMessage(err)}`);
      return;
    }
    const event = pingEvent(p);
    const result = await deliver(event, sink.target, PING_DELIVERY, { headers: sink.headers });
    if (!result.ok)
      this.o.recorder.warning(
        p,
        'DeliveryFailed',
        `event ${event.id} not delivered to ${sink.uri} ${describeFailure(result)}`,
      );
    this.o.onDelivered?.(p, event, result);
  }

  private async reconcile(p: PingSource): Promise<void> {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (p.metadata.deletionTimestamp) return this.unschedule(key);
    const status = structuredClone(p.status ?? {});
    const set = (type: string, st: 'True' | 'False', reason?: string, message?: string) =>
      setEventingCondition(status, type, st, reason, message);
    try {
      const sink = await resolveSink(this.o.objects, p.metadata.namespace!, p.spec.sink, this.o);
      status.sinkUri = sink.uri;
      set('SinkProvided', 'True');
      this.schedule(key, p);
      set('Deployed', 'True');
      set('Ready', 'True');
    } catch (err) {
      const reason = err instanceof SinkError ? err.reason : 'SinkNotFound';
      delete status.sinkUri;
      set('SinkProvided', 'False', 'NotFound', errorMessage(err));
      set('Ready', 'False', reason, `Sink not found: ${errorMessage(err)}`);
      // Ticks still resolve the sink each time: a sink that appears later is used.
      this.schedule(key, p);
      set('Deployed', 'True');
    }
    status.ceAttributes = [
      { type: PING_EVENT_TYPE, source: pingSourceUri(p.metadata.namespace!, p.metadata.name!) },
    ];
    status.observedGeneration = p.metadata.generation;
    await writeStatusIfChanged(this.o.objects, KIND, p, status, this.log);
  }
}
