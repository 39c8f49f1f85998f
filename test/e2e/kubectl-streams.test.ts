// End to end with the real kubectl over HTTPS: exec (exit codes, stdin, a terminal of the right size),
// cp (tar over exec, both ways), port-forward (WebSocket tunnel and SPDY), logs with kubectl's flags,
// attach, and clear refusals for a wasm pod — real bytes through real containers (busybox httpd).
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, ROOT, waitFor, missingTools } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  return missingTools(['kubectl', 'runc', 'conmon', 'iptables', 'script'], 'the container tier needs root');
}

const why = missing();
if (why) console.warn(`skipping kubectl streaming e2e tests: ${why}`);

let c: Cluster;

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** kubectl with byte-exact stdin and stdout; `untilMs` stops a command that would run on (SIGINT). */
function kubectl(args: string[], o: { input?: Buffer; env?: Record<string, string>; untilMs?: number } = {}) {
  return new Promise<Run>((resolve, reject) => {
    const p = spawn('kubectl', ['--kubeconfig', c.kubeconfig, ...args], {
      env: { ...process.env, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d) => (stderr += d));
    const stop = o.untilMs ? setTimeout(() => p.kill('SIGINT'), o.untilMs) : undefined;
    const kill = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(stop);
      clearTimeout(kill);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    p.stdin.end(o.input ?? Buffer.alloc(0));
  });
}

/** kubectl inside a terminal of the given size (util-linux script), for -t. */
function kubectlInTerminal(args: string[], cols: number, rows: number, input = ''): Promise<string> {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const line = ['kubectl', '--kubeconfig', c.kubeconfig, ...args].map(q).join(' ');
  return new Promise((resolve) => {
    const p = spawn(
      'script',
      ['-q', '-e', '-c', `stty cols ${cols} rows ${rows}; ${line}; echo "rc=$?"`, '/dev/null'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', () => resolve(out.replaceAll('\r', '')));
    // Keep the terminal's input open until the command is done (an EOF would reach the command).
    if (input) setTimeout(() => p.stdin.write(input), 1500);
    setTimeout(() => p.stdin.end(), 6000);
  });
}

function md5(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

/** Starts `kubectl port-forward`, returns the local port once it forwards. */
async function portForward(target: string, env: Record<string, string> = {}) {
  const p = spawn('kubectl', ['--kubeconfig', c.kubeconfig, 'port-forward', target, ':8080'], {
    env: { ...process.env, ...env },
  });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const port = await waitFor('port-forward to listen', () => {
    if (p.exitCode !== null) throw new Error(`kubectl port-forward exited: ${out}`);
    const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out);
    return m ? Number(m[1]) : undefined;
  });
  return { port, stop: () => p.kill('SIGINT'), output: () => out };
}

describe.skipIf(!!why)('kubectl streaming subresources end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages(['httpd', 'busybox'], { root: join(c.dir, 'data', 'agent', 'images') });
    const file = join(c.dir, 'pods.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: web }
spec:
  runtimeClassName: container
  containers:
    - name: httpd
      image: localhost/httpd:1.0
      ports: [{ containerPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: ticker }
spec:
  runtimeClassName: container
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo "tick $i"; echo "warn $i" >&2; sleep 0.5; done']
---
apiVersion: v1
kind: Pod
metadata: { name: module }
spec:
  runtimeClassName: wasm
  containers:
    - name: ticker
      image: ${join(ROOT, 'build/wasm/ticker.wasm')}
`,
    );
    const applied = await c.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    for (const name of ['web', 'ticker', 'module']) {
      await waitFor(`${name} running`, async () => {
        const p = await c.client.get(pods, 'default', name);
        return p.status?.phase === 'Running' ? p : undefined;
      });
    }
  });

  afterAll(async () => {
    await c?.stop();
  });

  describe('exec', () => {
    it('returns the command’s exit code, stdout and stderr apart', async () => {
      const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(r.code).toBe(3);
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr).toContain('err\n');
      expect(r.stderr).toContain('command terminated with exit code 3');
      expect((await kubectl(['exec', 'web', '--', 'true'])).code).toBe(0);
    });

    it('-i streams stdin byte for byte (1 MiB of random bytes through cat)', async () => {
      const data = randomBytes(1024 * 1024);
      const r = await kubectl(['exec', '-i', 'ticker', '--', 'cat'], { input: data });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(data.length);
      expect(md5(r.stdout)).toBe(md5(data));
    });

    it('-it runs in a terminal of the local terminal’s size, and a shell reads what is typed', async () => {
      const sized = await kubectlInTerminal(
        ['exec', '-it', 'web', '--', 'sh', '-c', 'stty size; tty; exit 6'],
        123,
        45,
      );
      expect(sized).toMatch(/45 123\n\/dev\/pts\/\d+\n/);
      expect(sized).toContain('rc=6');
      const shell = await kubectlInTerminal(
        ['exec', '-it', 'ticker', '--', 'sh'],
        80,
        24,
        'echo "in-$((6*7))"\rexit 4\r',
      );
      expect(shell).toContain('in-42');
      expect(shell).toContain('rc=4');
    });

    it('falls back to SPDY when WebSockets are off, same results', async () => {
      const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };
      const r = await kubectl(['exec', '-i', 'web', '--', 'sh', '-c', 'cat; exit 5'], {
        input: Buffer.from('spdy\n'),
        env,
      });
      expect(r.stdout.toString()).toBe('spdy\n');
      expect(r.code).toBe(5);
    });

    it('names the container that does not exist and the tier that cannot exec', async () => {
      const bad = await kubectl(['exec', 'web', '-c', 'nope', '--', 'true']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('container nope is not valid for pod web');
      const wasm = await kubectl(['exec', 'module', '--', 'ls']);
      expect(wasm.code).toBe(1);
      expect(wasm.stderr).toMatch(/BadRequest.*not supported by the wasm tier/);
    });
  });

  it('cp copies files into the pod and back unchanged (tar over exec)', async () => {
    const data = randomBytes(300 * 1024);
    const local = join(c.dir, 'blob');
    writeFileSync(local, data);
    const up = await kubectl(['cp', local, 'web:/tmp/blob']);
    expect(up.code, up.stderr).toBe(0);
    const sum = await kubectl(['exec', 'web', '--', 'md5sum', '/tmp/blob']);
    expect(sum.stdout.toString().split(' ')[0]).toBe(md5(data));
    const back = join(c.dir, 'blob.back');
    const down = await kubectl(['cp', 'web:/tmp/blob', back]);
    expect(down.code, down.stderr).toBe(0);
    expect(md5(readFileSync(back))).toBe(md5(data));
  });

  describe('port-forward', () => {
    for (const [transport, env] of [
      ['the WebSocket tunnel', {}],
      ['SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false)', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
    ] as const) {
      it(`reaches the pod's port over ${transport}, connection after connection`, async () => {
        const pf = await portForward('pod/web', env);
        try {
          for (let i = 0; i < 3; i++) {
            const res = await fetch(`http://127.0.0.1:${pf.port}/`);
            expect(await res.text()).toContain('hello from strata httpd');
          }
          // Raw bytes too: an HTTP request written by hand, the answer read to the end.
          const raw = await new Promise<string>((resolve, reject) => {
            const s = connect(pf.port, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\n\r\n'));
            let got = '';
            s.on('data', (d) => (got += d));
            s.on('end', () => resolve(got));
            s.on('error', reject);
          });
          expect(raw).toMatch(/^HTTP\/1\.[01] 200/);
        } finally {
          pf.stop();
        }
        expect(pf.output()).toContain('Handling connection for');
      });
    }

    it('reports a wasm pod’s missing network on the error stream', async () => {
      const pf = await portForward('pod/module');
      try {
        await fetch(`http://127.0.0.1:${pf.port}/`).catch(() => undefined);
        await waitFor('the error', () => /no IP address to forward to/.test(pf.output()), 10_000);
      } finally {
        pf.stop();
      }
      expect(pf.output()).toContain('runtimeClassName wasm');
    });
  });

  describe('logs', () => {
    it('--tail, --timestamps, --since and --limit-bytes', async () => {
      await waitFor('a few ticks', async () =>
        (await kubectl(['logs', 'ticker'])).stdout.toString().includes('tick 4'),
      );
      const tail = (await kubectl(['logs', 'ticker', '--tail=2'])).stdout.toString().trim().split('\n');
      expect(tail).toHaveLength(2);
      const ts = (await kubectl(['logs', 'ticker', '--timestamps', '--tail=1'])).stdout.toString();
      expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (tick|warn) \d+\n$/);
      const since = (await kubectl(['logs', 'ticker', '--since=2s'])).stdout.toString().trim().split('\n');
      const all = (await kubectl(['logs', 'ticker'])).stdout.toString().trim().split('\n');
      expect(since.length).toBeGreaterThan(0);
      expect(since.length).toBeLessThan(all.length);
      expect((await kubectl(['logs', 'ticker', '--limit-bytes=6'])).stdout.toString()).toBe('tick 1');
    });

    it('-f follows a running container until it ends; errors are kube-apiserver’s', async () => {
      const file = join(c.dir, 'short.yaml');
      writeFileSync(
        file,
        `apiVersion: v1
kind: Pod
metadata: { name: short }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'sleep 1; for i in 1 2 3; do echo "line $i"; sleep 1; done; exit 2']
`,
      );
      expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
      await waitFor('short running', async () => {
        const p = await c.client.get(pods, 'default', 'short');
        return p.status?.phase === 'Running';
      });
      const started = Date.now();
      const r = await kubectl(['logs', '-f', 'short']);
      expect(Date.now() - started).toBeGreaterThan(1500);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('line 1\nline 2\nline 3\n');
      const previous = await kubectl(['logs', 'short', '--previous']);
      expect(previous.stderr).toContain('previous terminated container "main" in pod "short" not found');
      const nope = await kubectl(['logs', 'ticker', '-c', 'nope']);
      expect(nope.stderr).toContain('container nope is not valid for pod ticker');
    });
  });

  describe('attach', () => {
    it('follows the main process’s output from now on, stdout and stderr apart', async () => {
      const r = await kubectl(['attach', 'ticker'], { untilMs: 3000 });
      const out = r.stdout.toString();
      expect(out).toMatch(/tick \d+\n/);
      expect(out).not.toContain('tick 1\n');
      expect(r.stderr).toMatch(/warn \d+\n/);
    });

    it('works over SPDY too (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false)', async () => {
      const r = await kubectl(['attach', 'ticker'], {
        untilMs: 3000,
        env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' },
      });
      expect(r.stdout.toString()).toMatch(/tick \d+\n/);
      expect(r.stderr).toMatch(/warn \d+\n/);
    });

    it('-i says why stdin cannot be attached', async () => {
      const r = await kubectl(['attach', '-i', 'ticker']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('without an open stdin');
    });
  });
});
