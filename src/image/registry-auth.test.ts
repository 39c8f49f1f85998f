import { describe, expect, it } from 'vitest';
import { parseWWWAuthenticate } from './registry-auth.ts';

describe('parseWWWAuthenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    expect(
      parseWWWAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
  });

  it('parses several challenges, unquoted values, escapes and odd spacing', () => {
    expect(
      parseWWWAuthenticate(
        'Basic realm="reg \\"one\\"", Bearer realm=https://t/token , service = svc,error="x,y"',
      ),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'reg "one"' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 'svc', error: 'x,y' } },
    ]);
  });

  it('returns nothing for an empty header', () => {
    expect(parseWWWAuthenticate('')).toEqual([]);
  });
});
