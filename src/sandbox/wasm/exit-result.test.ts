import { describe, expect, it } from 'vitest';
import { describeExit, type ExitContext } from './exit-result.ts';
import { PAGE_BYTES } from './memory-cap.ts';

const MiB = 1024 * 1024;
const capped = { memories: [{ imported: false, initialPages: 17, maxPages: 256 }], capPages: 256 };

function d(over: Partial<ExitContext>) {
  return describeExit({ outcome: { kind: 'exit', code: 0 }, memoryBytes: 2 * MiB, memories: [], ...over });
}

describe('describeExit', () => {
  it('maps exit codes', () => {
    expect(d({})).toEqual({ exitCode: 0, reason: 'Completed' });
    expect(d({ outcome: { kind: 'exit', code: 3 } })).toEqual({ exitCode: 3, reason: 'Error' });
  });

  it('reports traps with their message and 134', () => {
    expect(d({ outcome: { kind: 'trap', message: 'unreachable' } })).toEqual({
      exitCode: 134,
      reason: 'Error',
      message: 'wasm trap: unreachable',
    });
  });

  it('reports OOMKilled when a failing guest is near the cap set from the memory limit', () => {
    const r = d({ ...capped, outcome: { kind: 'exit', code: 1 }, memoryBytes: 15.1 * MiB });
    expect(r.reason).toBe('OOMKilled');
    expect(r.exitCode).toBe(1);
    expect(r.message).toMatch(/^linear memory reached its 16 MiB limit/);
    const trap = d({ ...capped, outcome: { kind: 'trap', message: 'unreachable' }, memoryBytes: 16 * MiB });
    expect(trap).toMatchObject({ reason: 'OOMKilled', exitCode: 134 });
    expect(trap.message).toContain('wasm trap: unreachable');
  });

  it('does not blame memory when the guest succeeded, was far from the cap, or hit its own maximum', () => {
    expect(d({ ...capped, memoryBytes: 16 * MiB }).reason).toBe('Completed');
    expect(d({ ...capped, outcome: { kind: 'exit', code: 1 }, memoryBytes: 4 * MiB }).reason).toBe('Error');
    const ownMax = {
      memories: [{ imported: false, initialPages: 17, declaredMaxPages: 100, maxPages: 100 }],
      capPages: 256,
    };
    expect(d({ ...ownMax, outcome: { kind: 'exit', code: 1 }, memoryBytes: 100 * PAGE_BYTES }).reason).toBe(
      'Error',
    );
  });

  it('reports stops: 143/SIGTERM at a host call, 137/SIGKILL when forced, reason from the cause', () => {
    expect(d({ outcome: { kind: 'stopped' }, stopCause: 'stop' })).toMatchObject({
      exitCode: 143,
      reason: 'Killed',
      signal: 'SIGTERM',
    });
    expect(d({ outcome: { kind: 'killed' }, stopCause: 'stop' })).toMatchObject({
      exitCode: 137,
      reason: 'Killed',
      signal: 'SIGKILL',
    });
    const dl = d({ outcome: { kind: 'killed' }, stopCause: 'deadline', deadlineSeconds: 2 });
    expect(dl).toMatchObject({ exitCode: 137, reason: 'DeadlineExceeded' });
    expect(dl.message).toContain('deadline of 2s');
  });
});
