import { describe, expect, it } from 'vitest';
import { kindFor } from './registry.ts';
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  gone,
  internalError,
  invalid,
  methodNotAllowed,
  notFound,
  statusFailure,
  tooLarge,
  unauthorized,
} from './status.ts';

const pods = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;

describe('Status objects', () => {
  it('statusFailure has the Kubernetes shape', () => {
    expect(statusFailure(418, 'Teapot', 'short and stout')).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'short and stout',
      reason: 'Teapot',
      code: 418,
    });
  });

  it('names resources like kubectl', () => {
    expect(notFound(pods, 'web')).toMatchObject({
      code: 404,
      reason: 'NotFound',
      message: 'pods "web" not found',
      details: { name: 'web', group: '', kind: 'pods' },
    });
    expect(notFound(deployments, 'web').message).toBe('deployments.apps "web" not found');
    expect(alreadyExists(pods, 'web')).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'pods "web" already exists',
    });
    expect(conflict(pods, 'web', 'the object has been modified')).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on pods "web": the object has been modified',
    });
  });

  it('invalid() prints causes like kubectl and carries them in details', () => {
    const one = [
      { field: 'spec.containers[0].image', message: 'Required value', reason: 'FieldValueRequired' },
    ];
    const s = invalid(pods, 'x', one);
    expect(s).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: 'Pod "x" is invalid: spec.containers[0].image: Required value',
    });
    expect(s.details).toEqual({ name: 'x', group: '', kind: 'Pod', causes: one });
    const two = [...one, { field: 'metadata.name', message: 'Required value', reason: 'FieldValueRequired' }];
    expect(invalid('Pod', 'x', two).message).toBe(
      'Pod "x" is invalid: [spec.containers[0].image: Required value, metadata.name: Required value]',
    );
  });

  it('has one helper per common code', () => {
    expect(
      [
        badRequest('b'),
        unauthorized(),
        forbidden('f'),
        methodNotAllowed(),
        gone('g'),
        tooLarge('t'),
        internalError('i'),
      ].map((s) => [s.code, s.reason]),
    ).toEqual([
      [400, 'BadRequest'],
      [401, 'Unauthorized'],
      [403, 'Forbidden'],
      [405, 'MethodNotAllowed'],
      [410, 'Expired'],
      [413, 'RequestEntityTooLarge'],
      [500, 'InternalError'],
    ]);
  });
});
