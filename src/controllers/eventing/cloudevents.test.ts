import { describe, expect, it } from 'vitest';
import { CloudEventError, parseHttp, toBinary, toStructured } from './cloudevents.ts';

const binaryHeaders = {
  'ce-specversion': '1.0',
  'ce-id': 'e-1',
  'ce-source': '/orders',
  'ce-type': 'com.example.order.created',
  'ce-traceparent': '00-abc',
  'content-type': 'application/json',
};

describe('CloudEvents over HTTP', () => {
  it('reads binary mode: attributes from ce-* headers, the body as data, extensions kept', () => {
    const e = parseHttp(binaryHeaders, Buffer.from('{"n":1}'));
    expect(e).toMatchObject({
      id: 'e-1',
      source: '/orders',
      type: 'com.example.order.created',
      datacontenttype: 'application/json',
    });
    expect(e.extensions).toEqual({ traceparent: '00-abc' });
    expect(e.data!.toString()).toBe('{"n":1}');
  });

  it('reads structured mode: JSON data and data_base64', () => {
    const doc = { specversion: '1.0', id: 'x', source: 's', type: 't', data: { n: 2 }, myext: 'v' };
    const e = parseHttp(
      { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      Buffer.from(JSON.stringify(doc)),
    );
    expect(JSON.parse(e.data!.toString())).toEqual({ n: 2 });
    expect(e.extensions).toEqual({ myext: 'v' });
    const b64 = {
      specversion: '1.0',
      id: 'x',
      source: 's',
      type: 't',
      data_base64: Buffer.from('hi').toString('base64'),
    };
    expect(
      parseHttp(
        { 'content-type': 'application/cloudevents+json' },
        Buffer.from(JSON.stringify(b64)),
      ).data!.toString(),
    ).toBe('hi');
  });

  it('names the missing required attribute, in specversion, id, source, type order', () => {
    for (const missing of ['specversion', 'id', 'source', 'type']) {
      const h: Record<string, string> = { ...binaryHeaders };
      delete h[`ce-${missing}`];
      const err = (() => {
        try {
          parseHttp(h, Buffer.alloc(0));
        } catch (e) {
          return e as CloudEventError;
        }
      })();
      expect(err).toBeInstanceOf(CloudEventError);
      expect(err!.attribute).toBe(missing);
      expect(err!.message).toContain(`"${missing}"`);
    }
    const doc = { specversion: '1.0', source: 's', type: 't' };
    expect(() =>
      parseHttp({ 'content-type': 'application/cloudevents+json' }, Buffer.from(JSON.stringify(doc))),
    ).toThrow(/"id"/);
    expect(() => parseHttp({ 'content-type': 'text/plain' }, Buffer.from('x'))).toThrow(/not a CloudEvent/);
    expect(() => parseHttp({ ...binaryHeaders, 'ce-specversion': '0.3' }, Buffer.alloc(0))).toThrow(
      /specversion/,
    );
  });

  it('writes binary mode and structured mode back out', () => {
    const e = parseHttp({ ...binaryHeaders, 'ce-subject': 'caf%C3%A9' }, Buffer.from('{"n":1}'));
    expect(e.subject).toBe('café');
    const { headers, body } = toBinary(e);
    expect(headers).toMatchObject({
      'ce-id': 'e-1',
      'ce-subject': 'caf%C3%A9',
      'ce-traceparent': '00-abc',
      'content-type': 'application/json',
    });
    expect(parseHttp(headers, body)).toEqual(e);
    expect(toStructured(e)).toMatchObject({ id: 'e-1', data: { n: 1 }, traceparent: '00-abc' });
  });
});
