import { describe, expect, it } from 'vitest';
import { invalid, valid } from './testing.ts';

const event = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web.17a1', namespace: 'default' },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web', uid: 'u-1' },
  reason: 'Scheduled',
  message: 'Successfully assigned default/web to n1',
  source: { component: 'scheduler' },
  ...extra,
});

describe('Event', () => {
  it('defaults type, count and timestamps', () => {
    const e = valid(event());
    expect(e.type).toBe('Normal');
    expect(e.count).toBe(1);
    expect(e.firstTimestamp).toBe(e.lastTimestamp);
    expect(Date.parse(e.firstTimestamp)).toBeGreaterThan(0);
    expect(e.reportingComponent).toBe('scheduler');
  });

  it('keeps given timestamps and counts', () => {
    const e = valid(
      event({ firstTimestamp: '2026-01-01T00:00:00Z', lastTimestamp: '2026-01-01T00:05:00Z', count: 7 }),
    );
    expect(e).toMatchObject({ firstTimestamp: '2026-01-01T00:00:00Z', count: 7 });
  });

  it('rejects a bad type and a missing involvedObject name, naming the fields', () => {
    const causes = invalid(event({ type: 'Error', involvedObject: { kind: 'Pod' }, count: 0 })).map(
      (c) => c.field,
    );
    expect(causes).toEqual(expect.arrayContaining(['type', 'involvedObject.name', 'count']));
  });
});
