// The pods/NAME/ephemeralcontainers subresource in the store: additions only, validated like any
// container, and never through a plain pod update.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { ApiError, ObjectStore } from './objects.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

const POD = kindFor('v1', 'Pod')!;
let dir: string;
let store: Store;
let objects: ObjectStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ephemeral-'));
  store = openSqliteStore(join(dir, 'state.db'));
  objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  await objects.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'default' },
    spec: {
      runtimeClassName: 'container',
      containers: [{ name: 'main', image: 'localhost/busybox:1.0' }],
    },
  });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const debug = (name: string, extra: object = {}) => ({
  name,
  image: 'localhost/busybox:1.0',
  command: ['sh'],
  ...extra,
});

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('ephemeral containers', () => {
  it('kubectl debug’s strategic merge patch adds one; a second patch adds another', async () => {
    const patched = await objects.patch(
      POD,
      'default',
      'app',
      { spec: { ephemeralContainers: [debug('debugger-1', { targetContainerName: 'main' })] } },
      'ephemeralcontainers',
      { type: 'strategic' },
    );
    expect(patched.spec.ephemeralContainers.map((c: any) => c.name)).toEqual(['debugger-1']);
    const again = await objects.patch(
      POD,
      'default',
      'app',
      // As kubectl's two-way merge patch has it: the element order, then the new container.
      {
        spec: {
          '$setElementOrder/ephemeralContainers': [{ name: 'debugger-1' }, { name: 'debugger-2' }],
          ephemeralContainers: [debug('debugger-2')],
        },
      },
      'ephemeralcontainers',
      { type: 'strategic' },
    );
    // Merged by name: the first one stays.
    expect(again.spec.ephemeralContainers.map((c: any) => c.name)).toEqual(['debugger-1', 'debugger-2']);
    expect(again.spec.containers).toEqual(patched.spec.containers);
  });

  it('an existing one may be neither removed nor changed, and nothing is written', async () => {
    const first = await objects.updateEphemeralContainers('default', 'app', {
      spec: { ephemeralContainers: [debug('d')] },
    });
    const removed = await rejection(
      objects.updateEphemeralContainers('default', 'app', { spec: { ephemeralContainers: [] } }),
    );
    expect(removed.code).toBe(422);
    expect(removed.message).toContain('existing ephemeral containers "d" may not be removed');
    const changed = await rejection(
      objects.updateEphemeralContainers('default', 'app', {
        spec: { ephemeralContainers: [debug('d', { command: ['top'] })] },
      }),
    );
    expect(changed.message).toContain('existing ephemeral containers "d" may not be changed');
    const now = await objects.get(POD, 'default', 'app');
    expect(now.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
  });

  it('refuses what an ephemeral container cannot have, a taken name and an unknown target', async () => {
    const forbidden = await rejection(
      objects.updateEphemeralContainers('default', 'app', {
        spec: { ephemeralContainers: [debug('d', { ports: [{ containerPort: 80 }] })] },
      }),
    );
    expect(forbidden.message).toContain(
      'spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container',
    );
    const taken = await rejection(
      objects.updateEphemeralContainers('default', 'app', { spec: { ephemeralContainers: [debug('main')] } }),
    );
    expect(taken.message).toContain('spec.ephemeralContainers[0].name: Duplicate value: "main"');
    const target = await rejection(
      objects.updateEphemeralContainers('default', 'app', {
        spec: { ephemeralContainers: [debug('d', { targetContainerName: 'nope' })] },
      }),
    );
    expect(target.message).toContain('spec.ephemeralContainers[0].targetContainerName: Not found: "nope"');
  });

  it('a plain pod update cannot add one', async () => {
    const pod = await objects.get(POD, 'default', 'app');
    pod.spec.ephemeralContainers = [debug('sneaky')];
    const err = await rejection(objects.update(pod, 'default'));
    expect(err.message).toContain('pod updates may not change fields of spec');
  });
});
