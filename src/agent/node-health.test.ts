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
  // Tier names are arbitrary here: the agent treats every runtime class alike.
  const tier = (runtimeClass: string, healthy: boolean, everHealthy: boolean) => ({
    runtimeClass,
    healthy,
    everHealthy,
    reason: healthy ? undefined : 'broken',
  });

  it('a tier that never worked here is not a fault; one that broke is; none working is', () => {
    expect(unavailableTiers([tier('tier-z', true, true), tier('tier-m', false, false)])).toEqual([]);
    expect(
      unavailableTiers([tier('tier-z', true, true), tier('tier-a', false, true)]).map((t) => t.runtimeClass),
    ).toEqual(['tier-a']);
    expect(
      unavailableTiers([tier('tier-z', false, false), tier('tier-m', false, false)]).map(
        (t) => t.runtimeClass,
      ),
    ).toEqual(['tier-z', 'tier-m']);
  });

  it('taints name the failed tiers', () => {
    expect(agentTaints(true, [tier('tier-z', false, true), tier('tier-a', false, true)])).toEqual([
      { key: MEMORY_PRESSURE_TAINT, effect: 'NoSchedule' },
      { key: RUNTIME_UNAVAILABLE_TAINT, value: 'tier-a_tier-z', effect: 'NoSchedule' },
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
      value: 'tier-z',
      effect: 'NoSchedule' as const,
      timeAdded: 't0',
    };
    expect(reconcileTaints([a], [{ ...a, value: 'tier-a_tier-z', timeAdded: undefined }], 't1')).toEqual([
      { key: RUNTIME_UNAVAILABLE_TAINT, value: 'tier-a_tier-z', effect: 'NoSchedule', timeAdded: 't1' },
    ]);
  });
});
