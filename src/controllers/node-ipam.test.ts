import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../store/objects.ts';
import { NodeIpamController } from './node-ipam.ts';
import { NODE, type TestObjects, eventsFor, nodeObject, openTestObjects, until } from './testutil.ts';

let t: TestObjects;
let objects: ObjectStore;
let controller: NodeIpamController | undefined;

beforeEach(async () => {
  t = await openTestObjects();
  objects = t.objects;
});

afterEach(async () => {
  await controller?.stop();
  controller = undefined;
  await t.close();
});

const podCidr = async (name: string) => (await objects.get(NODE, undefined, name))?.spec?.podCIDR;
const addNode = (name: string, spec: Record<string, unknown> = {}) =>
  objects.create({ ...nodeObject({ name }), spec });

describe('node IPAM', () => {
  it('gives each Node its own block of the cluster range, keeps a set one, reuses a freed one', async () => {
    // Set by hand before the controller starts: kept, and never handed to another node.
    await addNode('fixed', { podCIDR: '10.42.0.0/24' });
    await addNode('a');
    controller = new NodeIpamController({ objects, clusterCidr: '10.42.0.0/16' });
    await controller.start();
    expect(await until(() => podCidr('a'), 'a gets a range')).toBe('10.42.1.0/24');
    // Two at once: different blocks.
    await Promise.all([addNode('b'), addNode('c')]);
    const b = await until(() => podCidr('b'), 'b gets a range');
    const c = await until(() => podCidr('c'), 'c gets a range');
    expect(new Set([b, c])).toEqual(new Set(['10.42.2.0/24', '10.42.3.0/24']));
    expect(await podCidr('fixed')).toBe('10.42.0.0/24');
    expect((await eventsFor(objects, 'Node', 'a')).map((e) => e.reason)).toContain('CIDRAssignment');

    // A deleted node's block goes to the next node that registers.
    await objects.delete(NODE, undefined, 'a');
    await addNode('d');
    expect(await until(() => podCidr('d'), 'd gets a range')).toBe('10.42.1.0/24');
  });

  it('says so on the Node when the range is full, and assigns nothing', async () => {
    controller = new NodeIpamController({ objects, clusterCidr: '10.43.0.0/23', nodeMaskSize: 24 });
    await controller.start();
    for (const n of ['n1', 'n2']) await addNode(n);
    await until(() => podCidr('n2'), 'n2 gets a range');
    await addNode('n3');
    await until(
      async () => (await eventsFor(objects, 'Node', 'n3')).some((e) => e.reason === 'CIDRNotAvailable'),
      'CIDRNotAvailable on n3',
    );
    expect(await podCidr('n3')).toBeUndefined();
    expect(new Set([await podCidr('n1'), await podCidr('n2')])).toEqual(
      new Set(['10.43.0.0/24', '10.43.1.0/24']),
    );
  });

  it('refuses a mask that cannot cut the cluster range', () => {
    expect(() => new NodeIpamController({ objects, clusterCidr: '10.42.0.0/24', nodeMaskSize: 16 })).toThrow(
      /node CIDR mask \/16/,
    );
  });
});
