// The fieldmanager rules on plain objects (the HTTP-level behaviour is in src/server/writes.test.ts).
import { describe, expect, it } from 'vitest';
import { PatchError } from './json.ts';
import {
  BEFORE_FIRST_APPLY,
  decodeManagedFields,
  encodeManagedFields,
  managedFieldsAfterUpdate,
  serverSideApply,
  type FieldManagerContext,
} from './managed-fields.ts';
import { patchSchema } from './metadata.ts';

const ctx: FieldManagerContext = {
  schema: patchSchema('apps/v1', 'Deployment'),
  apiVersion: 'apps/v1',
  now: '2025-01-01T00:00:00Z',
};
const owners = (obj: any) =>
  Object.fromEntries(
    (Array.isArray(obj) ? obj : obj.metadata.managedFields).map((m: any) => [
      `${m.manager}/${m.operation}`,
      JSON.stringify(m.fieldsV1),
    ]),
  );

const deploy = (replicas: number, image: string, extra: any = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', ...extra.metadata },
  spec: { replicas, template: { spec: { containers: [{ name: 'app', image }] } }, ...extra.spec },
});

function errorOf(fn: () => unknown): PatchError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PatchError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('managedFieldsAfterUpdate', () => {
  it('a create gives the creator every field but the stripped ones', () => {
    const mf = managedFieldsAfterUpdate(undefined, deploy(1, 'a'), 'creator', ctx)!;
    expect(mf).toEqual([
      {
        manager: 'creator',
        operation: 'Update',
        apiVersion: 'apps/v1',
        time: ctx.now,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:spec': {
            'f:replicas': {},
            'f:template': {
              'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
            },
          },
        },
      },
    ]);
  });

  it('an updater takes the fields it changes from their owners; removed fields leave every owner', () => {
    const live: any = deploy(1, 'a');
    live.metadata.managedFields = managedFieldsAfterUpdate(undefined, live, 'creator', ctx);
    const next: any = deploy(3, 'a');
    delete next.spec.template;
    const mf = managedFieldsAfterUpdate(live, next, 'scaler', { ...ctx, now: 'later' })!;
    expect(owners(mf)).toEqual({ 'scaler/Update': '{"f:spec":{"f:replicas":{}}}' });
  });

  it('does not start tracking an existing object without managedFields', () => {
    expect(managedFieldsAfterUpdate(deploy(1, 'a') as any, deploy(2, 'a'), 'x', ctx)).toBeUndefined();
  });

  it('managedFields sent in the body replace the live ones; an invalid entry is ignored', () => {
    const live: any = deploy(1, 'a');
    live.metadata.managedFields = managedFieldsAfterUpdate(undefined, live, 'creator', ctx);
    const sent = [
      {
        manager: 'other',
        operation: 'Update',
        apiVersion: 'apps/v1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:replicas': {} } },
      },
      { manager: 'bad', operation: 'Nope' },
    ];
    const mf = managedFieldsAfterUpdate(live, deploy(1, 'b'), 'editor', ctx, sent)!;
    expect(Object.keys(owners(mf)).sort()).toEqual(['editor/Update', 'other/Update']);
  });
});

