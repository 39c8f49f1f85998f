// v1 Event: a record of something a controller, the scheduler or an agent did and why ("Scheduled",
// "Preempted", "BackOff"), attached to the object it concerns. Shown by `strata get events` and `describe`.
import { z } from 'zod';
import { DNSLabel, ObjectMeta, Timestamp } from '../meta.ts';

/**
 * The object an event is about: a v1 ObjectReference whose kind and name are required; `fieldPath` points into
 * it, e.g. `spec.containers{app}`.
 */
export const InvolvedObject = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  namespace: DNSLabel.optional(),
  name: z.string().min(1),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});
export type InvolvedObject = z.infer<typeof InvolvedObject>;

export const EventSource = z.strictObject({
  component: z.string().optional(),
  host: z.string().optional(),
});
export type EventSource = z.infer<typeof EventSource>;

export const EventType = z.enum(['Normal', 'Warning']);
export type EventType = z.infer<typeof EventType>;

export const Event = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Event'),
  metadata: ObjectMeta,
  involvedObject: InvolvedObject,
  /** Short, CamelCase, machine-readable: `Scheduled`, `FailedScheduling`, `Preempted`, `Killing`. */
  reason: z.string().max(128).optional(),
  message: z.string().max(4096).optional(),
  type: EventType.default('Normal'),
  source: EventSource.optional(),
  /** Defaulted to the time of creation when absent (see defaultEvent). */
  firstTimestamp: Timestamp.optional(),
  lastTimestamp: Timestamp.optional(),
  /** How many times this event has occurred (repeats update one Event rather than creating more). */
  count: z.int().min(1).default(1),
  eventTime: Timestamp.optional(),
  action: z.string().max(128).optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
});
export type Event = z.infer<typeof Event>;

export function defaultEvent(ev: Event, now: string = new Date().toISOString()): void {
  ev.firstTimestamp ??= ev.lastTimestamp ?? ev.eventTime ?? now;
  ev.lastTimestamp ??= ev.firstTimestamp;
  if (ev.source?.component && !ev.reportingComponent) ev.reportingComponent = ev.source.component;
  if (ev.source?.host && !ev.reportingInstance) ev.reportingInstance = ev.source.host;
}
