// The guest's descriptor numbers over node:wasi's (the battery, test/wasi-conformance/ fdnum, runs
// them end to end through real guests).
import { describe, expect, it } from 'vitest';
import { GuestFds, NO_FD } from './guest-fds.ts';

describe('guest descriptor numbers', () => {
  it('are node:wasi numbers until mapped', () => {
    const fds = new GuestFds();
    expect(fds.mapped).toBe(false);
    expect([fds.host(1), fds.host(7), fds.adopt(9)]).toEqual([1, 7, 9]);
  });

  it('renumber a file onto stdout: fd 1 is the file, its own number is gone', () => {
    const fds = new GuestFds();
    fds.map([3, 4]);
    expect(fds.move(4, 1)).toBe(1); // node:wasi's stdout: no guest number refers to it any more
    expect([fds.host(1), fds.host(4), fds.host(3)]).toEqual([4, NO_FD, 3]);
  });

  it('move stdout away and back, and close it', () => {
    const fds = new GuestFds();
    fds.map([3, 5]);
    expect(fds.move(1, 5)).toBe(5); // the file that was at 5 is released (closed by the caller)
    expect([fds.host(5), fds.host(1)]).toEqual([1, NO_FD]);
    expect(fds.move(5, 1)).toBe(NO_FD); // 1 held nothing
    expect([fds.host(1), fds.host(5)]).toEqual([1, NO_FD]);
    expect(fds.drop(1)).toBe(1);
    expect(fds.host(1)).toBe(NO_FD);
  });

  it('a newly opened descriptor never takes a number a renumbered one holds', () => {
    const fds = new GuestFds();
    fds.map([3]);
    fds.move(3, 6); // guest 6 → node:wasi 3; node:wasi's 6 is free and may be handed out next
    expect(fds.adopt(6)).toBe(3); // the lowest free guest number
    expect([fds.host(3), fds.host(6)]).toEqual([6, 3]);
    expect(fds.adopt(7)).toBe(7);
  });
});
