// Knative Eventing's Broker and Trigger (eventing.knative.dev/v1), in one controller with its ingress:
// the ingress is a CloudEvents HTTP receiver (receiver.ts) at `http://HOST:PORT/NAMESPACE/BROKER` — the
// path Knative's broker-ingress uses — answering 202 for an accepted event (binary or structured mode),
// 400 naming the attribute for a bad one, 404 for a Broker that does not exist. Each accepted event goes
// to the subscriber of every Trigger of that Broker whose filter matches (exact attribute values, "" for
// any, as Knative's `filter.attributes`), with the Trigger's delivery spec (or the Broker's): retries,
// backoff, then its dead-letter sink; a failed delivery is a Warning Event on the Trigger.
//
// Status: a Broker's `address.url` and Addressable/IngressReady/Ready; a Trigger's `subscriberUri`,
// `deadLetterSinkUri` and BrokerReady/SubscriberResolved/Ready. Subscribers are resolved again for every
// event (endpoints move), as PingSource ticks do. The ingress runs where the controllers run (the
// leading server), so the URL is that server's.
import {
  type Broker,
  type BrokerStatus,
  type Trigger,
  type TriggerStatus,
  kindFor,
} from '../../api/index.ts';
import type { EventRecorder } from '../../lib/events.ts';
import type { Informer } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import type { ObjectStore } from '../../store/objects.ts';
import type { SharedInformers } from '../../store/shared-informers.ts';
import type { CloudEvent } from './cloudevents.ts';
import { type DeliveryResult, describeFailure } from './delivery.ts';
import { CloudEventsReceiver, type Destination, type EventRoute } from './receiver.ts';
import { type SinkOptions, SinkError, resolveSink } from './sinks.ts';
import { setEventingCondition, writeStatusIfChanged } from './status.ts';

const BROKER = kindFor('eventing.knative.dev/v1', 'Broker')!;
const TRIGGER = kindFor('eventing.knative.dev/v1', 'Trigger')!;

export interface BrokerControllerOptions extends SinkOptions {
  objects: ObjectStore;
  informers: SharedInformers;
  recorder: EventRecorder;
  log?: Log;
  /** Where the ingress listens. Default 127.0.0.1. */
  host?: string;
  /** The ingress port. Default 0: any free port (status.address.url says which). */
  port?: number;
  /** The host in status.address.url. Default: `host`, or 127.0.0.1 when that is a wildcard. */
  advertiseHost?: string;
  /** Told about each delivery's outcome (tests). */
  onDelivered?(trigger: string, event: CloudEvent, result: DeliveryResult): void;
}

/** The value of a CloudEvents attribute (context attribute or extension) as a string. */
function attribute(e: CloudEvent, name: string): string | undefined {
  switch (name) {
    case 'specversion':
    case 'id':
    case 'source':
    case 'type':
    case 'datacontenttype':
    case 'dataschema':
    case 'subject':
    case 'time':
      return e[name];
    default:
      return e.extensions[name];
  }
}

/** Knative's exact filter: every attribute named has that value ("" matches any value, but it must be set). */
export function filterMatches(filter: Record<string, string> | undefined, e: CloudEvent): boolean {
  for (const [name, want] of Object.entries(filter ?? {})) {
    const got = attribute(e, name);
    if (got === undefined || (want !== '' && got !== want)) return false;
  }
  return true;
}

