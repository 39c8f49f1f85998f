// End to end, `strata run` docker-style on every tier, and attaching to a pod container's own stdin:
// exit codes, --rm, Ctrl-C, -p (a hostPort that answers), -v (a host path; a named claim), -w, --user,
// --env-file, -i with piped input, -it on a pseudo-terminal (util-linux `script`), kubectl attach -i and
// kubectl run -i, and wasm through the same command.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { wasm, buildTestImages, Cluster, missingTools, NODE, ROOT, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const MAIN_ARGS = ['--disable-warning=ExperimentalWarning', join(ROOT, 'src/cli/main.ts')];

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'iptables', 'script', 'perl'], 'the container tier needs root');
}

const why = missing();
if (why) console.warn(`skipping run e2e tests: ${why}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as any).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A command on a pseudo-terminal of its own (`script -qec`), fed line by line: each line is sent once
 * the output so far matches its `after`. Resolves with the output and the command's exit code.
 */
function onTerminal(
  command: string[],
  steps: Array<{ after: RegExp; send: string }>,
  timeoutMs = 60_000,
): Promise<{ code: number; output: string }> {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const p = spawn('script', ['-qec', quoted, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let next = 0;
  const feed = (): void => {
    while (next < steps.length && steps[next].after.test(output)) p.stdin.write(steps[next++].send);
  };
  p.stdout.on('data', (d) => {
    output += d;
    feed();
  });
  p.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${command.join(' ')} on a terminal timed out; output: ${output}`));
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, output });
    });
  });
}

let c: Cluster;
const busybox = 'localhost/busybox:1.0';

