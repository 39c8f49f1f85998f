import { describe, expect, it } from 'vitest';
import { describeExit, signalName } from './exit-result.ts';
import { runtimeMessage } from './runtime.ts';

describe('describeExit', () => {
  it('maps exit statuses to Kubernetes reasons', () => {
    expect(describeExit({ exitCode: 0, oomKills: 0 })).toEqual({ exitCode: 0, reason: 'Completed' });
    expect(describeExit({ exitCode: 2, oomKills: 0 })).toEqual({ exitCode: 2, reason: 'Error' });
    expect(describeExit({ exitCode: 139, oomKills: 0 })).toEqual({
      exitCode: 139,
      reason: 'Error',
      signal: 'SIGSEGV',
    });
    expect(describeExit({ exitCode: 137, oomKills: 1, memoryLimitBytes: 32 << 20 })).toMatchObject({
      reason: 'OOMKilled',
      signal: 'SIGKILL',
      message: expect.stringContaining('32 MiB'),
    });
    // A child OOM-killed while the main process still exited cleanly.
    expect(describeExit({ exitCode: 0, oomKills: 1 })).toMatchObject({ reason: 'Completed' });
    expect(describeExit({ exitCode: 143, oomKills: 0, stopCause: 'stop' })).toMatchObject({
      reason: 'Killed',
      signal: 'SIGTERM',
    });
    expect(describeExit({ exitCode: 0, oomKills: 0, stopCause: 'stop' })).toMatchObject({
      reason: 'Completed',
    });
    expect(
      describeExit({ exitCode: 137, oomKills: 0, stopCause: 'deadline', deadlineSeconds: 5 }),
    ).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'exceeded its deadline of 5s',
    });
    expect(describeExit({ oomKills: 0 })).toMatchObject({
      exitCode: 255,
      reason: 'Error',
      message: expect.stringMatching(/conmon/),
    });
  });

  it('names signals only for 129..192', () => {
    expect(signalName(137)).toBe('SIGKILL');
    expect(signalName(128)).toBeUndefined();
    expect(signalName(255)).toBeUndefined();
  });
});

describe('runtime error messages', () => {
  it('extracts runc logrus messages and crun lines', () => {
    const runc =
      'time="2026-01-01T00:00:00Z" level=error msg="runc create failed: unable to start container process: exec: \\"/x\\": stat /x: no such file or directory"\n';
    expect(runtimeMessage(runc)).toBe(
      'runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory',
    );
    expect(runtimeMessage('crun: executable file `x` not found in $PATH: No such file or directory\n')).toBe(
      'executable file `x` not found in $PATH: No such file or directory',
    );
  });
});