describe('serverSideApply', () => {
  it('create: the applier owns exactly its configuration', () => {
    const r = serverSideApply(undefined, deploy(2, 'a'), 'kubectl', false, ctx);
    expect(r.object).toEqual(deploy(2, 'a'));
    expect(owners(r.managedFields)).toEqual({
      'kubectl/Apply':
        '{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\\"name\\":\\"app\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}',
    });
  });

  it('conflicts name each field and manager; force moves ownership', () => {
    const live: any = {
      ...deploy(2, 'a'),
      metadata: {
        name: 'd',
        managedFields: serverSideApply(undefined, deploy(2, 'a'), 'kubectl', false, ctx).managedFields,
      },
    };
    const err = errorOf(() => serverSideApply(live, deploy(5, 'b'), 'hpa', false, ctx));
    expect(err.code).toBe(409);
    expect(err.toStatus()).toMatchObject({
      reason: 'Conflict',
      message:
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n- .spec.template.spec.containers[name="app"].image',
      details: {
        causes: [
          { reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.replicas' },
          {
            reason: 'FieldManagerConflict',
            message: 'conflict with "kubectl"',
            field: '.spec.template.spec.containers[name="app"].image',
          },
        ],
      },
    });
    const forced = serverSideApply(
      live,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 5 } },
      'hpa',
      true,
      ctx,
    );
    expect((forced.object as any).spec.replicas).toBe(5);
    const byManager = owners(forced.managedFields);
    expect(byManager['hpa/Apply']).toBe('{"f:spec":{"f:replicas":{}}}');
    expect(byManager['kubectl/Apply']).not.toContain('f:replicas');
  });

  it('prunes what the applier dropped unless another manager owns it', () => {
    const first = serverSideApply(
      undefined,
      deploy(2, 'a', { spec: { paused: true } }),
      'kubectl',
      false,
      ctx,
    );
    const live: any = { ...first.object, metadata: { name: 'd', managedFields: first.managedFields } };
    const second = serverSideApply(live, deploy(2, 'a'), 'kubectl', false, ctx);
    expect((second.object as any).spec).not.toHaveProperty('paused');
    // Another manager owning `paused` keeps it.
    const shared = serverSideApply(
      live,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { paused: true } },
      'other',
      false,
      ctx,
    );
    const live2: any = { ...shared.object, metadata: { name: 'd', managedFields: shared.managedFields } };
    const third = serverSideApply(live2, deploy(2, 'a'), 'kubectl', false, ctx);
    expect((third.object as any).spec.paused).toBe(true);
  });

  it('removes a dropped container, and a struct whose fields are all gone', () => {
    const cfg = (containers: string[], strategy?: object): any => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        template: { spec: { containers: containers.map((name) => ({ name, image: name })) } },
        ...(strategy ? { strategy } : {}),
      },
    });
    const first = serverSideApply(undefined, cfg(['a', 'b'], { type: 'Recreate' }), 'kubectl', false, ctx);
    const live: any = { ...first.object, metadata: { name: 'd', managedFields: first.managedFields } };
    const out: any = serverSideApply(live, cfg(['a']), 'kubectl', false, ctx).object;
    expect(out.spec.template.spec.containers).toEqual([{ name: 'a', image: 'a' }]);
    expect(out.spec).not.toHaveProperty('strategy');
  });

  it('an untracked object is first credited to before-first-apply', () => {
    const err = errorOf(() => serverSideApply(deploy(2, 'a') as any, deploy(3, 'a'), 'kubectl', false, ctx));
    expect(err.code).toBe(409);
    expect(err.message).toContain(
      'conflict with "before-first-apply" using apps/v1 at 2025-01-01T00:00:00Z: .spec.replicas',
    );
    const same = serverSideApply(deploy(2, 'a') as any, deploy(2, 'a'), 'kubectl', false, ctx);
    expect(Object.keys(owners(same.managedFields))).toEqual(['kubectl/Apply', 'before-first-apply/Update']);
  });

  it('a keyed item without its key is a 422', () => {
    const err = errorOf(() =>
      serverSideApply(
        undefined,
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          spec: { template: { spec: { containers: [{ image: 'x' }] } } },
        },
        'k',
        false,
        ctx,
      ),
    );
    expect(err.code).toBe(422);
    expect(err.toStatus().details?.causes?.[0].field).toBe('.spec.template.spec.containers');
  });

  it('decode/encode keep entries in kube order (Apply before Update, then time, then manager)', () => {
    const entries = [
      {
        manager: 'b',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:a': {} },
      },
      {
        manager: 'a',
        operation: 'Update',
        apiVersion: 'v1',
        time: '1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:b': {} },
      },
      {
        manager: 'z',
        operation: 'Apply',
        apiVersion: 'v1',
        time: '3',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:c': {} },
      },
    ];
    expect(encodeManagedFields(decodeManagedFields(entries)).map((e) => e.manager)).toEqual(['z', 'a', 'b']);
    expect(BEFORE_FIRST_APPLY).toBe('before-first-apply');
  });
});
