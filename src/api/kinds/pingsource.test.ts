import { describe, expect, it } from 'vitest';
import { invalid, valid } from './testing.ts';

const ping = (spec: Record<string, unknown>) => ({
  apiVersion: 'sources.knative.dev/v1',
  kind: 'PingSource',
  metadata: { name: 'tick', namespace: 'default' },
  spec: { sink: { ref: { apiVersion: 'v1', kind: 'Service', name: 'logger' } }, ...spec },
});

describe('PingSource', () => {
  it('accepts Knative manifests and defaults the schedule and content type', () => {
    const p = valid(ping({ data: '{"message":"hi"}' }));
    expect(p.spec).toMatchObject({ schedule: '* * * * *', contentType: 'application/json' });
    valid(
      ping({
        schedule: '*/2 * * * *',
        timezone: 'Europe/Madrid',
        dataBase64: 'aGk=',
        contentType: 'text/plain',
      }),
    );
    valid(ping({ schedule: '*/5 * * * * *', sink: { uri: 'http://example.com/events' } }));
  });

  it('names the field of each mistake', () => {
    expect(invalid(ping({ schedule: 'every minute' }))[0].field).toBe('spec.schedule');
    expect(invalid(ping({ timezone: 'Mars/Base' }))[0].field).toBe('spec.timezone');
    expect(invalid(ping({ data: 'a', dataBase64: 'YQ==' }))[0].field).toBe('spec.dataBase64');
    expect(invalid(ping({ dataBase64: '%%%' }))[0].field).toBe('spec.dataBase64');
    expect(invalid(ping({ sink: {} }))[0]).toMatchObject({
      field: 'spec.sink',
      reason: 'FieldValueRequired',
    });
    expect(invalid(ping({ sink: { uri: 'ftp://x' } }))[0].field).toBe('spec.sink.uri');
  });
});
