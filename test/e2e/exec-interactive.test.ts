// End to end, interactive exec on the container tier: `strata exec -i` streams piped stdin to the
// command and its exit code back; `-it` gives the command a terminal.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, NODE, ROOT, waitFor, missingTools } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables', 'script'], 'the container tier needs root');
}

const why = missing();
if (why) console.warn(`skipping interactive exec e2e tests: ${why}`);

let c: Cluster;

describe.skipIf(!!why)('interactive exec end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox', { root: join(c.dir, 'data', 'agent', 'images') });
    const file = join(c.dir, 'shell.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: shell }
spec:
  runtimeClassName: container
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sleep, '3600']
`,
    );
    expect((await c.cli(['apply', '-f', file])).code).toBe(0);
    await waitFor('shell running', async () => {
      const p = await c.client.get(pods, 'default', 'shell');
      return p.status?.phase === 'Running' ? p : undefined;
    });
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('-i streams piped stdin to the command, its stdout and stderr back, and exits with its code', async () => {
    const r = await c.cli(
      ['exec', '-i', 'shell', '--', 'sh', '-c', 'read x; echo got $x; echo oops >&2; cat; exit 3'],
      { input: 'hello\nmore lines\n' },
    );
    expect(r.stderr).toBe('oops\n');
    expect(r.stdout).toBe('got hello\nmore lines\n');
    expect(r.code).toBe(3);
  });

  it('-it gives the command a terminal', async () => {
    const r = await c.cli(
      ['exec', '-it', 'shell', '--', 'sh', '-c', 'read x; echo "got $x tty=$(tty)"; exit 5'],
      { input: 'hello\n' },
    );
    expect(r.stdout).toMatch(/got hello tty=\/dev\/pts\/\d+/);
    expect(r.code).toBe(5);
  });

  it('-it from a terminal: raw mode, the remote exit code, the terminal restored', async () => {
    // util-linux script gives the CLI a terminal of its own on stdin and stdout.
    const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
    const cli = [NODE, '--disable-warning=ExperimentalWarning', join(ROOT, 'src/cli/main.ts')];
    const args = ['--kubeconfig', c.kubeconfig, 'exec', '-it', 'shell', '--'];
    const remote = ['sh', '-c', 'read x; echo "got $x"; exit 4'];
    const line = [...cli, ...args, ...remote].map(q).join(' ');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(
        'script',
        [
          '-q',
          '-e',
          '-c',
          `${line}; rc=$?; echo "exit=$rc after: $(stty -a | grep -o -- '-\\?icanon')"`,
          '/dev/null',
        ],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
      setTimeout(() => p.stdin.write('hello\r'), 1500);
      setTimeout(() => p.stdin.end(), 3000);
    });
    expect(r.out).toContain('got hello');
    expect(r.out).toContain('exit=4 after: icanon');
  });

  it('without -i the command sees no input; errors are one line', async () => {
    const r = await c.cli(['exec', '-t', 'shell', '--', 'sh', '-c', 'echo ready; exit 0']);
    expect(r.stdout).toContain('ready');
    expect(r.code).toBe(0);
    const bad = await c.cli(['exec', '-i', '-c', 'nope', 'shell', '--', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: container nope is not valid for pod shell/);
  });
});