const key = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace}/${o.metadata.name}`;

export class BrokerController {
  private readonly o: BrokerControllerOptions;
  private readonly log: Log;
  private brokers!: Informer<Broker>;
  private triggers!: Informer<Trigger>;
  private receiver!: CloudEventsReceiver;
  private readonly removers: (() => void)[] = [];
  private resync?: ReturnType<typeof setInterval>;

  constructor(o: BrokerControllerOptions) {
    this.o = o;
    this.log = o.log ?? defaultLog;
  }

  /** The ingress's base URL (a Broker's address is this plus `/NAMESPACE/NAME`). */
  get ingressUrl(): string {
    const wildcard = !this.o.host || this.o.host === '0.0.0.0' || this.o.host === '::';
    const host = this.o.advertiseHost ?? (wildcard ? '127.0.0.1' : this.o.host!);
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.receiver.port}`;
  }

  async start(): Promise<void> {
    this.receiver = new CloudEventsReceiver({
      host: this.o.host ?? '127.0.0.1',
      port: this.o.port ?? 0,
      route: (path) => this.route(path),
      onDelivered: (event, to, result) => this.delivered(event, to, result),
    });
    await this.receiver.start();
    this.brokers = this.o.informers.informerFor(BROKER);
    this.triggers = this.o.informers.informerFor(TRIGGER);
    this.removers.push(
      this.brokers.addHandler({
        onAdd: (b) => void this.brokerChanged(b),
        onUpdate: (old, b) => {
          if (old.metadata.generation !== b.metadata.generation) void this.brokerChanged(b);
        },
        onDelete: (b) =>
          this.triggersOf(b.metadata.namespace!, b.metadata.name!).forEach(
            (t) => void this.reconcileTrigger(t),
          ),
      }),
      this.triggers.addHandler({
        onAdd: (t) => void this.reconcileTrigger(t),
        onUpdate: (old, t) => {
          if (old.metadata.generation !== t.metadata.generation) void this.reconcileTrigger(t);
        },
      }),
    );
    await Promise.all([this.brokers.waitForSync(), this.triggers.waitForSync()]);
    // Triggers whose subscriber was missing are looked at again: it may have appeared since.
    this.resync = setInterval(() => {
      for (const t of this.triggers.values())
        if (t.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')
          void this.reconcileTrigger(t);
    }, 10_000);
    this.resync.unref?.();
  }

  async stop(): Promise<void> {
    if (this.resync) clearInterval(this.resync);
    for (const r of this.removers.splice(0)) r();
    await this.receiver?.stop();
  }

  /** Deliveries still running (tests). */
  drain(): Promise<void> {
    return this.receiver.drain();
  }

  private triggersOf(namespace: string, broker: string): Trigger[] {
    return [...this.triggers.values()].filter(
      (t) => t.metadata.namespace === namespace && t.spec.broker === broker && !t.metadata.deletionTimestamp,
    );
  }

  /** `/NAMESPACE/BROKER` → the event's destinations: the matching Triggers' subscribers. */
  private route(path: string): EventRoute | undefined {
    const parts = path.split('/').filter(Boolean);
    if (parts.length !== 2) return undefined;
    const [ns, name] = parts;
    const broker = this.brokers.get(`${ns}/${name}`);
    if (!broker || broker.metadata.deletionTimestamp) return undefined;
    return async (event) => {
      const out: Destination[] = [];
      for (const t of this.triggersOf(ns, name)) {
        if (!filterMatches(t.spec.filter?.attributes, event)) continue;
        try {
          const sink = await resolveSink(this.o.objects, ns, t.spec.subscriber, this.o);
          const delivery = t.spec.delivery ?? broker.spec?.delivery;
          const dls = delivery?.deadLetterSink
            ? await resolveSink(this.o.objects, ns, delivery.deadLetterSink, this.o).catch(() => undefined)
            : undefined;
          out.push({
            id: key(t),
            uri: sink.target,
            headers: sink.headers,
            delivery,
            deadLetterSink: dls?.target,
          });
        } catch (err) {
          this.o.recorder.warning(
            t,
            'SubscriberNotResolved',
            `event ${event.id} not delivered: unable to resolve the subscriber: ${errorMessage(err)}`,
          );
        }
      }
      return out;
    };
  }

  private delivered(event: CloudEvent, to: Destination, result: DeliveryResult): void {
    const t = to.id ? this.triggers.get(to.id) : undefined;
    if (t && !result.ok)
      this.o.recorder.warning(
        t,
        'DeliveryFailed',
        `event ${event.id} not delivered to ${t.status?.subscriberUri ?? to.uri} ${describeFailure(result)}`,
      );
    if (to.id) this.o.onDelivered?.(to.id, event, result);
  }

  private async brokerChanged(b: Broker): Promise<void> {
    await this.reconcileBroker(b);
    for (const t of this.triggersOf(b.metadata.namespace!, b.metadata.name!)) await this.reconcileTrigger(t);
  }

  private async reconcileBroker(b: Broker): Promise<void> {
    if (b.metadata.deletionTimestamp) return;
    const status: BrokerStatus = structuredClone(b.status ?? {});
    status.address = { name: 'http', url: `${this.ingressUrl}/${b.metadata.namespace}/${b.metadata.name}` };
    for (const type of ['Addressable', 'IngressReady', 'Ready']) setEventingCondition(status, type, 'True');
    status.observedGeneration = b.metadata.generation;
    await writeStatusIfChanged(this.o.objects, BROKER, b, status, this.log);
  }

  private async reconcileTrigger(t: Trigger): Promise<void> {
    if (t.metadata.deletionTimestamp) return;
    const ns = t.metadata.namespace!;
    const status: TriggerStatus = structuredClone(t.status ?? {});
    const set = (type: string, st: 'True' | 'False', reason?: string, message?: string) =>
      setEventingCondition(status, type, st, reason, message);
    const broker = this.brokers.get(`${ns}/${t.spec.broker}`);
    let ready = true;
    if (broker && !broker.metadata.deletionTimestamp) set('BrokerReady', 'True');
    else {
      ready = false;
      set('BrokerReady', 'False', 'BrokerDoesNotExist', `Broker "${t.spec.broker}" does not exist`);
    }
    try {
      status.subscriberUri = (await resolveSink(this.o.objects, ns, t.spec.subscriber, this.o)).uri;
      set('SubscriberResolved', 'True');
    } catch (err) {
      ready = false;
      delete status.subscriberUri;
      set(
        'SubscriberResolved',
        'False',
        err instanceof SinkError ? err.reason : 'Unresolved',
        `Failed to resolve spec.subscriber: ${errorMessage(err)}`,
      );
    }
    const dls = (t.spec.delivery ?? broker?.spec?.delivery)?.deadLetterSink;
    if (dls) {
      const resolved = await resolveSink(this.o.objects, ns, dls, this.o).catch(() => undefined);
      if (resolved) status.deadLetterSinkUri = resolved.uri;
      else delete status.deadLetterSinkUri;
    } else delete status.deadLetterSinkUri;
    if (ready) set('Ready', 'True');
    else {
      const failed = status.conditions!.find((c) => c.type !== 'Ready' && c.status === 'False')!;
      set('Ready', 'False', failed.reason, failed.message);
    }
    status.observedGeneration = t.metadata.generation;
    await writeStatusIfChanged(this.o.objects, TRIGGER, t, status, this.log);
  }
}
