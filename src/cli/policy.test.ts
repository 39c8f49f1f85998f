import { describe, expect, it } from 'vitest';
import { formatPolicyReport } from './policy.ts';

const at = (s: number) => ({ seconds: s, nanos: 0 });

describe('formatPolicyReport', () => {
  it('totals by severity and the most recent violations first', () => {
    const results = [
      {
        policy: 'tiers',
        result: 'fail' as const,
        severity: 'high' as const,
        timestamp: at(100),
        message: 'old',
        resources: [{ kind: 'Pod', namespace: 'a', name: 'p1' }],
        properties: { action: 'Deny' },
      },
      {
        policy: 'tiers',
        result: 'fail' as const,
        severity: 'high' as const,
        timestamp: at(300),
        message: 'newest',
        resources: [{ kind: 'Pod', namespace: 'a', name: 'p2' }],
        properties: { action: 'Audit' },
      },
      {
        policy: 'labels',
        result: 'warn' as const,
        severity: 'low' as const,
        timestamp: at(200),
        message: 'middle',
        resources: [{ kind: 'Pod', namespace: 'a', name: 'p3' }],
      },
      { policy: 'labels', result: 'pass' as const, severity: 'low' as const, timestamp: at(400) },
      { policy: 'x', result: 'error' as const, timestamp: at(50), message: 'budget' },
    ];
    const out = formatPolicyReport([{ results }]);
    const lines = out.split('\n');
    expect(lines[0]).toBe('Violations by severity (1 passed, 0 skipped):');
    expect(lines.find((l) => l.startsWith('high'))!.split(/\s+/)).toEqual(['high', '2', '0', '0']);
    expect(lines.find((l) => l.startsWith('low'))!.split(/\s+/)).toEqual(['low', '0', '1', '0']);
    expect(lines.find((l) => l.startsWith('none'))!.split(/\s+/)).toEqual(['none', '0', '0', '1']);
    expect(lines.find((l) => l.startsWith('total'))!.split(/\s+/)).toEqual(['total', '2', '1', '1']);
    const recent = lines.slice(lines.findIndex((l) => l.startsWith('TIME')) + 1);
    expect(recent.map((l) => l.trim().split(/\s+/).at(-1))).toEqual(['newest', 'middle', 'old', 'budget']);
    expect(recent[0]).toContain('pod/a/p2');
  });

  it('keeps to ten recent violations', () => {
    const results = Array.from({ length: 15 }, (_, i) => ({
      policy: 'p',
      result: 'fail' as const,
      timestamp: at(i),
      message: `m${i}`,
    }));
    const out = formatPolicyReport([{ results }]);
    expect(out).toContain('Most recent violations (10 of 15):');
    expect(out).toContain('m14');
    expect(out).not.toContain('m4\n');
  });
});
