import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { guestConfigScript, shellQuote } from './init.ts';

/** What busybox sh makes of `words`: each word as one argument. */
function shellWords(words: string): string[] {
  const out = execFileSync('/bin/busybox', ['sh', '-c', `printf '%s\\0' ${words}`]);
  return out.toString('utf8').split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  it('gives the shell back exactly the string, whatever it holds', () => {
    const hostile = ["it's", '$(reboot -f)', '`id`', 'a b\tc\nd', '"\\', '', "''", '*', '$HOME'];
    expect(shellWords(hostile.map(shellQuote).join(' '))).toEqual(hostile);
  });

  it('refuses NUL bytes', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('guestConfigScript', () => {
  it('runs argv with a clean env (defaults under the pod env) in the working directory', () => {
    const script = guestConfigScript({
      hostname: 'web',
      argv: ['sh', '-c', 'echo "$1"', "it's"],
      env: { PATH: '/bin', A: 'x=y' },
      workingDir: '/srv',
    });
    // The hostname assignment and the workload's command, read back as the init's shell reads them.
    const [assignment, , call] = script.split('\n');
    expect(assignment).toBe("STRATA_HOSTNAME='web'");
    const words = shellWords(call.trim().replace(/^exec /, ''));
    expect(words.slice(0, 2)).toEqual(['env', '-i']);
    expect(words).toContain('PATH=/bin');
    expect(words).toContain('HOME=/root');
    expect(words).toContain('HOSTNAME=web');
    expect(words).toContain('A=x=y');
    expect(words.slice(words.indexOf('chroot'), words.indexOf('chroot') + 3)).toEqual([
      'chroot',
      '/newroot',
      '/.strata/sh',
    ]);
    expect(words.slice(-6)).toEqual(['strata-init', '/srv', 'sh', '-c', 'echo "$1"', "it's"]);
  });

  it('changes to the resolved uid/gid after entering the working directory, and stays root otherwise', () => {
    const call = (user?: { uid: number; gid: number }) =>
      shellWords(
        guestConfigScript({ hostname: 'h', argv: ['id'], env: {}, workingDir: '/w', user })
          .split('\n')[2]
          .trim()
          .replace(/^exec /, ''),
      );
    expect(call({ uid: 1000, gid: 100 }).slice(-10)).toEqual([
      'strata-init',
      '/w',
      '/.strata/nsenter',
      '-F',
      '-S',
      '1000',
      '-G',
      '100',
      '--',
      'id',
    ]);
    expect(call({ uid: 0, gid: 0 }).slice(-3)).toEqual(['strata-init', '/w', 'id']);
    expect(call().slice(-3)).toEqual(['strata-init', '/w', 'id']);
    expect(() =>
      guestConfigScript({ hostname: 'h', argv: ['id'], env: {}, workingDir: '/', user: { uid: -1, gid: 0 } }),
    ).toThrow(/non-negative/);
  });

  it('refuses to boot without a command, and bad variable names', () => {
    expect(() => guestConfigScript({ hostname: 'h', argv: [], env: {}, workingDir: '/' })).toThrow(
      /no command to run/,
    );
    expect(() =>
      guestConfigScript({ hostname: 'h', argv: ['x'], env: { 'A=B': '1' }, workingDir: '/' }),
    ).toThrow(/not valid/);
  });
});
