import { describe, expect, it } from 'vitest';
import {
  MEMORY_PRESSURE_TAINT,
  MemoryPressure,
  RUNTIME_UNAVAILABLE_TAINT,
  agentTaints,
  readAvailableMemory,
  reconcileTaints,
  unavailableTiers,
} from './node-health.ts';

const Mi = 1024 * 1024;

describe('memory pressure', () => {
  it('turns on below the threshold at once and off only after a calm transition period', () => {
    const m = new MemoryPressure(100 * Mi, 60_000);
    expect(m.observe(500 * Mi, 0)).toBe(false);
    expect(m.observe(50 * Mi, 1000)).toBe(true);
    expect(m.message(50 * Mi)).toBe('node has insufficient memory available: 50Mi < 100Mi');
    expect(m.observe(500 * Mi, 30_000)).toBe(true);
    expect(m.observe(500 * Mi, 61_000)).toBe(false);
    expect(m.message(500 * Mi)).toBe('node has sufficient memory available (500Mi)');
  });

  it('reads available memory from the machine', () => {
    expect(readAvailableMemory()).toBeGreaterThan(0);
  });
});

describe('runtime availability', () => {
  const tier = (runtimeClass: string, healthy: boolean, everHealthy: boolean) => ({
    runtimeClass,
    healthy,
    everHealthy,
    reason: healthy ? undefined : 'broken',
  });

  it('a tier that never worked here is not a fault; one that broke is; none working is', () => {
    expect(unavailableTiers([tier('wasm', true, true), tier('microvm', false, false)])).toEqual([]);
    expect(
      unavailableTiers([tier('wasm', true, true), tier('container', false, true)]).map((t) => t.runtimeClass),
    ).toEqual(['container']);
    expect(
      unavailableTiers([tier('wasm', false, false), tier('microvm', false, false)]).map(
        (t) => t.runtimeClass,
      ),
    ).toEqual(['wasm', 'microvm']);
  });

  it('taints name the failed tiers', () => {
    expect(agentTaints(true, [tier('wasm', false, true), tier('container', false, true)])).toEqual([
      { key: MEMORY_PRESSURE_TAINT, effect: 'NoSchedule' },
      { key: RUNTIME_UNAVAILABLE_TAINT, value: 'container_wasm', effect: 'NoSchedule' },
    ]);
    expect(agentTaints(false, [])).toEqual([]);
  });
});

describe('reconcileTaints', () => {
  const cordon = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' as const, timeAdded: 't0' };
  const mem = { key: MEMORY_PRESSURE_TAINT, effect: 'NoSchedule' as const };

  it("adds and removes only the agent's own taints, keeping the others and timeAdded", () => {
    const added = reconcileTaints([cordon], [mem], 't1');
    expect(added).toEqual([cordon, { ...mem, timeAdded: 't1' }]);
    expect(reconcileTaints(added, [mem], 't2')).toBeUndefined();
    expect(reconcileTaints(added, [], 't3')).toEqual([cordon]);
    expect(reconcileTaints(undefined, [], 't3')).toBeUndefined();
    expect(reconcileTaints([cordon], [], 't3')).toBeUndefined();
  });

  it('a changed value replaces the taint', () => {
    const a = {
      key: RUNTIME_UNAVAILABLE_TAINT,
      value: 'wasm',
      effect: 'NoSchedule' as const,
      timeAdded: 't0',
    };
    expect(reconcileTaints([a], [{ ...a, value: 'container_wasm', timeAdded: undefined }], 't1')).toEqual([
      { key: RUNTIME_UNAVAILABLE_TAINT, value: 'container_wasm', effect: 'NoSchedule', timeAdded: 't1' },
    ]);
  });
});
