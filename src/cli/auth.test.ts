import { describe, expect, it } from 'vitest';
import { canIAttributes } from './auth.ts';

describe('strata auth can-i arguments', () => {
  it('resolves kubectl resource names into group and plural', () => {
    expect(canIAttributes('list', 'po', 'team-a')).toEqual({
      resourceAttributes: { verb: 'list', resource: 'pods', group: '', namespace: 'team-a' },
    });
    expect(canIAttributes('get', 'deploy/web', 'default')).toEqual({
      resourceAttributes: {
        verb: 'get',
        resource: 'deployments',
        group: 'apps',
        namespace: 'default',
        name: 'web',
      },
    });
    expect(canIAttributes('create', 'pods', 'a', 'exec').resourceAttributes?.subresource).toBe('exec');
  });

  it('asks cluster-scoped kinds without a namespace, unknown ones as written', () => {
    expect(canIAttributes('list', 'nodes', 'default').resourceAttributes).not.toHaveProperty('namespace');
    expect(canIAttributes('get', 'widgets.example.com', 'x').resourceAttributes).toMatchObject({
      resource: 'widgets',
      group: 'example.com',
    });
  });

  it('asks about non-resource URLs by path', () => {
    expect(canIAttributes('get', '/healthz', 'default')).toEqual({
      nonResourceAttributes: { verb: 'get', path: '/healthz' },
    });
  });
});
