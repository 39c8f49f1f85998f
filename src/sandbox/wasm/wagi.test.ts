import { describe, expect, it } from 'vitest';
import { parseWagiResponse, wagiArgs, wagiEnvironment, WagiResponseError } from './wagi.ts';
import type { HttpHandlerRequest } from '../driver.ts';

const enc = (s: string) => new TextEncoder().encode(s);

function request(over: Partial<HttpHandlerRequest> = {}): HttpHandlerRequest {
  return {
    method: 'POST',
    url: '/a%20b/c?x=1&name=Ada+L',
    headers: {
      host: 'greeter.default.svc:8080',
      'content-type': 'text/plain',
      'x-trace-id': 'abc',
      authorization: 'Bearer s3cret',
    },
    body: enc('hello'),
    remoteAddress: '10.88.0.9',
    localAddress: '10.88.0.20',
    localPort: 8080,
    ...over,
  };
}

describe('wagiEnvironment', () => {
  it('maps the request to CGI variables', () => {
    const env = wagiEnvironment(request(), { scriptName: 'greeter.wasm', serverName: '10.88.0.20:8080' });
    expect(env).toMatchObject({
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/a b/c',
      X_RAW_PATH_INFO: '/a%20b/c',
      QUERY_STRING: 'x=1&name=Ada+L',
      CONTENT_LENGTH: '5',
      CONTENT_TYPE: 'text/plain',
      SERVER_NAME: 'greeter.default.svc',
      SERVER_PORT: '8080',
      SCRIPT_NAME: 'greeter.wasm',
      REMOTE_ADDR: '10.88.0.9',
      GATEWAY_INTERFACE: 'CGI/1.1',
      HTTP_X_TRACE_ID: 'abc',
      X_FULL_URL: 'http://greeter.default.svc:8080/a%20b/c?x=1&name=Ada+L',
    });
  });

  it('keeps credentials out of the environment', () => {
    const env = wagiEnvironment(request(), { scriptName: 'm', serverName: 's' });
    expect(Object.values(env)).not.toContain('Bearer s3cret');
    expect(env.HTTP_AUTHORIZATION).toBeUndefined();
  });
});

describe('wagiArgs', () => {
  it('passes the query string parts, decoded, after the module name', () => {
    expect(wagiArgs('/?name=Ada+L&flag&e=%C3%A9', 'm.wasm')).toEqual(['m.wasm', 'name=Ada L', 'flag', 'e=é']);
    expect(wagiArgs('/plain', 'm.wasm')).toEqual(['m.wasm']);
  });
});

describe('parseWagiResponse', () => {
  it('reads headers, status and body (LF and CRLF)', () => {
    const r = parseWagiResponse(enc('Status: 404 Not Found\nContent-Type: text/plain\nX-A: 1\n\nnope\n'));
    expect(r.status).toBe(404);
    expect(r.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['X-A', '1'],
    ]);
    expect(Buffer.from(r.body).toString()).toBe('nope\n');
    const crlf = parseWagiResponse(enc('Content-Type: text/html\r\n\r\n<p>hi</p>'));
    expect(crlf.status).toBe(200);
    expect(Buffer.from(crlf.body).toString()).toBe('<p>hi</p>');
  });

  it('makes a Location without a Status a redirect, and drops framing headers', () => {
    const r = parseWagiResponse(enc('Location: /elsewhere\nContent-Length: 99\n\n'));
    expect(r.status).toBe(302);
    expect(r.headers).toEqual([['Location', '/elsewhere']]);
  });

  it('refuses output that is not a CGI response, saying why', () => {
    expect(() => parseWagiResponse(enc(''))).toThrow(/wrote nothing/);
    expect(() => parseWagiResponse(enc('hello world'))).toThrow(/no blank line/);
    expect(() => parseWagiResponse(enc('X-A: 1\n\nbody'))).toThrow(/neither a Content-Type nor a Location/);
    expect(() => parseWagiResponse(enc('Status: abc\nContent-Type: a/b\n\n'))).toThrow(WagiResponseError);
    expect(() => parseWagiResponse(enc('bad header\n\n'))).toThrow(/malformed header line/);
  });
});
