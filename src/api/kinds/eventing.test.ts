import { describe, expect, it } from 'vitest';
import { columnsFor } from '../columns.ts';
import { parseIsoDuration } from './eventing.ts';
import { invalid, valid } from './testing.ts';

const trigger = (spec: Record<string, unknown>) => ({
  apiVersion: 'eventing.knative.dev/v1',
  kind: 'Trigger',
  metadata: { name: 't', namespace: 'default' },
  spec: {
    broker: 'default',
    subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'fn' } },
    ...spec,
  },
});

describe('Broker and Trigger', () => {
  it('accepts a Knative Broker with a delivery spec, and a Trigger labelled with its Broker', () => {
    valid({
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Broker',
      metadata: { name: 'default', namespace: 'default' },
      spec: {
        delivery: {
          retry: 5,
          backoffPolicy: 'exponential',
          backoffDelay: 'PT0.5S',
          deadLetterSink: { uri: 'http://dead.example/' },
        },
      },
    });
    const t = valid(trigger({ filter: { attributes: { type: 'order.created', region: '' } } }));
    expect(t.metadata.labels['eventing.knative.dev/broker']).toBe('default');
  });

  it('refuses a bad delivery spec, filter or subscriber, naming the field', () => {
    const fields = (o: unknown) => invalid(o).map((c) => c.field);
    expect(fields(trigger({ delivery: { backoffDelay: '1s' } }))).toEqual(['spec.delivery.backoffDelay']);
    expect(fields(trigger({ delivery: { retry: -1 } }))).toEqual(['spec.delivery.retry']);
    expect(fields(trigger({ filter: { attributes: { 'Event-Type': 'x' } } }))).toEqual([
      'spec.filter.attributes.Event-Type',
    ]);
    expect(fields(trigger({ subscriber: {} }))).toEqual(['spec.subscriber']);
    expect(fields({ ...trigger({}), spec: { subscriber: { uri: 'http://x/' } } })).toEqual(['spec.broker']);
  });

  it('reads ISO 8601 durations', () => {
    expect(parseIsoDuration('PT0.2S')).toBe(200);
    expect(parseIsoDuration('P1DT1H')).toBe(90_000_000);
    expect(parseIsoDuration('PT')).toBeUndefined();
  });

  it("prints Knative's columns for Brokers, Triggers and PingSources (a knative.dev group borrows no core kind's)", () => {
    const names = (kind: string, group: string) => columnsFor(kind, group).map((c) => c.name);
    expect(names('Broker', 'eventing.knative.dev')).toEqual(['Name', 'URL', 'Age', 'Ready', 'Reason']);
    expect(names('Trigger', 'eventing.knative.dev')).toEqual([
      'Name',
      'Broker',
      'Subscriber_URI',
      'Age',
      'Ready',
      'Reason',
    ]);
    expect(names('PingSource', 'sources.knative.dev')).toEqual([
      'Name',
      'Sink',
      'Schedule',
      'Age',
      'Ready',
      'Reason',
    ]);
  });
});
