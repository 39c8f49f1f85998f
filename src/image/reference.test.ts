import { describe, expect, it } from 'vitest';
import {
  familiarReference,
  formatReference,
  parseReference,
  registryApiHost,
  isLoopbackRegistry,
} from './reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['someuser/app', 'docker.io/someuser/app:latest'],
    ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest'],
    ['localhost:5000/a/b/c:v1.2-rc_3', 'localhost:5000/a/b/c:v1.2-rc_3'],
    ['localhost/app', 'localhost/app:latest'],
    ['registry.example.com/team/app', 'registry.example.com/team/app:latest'],
    ['[::1]:5000/app:x', '[::1]:5000/app:x'],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`127.0.0.1:5000/app:v1@${D}`, `127.0.0.1:5000/app:v1@${D}`],
    ['my-app_1.x__y', 'docker.io/library/my-app_1.x__y:latest'],
  ])('%s → %s', (input, canonical) => {
    expect(formatReference(parseReference(input))).toBe(canonical);
  });

  it('splits registry, repository, tag and digest', () => {
    expect(parseReference(`127.0.0.1:5000/team/app:v1@${D}`)).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/app',
      tag: 'v1',
      digest: D,
    });
    expect(parseReference(`app@${D}`).tag).toBeUndefined();
  });

  it.each([
    ['', /empty/],
    [' busybox', /whitespace/],
    ['Busybox', /must be lowercase/],
    ['busybox:', /tag "" must match/],
    ['busybox:-bad', /tag "-bad" must match/],
    [`busybox:${'t'.repeat(129)}`, /tag .* must match/],
    ['busybox@sha256:123', /not a sha256:<64 hex> digest/],
    ['busybox@sha512:' + 'a'.repeat(128), /only sha256/],
    ['a//b', /empty component/],
    ['-app', /may only contain/],
    ['app-', /may only contain/],
    ['app!x', /may only contain/],
    [':tag', /repository name is missing/],
    ['bad_host.:5000/app', /registry host/],
    [`r/${'a'.repeat(260)}`, /longer than 255/],
  ])('rejects %j', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
    expect(() => parseReference(input)).toThrow(/invalid image reference/);
  });

  it('prints the familiar short form', () => {
    expect(familiarReference(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarReference(parseReference('someuser/app:1'))).toBe('someuser/app:1');
    expect(familiarReference(parseReference('127.0.0.1:5000/busybox'))).toBe('127.0.0.1:5000/busybox:latest');
  });

  it('knows the Docker Hub API host and loopback registries (naming only, no network)', () => {
    expect(registryApiHost(parseReference('busybox'))).toBe('registry-1.docker.io');
    expect(registryApiHost(parseReference('127.0.0.1:5000/x'))).toBe('127.0.0.1:5000');
    expect(isLoopbackRegistry('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackRegistry('localhost')).toBe(true);
    expect(isLoopbackRegistry('[::1]:5000')).toBe(true);
    expect(isLoopbackRegistry('registry.example.com')).toBe(false);
    expect(isLoopbackRegistry('127.0.0.1.example.com:5000')).toBe(false);
  });
});
