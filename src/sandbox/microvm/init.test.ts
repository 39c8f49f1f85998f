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

  it('hands the guest its network, volumes and exec helper as quoted words only', () => {
    const script = guestConfigScript({
      hostname: 'h',
      argv: ['true'],
      env: { A: 'b' },
      workingDir: "/srv/it's",
      user: { uid: 1000, gid: 100 },
      network: { ip: '10.88.0.7', prefixLength: 16, gateway: '10.88.0.1', mtu: 1450 },
      volumes: [
        { serial: 'v0', target: '/etc/$(reboot)', readOnly: true },
        { serial: 'v1', target: '/run/token', readOnly: true, file: "it's" },
        { serial: 'v2', target: '/data', readOnly: false },
      ],
    });
    // Run the fragment in busybox sh with the init's functions stubbed: what each receives.
    const out = execFileSync(
      '/bin/busybox',
      [
        'sh',
        '-c',
        `${script}\nvol() { printf '%s|' vol "$@"; echo; }\nstrata_volumes\necho "$STRATA_IP $STRATA_GATEWAY $STRATA_MTU [$STRATA_DISKS]"`,
      ],
      { encoding: 'utf8' },
    );
    const lines = out.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'vol|v0|/etc/$(reboot)|ro|',
      "vol|v1|/run/token|ro|it's|",
      'vol|v2|/data|rw|',
      '10.88.0.7/16 10.88.0.1 1450 [v0 v1 v2]',
    ]);
    // The exec helper gets the workload's environment, root, directory and ids.
    expect(script).toContain("/bin/strata-vmexec \"$1\" /newroot '/srv/it'\\''s' 1000 100");
    expect(script).toMatch(/strata_vmexec\(\) \{\n  exec env -i .*'A=b'/);
    expect(() =>
      guestConfigScript({
        hostname: 'h',
        argv: ['true'],
        env: {},
        workingDir: '/',
        volumes: [{ serial: 'x; reboot', target: '/a', readOnly: true }],
      }),
    ).toThrow(/serial/);
    expect(() =>
      guestConfigScript({
        hostname: 'h',
        argv: ['true'],
        env: {},
        workingDir: '/',
        network: { ip: '10.0.0.1; reboot', prefixLength: 8, gateway: '10.0.0.1', mtu: 1500 },
      }),
    ).toThrow(/IPv4/);
  });
});
