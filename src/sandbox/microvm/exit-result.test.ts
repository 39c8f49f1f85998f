import { describe, expect, it } from 'vitest';
import { describeGuestExit, LOST_EXIT_CODE } from './exit-result.ts';

describe('describeGuestExit', () => {
  it('maps the init report to Kubernetes reasons', () => {
    expect(describeGuestExit({ report: 'exit 0\n' })).toEqual({ exitCode: 0, reason: 'Completed' });
    expect(describeGuestExit({ report: 'exit 3\n' })).toEqual({ exitCode: 3, reason: 'Error' });
    expect(describeGuestExit({ report: 'exit 143\n', stopCause: 'stop' })).toEqual({
      exitCode: 143,
      reason: 'Killed',
      signal: 'SIGTERM',
    });
    expect(describeGuestExit({ report: 'exit 0\n', stopCause: 'stop' }).reason).toBe('Completed');
    expect(describeGuestExit({ report: 'error cannot mount the root filesystem disk\n' })).toMatchObject({
      reason: 'StartError',
      message: "the guest's init: cannot mount the root filesystem disk",
    });
    expect(describeGuestExit({ report: '', stopCause: 'deadline', deadlineSeconds: 5 })).toMatchObject({
      reason: 'DeadlineExceeded',
      exitCode: 137,
    });
  });

  it('reports a VM that ended without a word (panic) with its console', () => {
    const r = describeGuestExit({
      report: '',
      consoleTail: 'Kernel panic - not syncing: Attempted to kill init!',
    });
    expect(r.exitCode).toBe(LOST_EXIT_CODE);
    expect(r.message).toContain('Kernel panic');
    expect(describeGuestExit({ report: '', stopCause: 'stop' })).toMatchObject({
      reason: 'Killed',
      exitCode: 137,
    });
  });
});
