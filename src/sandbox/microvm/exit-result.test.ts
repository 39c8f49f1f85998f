import { describe, expect, it } from 'vitest';
import { consoleSummary, describeGuestExit, LOST_EXIT_CODE, oomKillLine } from './exit-result.ts';

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

describe('consoleSummary', () => {
  it('picks the panic line and its cause out of a console, else the last lines', () => {
    const console = [
      '[    1.80] BUG: kernel NULL pointer dereference, address: 0000000000000000',
      '[    1.81] RIP: 0010:foo+0x1/0x2',
      '[    1.84] Kernel panic - not syncing: Fatal exception',
      '[    1.85] Kernel Offset: disabled',
    ].join('\n');
    expect(consoleSummary(console)).toBe(
      'Kernel panic - not syncing: Fatal exception (BUG: kernel NULL pointer dereference, address: 0000000000000000)',
    );
    expect(consoleSummary('a\nb\n[ 2.0] c\nd\n')).toBe('b | c | d');
  });
});

describe('the guest OOM killer', () => {
  it('turns a non-zero exit after an OOM kill into OOMKilled, with the kernel line', () => {
    const line = oomKillLine(
      '[    9.1] Out of memory: Killed process 93 (sort) total-vm:98000kB, anon-rss:80000kB, file-rss:0kB\n',
    );
    expect(line).toBe('Out of memory: Killed process 93 (sort)');
    expect(describeGuestExit({ report: 'exit 137\n', oomKill: line, memoryMiB: 96 })).toEqual({
      exitCode: 137,
      reason: 'OOMKilled',
      signal: 'SIGKILL',
      message: 'the guest ran out of its 96 MiB of memory: Out of memory: Killed process 93 (sort)',
    });
    // A workload that survived its child's OOM kill and exited 0 completed.
    expect(describeGuestExit({ report: 'exit 0\n', oomKill: line }).reason).toBe('Completed');
    expect(oomKillLine('nothing here')).toBeUndefined();
  });
});
