// eventing.knative.dev/v1 Broker and Trigger, the subset Strata serves: a Broker is an address that
// accepts CloudEvents over HTTP (binary or structured mode); each Trigger of that Broker whose filter
// matches an event gets it delivered to its subscriber, with the delivery spec's retries and dead-letter
// sink. Knative's schema and validation for the fields kept; the controller and the ingress live in
// src/controllers/eventing/broker.ts.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { Condition, ObjectMeta } from '../meta.ts';
import { Destination, KReference, checkAttributeNames } from './pingsource.ts';

const DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** An ISO 8601 duration (days, hours, minutes, seconds) in milliseconds; undefined when malformed. */
export function parseIsoDuration(s: string): number | undefined {
  const m = DURATION.exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const [d, h, min, sec] = m.slice(1).map((x) => (x ? Number(x) : 0));
  return Math.round((((d * 24 + h) * 60 + min) * 60 + sec) * 1000);
}

const IsoDuration = z.string().refine((s) => parseIsoDuration(s) !== undefined, {
  message: 'must be an ISO 8601 duration, e.g. PT0.2S',
});

/** eventing.knative.dev DeliverySpec: retries, their backoff, a per-attempt timeout, the dead-letter sink. */
export const DeliverySpec = z.strictObject({
  deadLetterSink: Destination.optional(),
  retry: z.int().min(0).optional(),
  backoffPolicy: z.enum(['exponential', 'linear']).optional(),
  backoffDelay: IsoDuration.optional(),
  timeout: IsoDuration.optional(),
});
export type DeliverySpec = z.infer<typeof DeliverySpec>;

const Addressable = z.strictObject({ name: z.string().optional(), url: z.string().optional() });

export const BrokerSpec = z.strictObject({
  /** Knative's broker-class configuration; accepted, one implementation serves every Broker here. */
  config: KReference.optional(),
  delivery: DeliverySpec.optional(),
});

export const BrokerStatus = z.strictObject({
  observedGeneration: z.int().min(0).optional(),
  /** Addressable, IngressReady, Ready. */
  conditions: z.array(Condition).optional(),
  address: Addressable.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type BrokerStatus = z.infer<typeof BrokerStatus>;

export const Broker = z.strictObject({
  apiVersion: z.literal('eventing.knative.dev/v1'),
  kind: z.literal('Broker'),
  metadata: ObjectMeta,
  spec: BrokerSpec.optional(),
  status: BrokerStatus.optional(),
});
export type Broker = z.infer<typeof Broker>;

export const TriggerSpec = z
  .strictObject({
    broker: z.string(),
    /** Exact matches on CloudEvents attributes (context attributes or extensions); none = every event. */
    filter: z.strictObject({ attributes: z.record(z.string(), z.string()).optional() }).optional(),
    subscriber: Destination,
    delivery: DeliverySpec.optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.broker === '')
      addCause(ctx, ['broker'], Reason.Required, msg.required('the Broker this Trigger belongs to'));
    checkAttributeNames(ctx, ['filter', 'attributes'], spec.filter?.attributes);
  });
export type TriggerSpec = z.infer<typeof TriggerSpec>;

export const TriggerStatus = z.strictObject({
  observedGeneration: z.int().min(0).optional(),
  /** BrokerReady, SubscriberResolved, Ready. */
  conditions: z.array(Condition).optional(),
  subscriberUri: z.string().optional(),
  deadLetterSinkUri: z.string().optional(),
});
export type TriggerStatus = z.infer<typeof TriggerStatus>;

export const Trigger = z.strictObject({
  apiVersion: z.literal('eventing.knative.dev/v1'),
  kind: z.literal('Trigger'),
  metadata: ObjectMeta,
  spec: TriggerSpec,
  status: TriggerStatus.optional(),
});
export type Trigger = z.infer<typeof Trigger>;

/** The label Knative's tooling sets on a Trigger naming its Broker (`kn trigger list --broker`). */
export const TRIGGER_BROKER_LABEL = 'eventing.knative.dev/broker';

/** Knative's default: a Trigger is labelled with its Broker. */
export function defaultTrigger(t: Trigger): void {
  t.metadata.labels = { ...t.metadata.labels, [TRIGGER_BROKER_LABEL]: t.spec.broker };
}