describe.skipIf(!!why)('strata run and attach end to end', () => {
  beforeAll(async () => {
    buildTestImages();
    c = await new Cluster().up();
    for (const [dir, name] of [
      ['busybox', busybox],
      ['httpd', 'localhost/httpd:1.0'],
    ]) {
      const r = await c.cli(['image', 'import', join(ROOT, 'build/images', dir), '--name', name]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('exits with the container’s exit code, and --rm leaves no pod behind', async () => {
    const r = await c.cli([
      'run',
      '--rm',
      '--name',
      'three',
      'container',
      busybox,
      '--',
      'sh',
      '-c',
      'echo out; exit 3',
    ]);
    expect(r.stdout).toBe('out\n');
    expect(r.code, r.stderr).toBe(3);
    expect(await c.client.find(pods, 'default', 'three')).toBeUndefined();
  });

  it('Ctrl-C on an attached run with --rm stops the pod and exits 130', async () => {
    const p = spawn(
      NODE,
      [
        ...MAIN_ARGS,
        '--kubeconfig',
        c.kubeconfig,
        'run',
        '--rm',
        '--name',
        'interrupted',
        'container',
        busybox,
        '--',
        'sleep',
        '300',
      ],
      { stdio: 'pipe' },
    );
    const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    await waitFor('the pod to run', async () => {
      const pod = await c.client.find(pods, 'default', 'interrupted');
      return pod?.status?.containerStatuses?.[0]?.state?.running;
    });
    p.kill('SIGINT');
    expect(await exited).toBe(130);
    await waitFor('the pod to be gone', async () => !(await c.client.find(pods, 'default', 'interrupted')));
  });

  it('-p publishes a container port on the node that answers', async () => {
    const port = await freePort();
    const r = await c.cli([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `${port}:8080`,
      'container',
      'localhost/httpd:1.0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const body = await waitFor('the published port to answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      return res.ok ? res.text() : undefined;
    });
    expect(body).toContain('hello from strata httpd');
    await c.cli(['delete', 'pod', 'web', '--grace-period', '0']);
  });

  it('-v binds a host path, -w and --user take effect, --env-file and -e set the environment', async () => {
    const host = join(c.dir, 'shared');
    mkdirSync(host, { recursive: true });
    chmodSync(host, 0o777); // writable by the container's user 1234
    writeFileSync(join(host, 'in.txt'), 'from the host\n');
    const envFile = join(c.dir, 'app.env');
    writeFileSync(envFile, '# settings\nGREETING=hello world\nOVERRIDDEN=file\nFROM_SHELL\n');
    const r = await c.cli(
      [
        'run',
        '--rm',
        '-v',
        `${host}:/work`,
        '-w',
        '/work',
        '--user',
        '1234:2345',
        '--env-file',
        envFile,
        '-e',
        'OVERRIDDEN=flag',
        'container',
        busybox,
        '--',
        'sh',
        '-c',
        'pwd; id -u; id -g; cat in.txt; echo "$GREETING/$OVERRIDDEN/${FROM_SHELL:-unset}"; echo written > out.txt',
      ],
      {},
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/work\n1234\n2345\nfrom the host\nhello world/flag/unset\n');
    expect(execFileSync('cat', [join(host, 'out.txt')]).toString()).toBe('written\n');
  });

  it('-v NAME:PATH is a PersistentVolumeClaim, created on first use; its data outlives the run', async () => {
    const script = 'echo run >> /data/runs; cat /data/runs';
    const first = await c.cli(
      ['run', '--rm', '-v', 'rundata:/data', 'container', busybox, '--', 'sh', '-c', script],
      {
        timeoutMs: 120_000,
      },
    );
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('persistentvolumeclaim/rundata created');
    expect(first.stdout).toBe('run\n');
    const second = await c.cli(
      ['run', '--rm', '-v', 'rundata:/data', 'container', busybox, '--', 'sh', '-c', script],
      {
        timeoutMs: 120_000,
      },
    );
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('created');
    expect(second.stdout).toBe('run\nrun\n');
  });

  it('-i passes piped input to the container; its end is the container’s EOF', async () => {
    const r = await c.cli(
      ['run', '--rm', '-i', 'container', busybox, '--', 'sh', '-c', 'cat; echo after-eof; exit 4'],
      {
        input: 'line one\nline two\n',
      },
    );
    expect(r.stdout).toBe('line one\nline two\nafter-eof\n');
    expect(r.code, r.stderr).toBe(4);
  });

  it('-it gives the container a terminal: a shell session, then its exit code', async () => {
    const r = await onTerminal(
      [
        NODE,
        ...MAIN_ARGS,
        '--kubeconfig',
        c.kubeconfig,
        'run',
        '--rm',
        '-it',
        '--name',
        'tty',
        'container',
        busybox,
        '--',
        'sh',
      ],
      [
        { after: /# /, send: 'echo "sum $((6*7))"; tty; echo "term $TERM"\n' },
        { after: /term xterm/, send: 'exit 5\n' },
      ],
    );
    expect(r.output).toContain('sum 42');
    expect(r.output).toMatch(/\/dev\/pts\/\d+/);
    expect(r.code, r.output).toBe(5);
    expect(await c.client.find(pods, 'default', 'tty')).toBeUndefined();
  });

  it('kubectl attach -i reaches a stdin: true pod: cat echoes the input back', async () => {
    writeFileSync(
      join(c.dir, 'cat.yaml'),
      `apiVersion: v1
kind: Pod
metadata: { name: catter }
spec:
  runtimeClassName: container
  containers:
  - { name: cat, image: ${busybox}, command: [cat], stdin: true }
`,
    );
    expect((await c.kubectl(['apply', '-f', join(c.dir, 'cat.yaml')])).code).toBe(0);
    await waitFor('catter to run', async () => {
      const p = await c.client.get(pods, 'default', 'catter');
      return p.status?.containerStatuses?.[0]?.state?.running;
    });
    const p = spawn('kubectl', ['--kubeconfig', c.kubeconfig, 'attach', '-i', 'catter'], { stdio: 'pipe' });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stdin.write('ping through cat\n');
    try {
      await waitFor('the echo', () => out.includes('ping through cat'), 30_000);
    } finally {
      p.kill('SIGKILL');
    }
    // Detaching left it running (stdinOnce is false: its stdin stays open for the next client).
    const pod = await c.client.get(pods, 'default', 'catter');
    expect(pod.status.containerStatuses[0].state.running).toBeTruthy();
    const s = spawn(NODE, [...MAIN_ARGS, '--kubeconfig', c.kubeconfig, 'attach', '-i', 'catter'], {
      stdio: 'pipe',
    });
    let strataOut = '';
    s.stdout.on('data', (d) => (strataOut += d));
    s.stdin.write('and through strata attach\n');
    try {
      await waitFor(
        'the echo to strata attach',
        () => strataOut.includes('and through strata attach'),
        30_000,
      );
    } finally {
      s.kill('SIGKILL');
    }
    await c.cli(['delete', 'pod', 'catter', '--grace-period', '0']);
  });

  it('kubectl run -i --rm: stdinOnce, the input’s end is the container’s EOF, kubectl exits with its code', async () => {
    const r = await c.kubectl(
      [
        'run',
        '-i',
        '--rm',
        'once',
        `--image=${busybox}`,
        '--restart=Never',
        '--',
        'sh',
        '-c',
        'cat; echo eof-seen; exit 6',
      ],
      { input: 'through kubectl\n', timeoutMs: 90_000 },
    );
    expect(r.stdout).toContain('through kubectl\neof-seen\n');
    expect(r.stderr).not.toContain('stdin: ignored'); // the container tier acts on stdin
    expect(r.code, r.stderr).toBe(6);
  });

  it('wasm through the same command: output and exit code', async () => {
    const hello = await c.cli(['run', '--rm', 'wasm', wasm('hello'), '--', 'world']);
    expect(hello.code, hello.stderr).toBe(0);
    expect(hello.stdout).toContain('world');
    const three = await c.cli(['run', '--rm', '-e', 'EXIT_CODE=3', 'wasm', wasm('hello')]);
    expect(three.code).toBe(3);
  });

  it('bad input names the flag and creates nothing', async () => {
    const before = (await c.client.list(pods, 'default')).items.length;
    const runtime = await c.cli(['run', 'docker', busybox]);
    expect(runtime.code).toBe(1);
    expect(runtime.stderr).toContain('runtime "docker": expected one of wasm, container, microvm');
    expect(runtime.stderr).toMatch(/nodes run: .*container/);
    const port = await c.cli(['run', '-p', '80', 'container', busybox]);
    expect(port.stderr).toContain('-p 80: give the host port too');
    const image = await c.cli(['run', '--rm', 'container', 'localhost/no-such-image:1.0']);
    expect(image.code).toBe(125);
    expect(image.stderr).toContain('cannot start: ErrImagePull');
    expect((await c.client.list(pods, 'default')).items.length).toBe(before);
  });
});
