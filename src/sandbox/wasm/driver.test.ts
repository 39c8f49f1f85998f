// The wasm driver against real modules built from test/fixtures/wasm and examples/wasm.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError, type Driver } from '../driver.ts';
import { WasmDriver } from './driver.ts';
import {
  buildFixtures,
  captureLog,
  example,
  eventually,
  fixture,
  openFdCount,
  sleep,
  spec,
  tempDir,
  type CapturedLog,
} from './test-support.ts';

let tmp: ReturnType<typeof tempDir>;
let driver: WasmDriver;

beforeAll(() => {
  buildFixtures();
  tmp = tempDir();
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache') });
});
afterAll(async () => {
  await driver.shutdown();
  tmp.remove();
});

/** Starts a sandbox and waits for it; returns its result and log. */
async function run(image: string, over: Parameters<typeof spec>[1] = {}, d: WasmDriver = driver) {
  const s = spec(image, over);
  await d.start(s);
  const result = await d.wait(s.id);
  await d.destroy(s.id);
  return { result, log: s.log as CapturedLog };
}

describe('WasmDriver basics', () => {
  it('fingerprints as a healthy wasm tier with honest capabilities', async () => {
    const fp = await driver.fingerprint();
    expect(fp).toMatchObject({ runtimeClass: 'wasm', healthy: true });
    expect(fp.attributes['wasm.wasi']).toBe('preview1');
    expect(driver.name).toBe('wasm');
    expect(driver.capabilities).toEqual({
      exec: false,
      survivesAgentRestart: false,
      gracefulStop: false,
      stats: true,
      memoryLimit: true,
      interactiveExec: false,
      podNetwork: false,
      artifacts: true,
      tierOptions: true,
    });
    expect((driver as Driver).exec).toBeUndefined();
  });

  it('runs hello: output, args, env, exit code 0 = Completed', async () => {
    const { result, log } = await run(example('hello'), {
      args: ['hello', 'one', 'two words'],
      env: { GREETING: 'hi there' },
    });
    expect(result).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
    expect(log.stdout()).toBe(
      'Hello from Strata wasm!\nargv[0] = hello\nargv[1] = one\nargv[2] = two words\nGREETING = hi there\n',
    );
  });

  it('reports a nonzero exit as Error with its code', async () => {
    const { result } = await run(example('hello'), { env: { EXIT_CODE: '7' } });
    expect(result).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect((await run(fixture('exit-code'), { args: ['exit-code', '42'] })).result.exitCode).toBe(42);
  });

  it('feeds stdin from a buffer and separates stdout from stderr', async () => {
    const input = 'first line\nsecond line\n'.repeat(1000);
    const { result, log } = await run(fixture('echo-stdin'), { stdin: new TextEncoder().encode(input) });
    expect(result.reason).toBe('Completed');
    expect(log.stdout()).toBe(input);
    expect(log.stderr()).toBe(`echoed ${input.length} bytes\n`);
    // Without stdin the guest reads end-of-file at once (never the agent's own stdin).
    const empty = await run(fixture('echo-stdin'));
    expect(empty.log.stdout()).toBe('');
    expect(empty.log.stderr()).toBe('echoed 0 bytes\n');
  });

  it('reports a trap as Error with the trap message', async () => {
    const { result, log } = await run(fixture('trap'));
    expect(result).toMatchObject({ exitCode: 134, reason: 'Error', message: 'wasm trap: unreachable' });
    expect(log.stdout()).toBe('about to trap\n');
  });

  it('delivers a large output completely and in order', async () => {
    const lines = 200_000;
    const { result, log } = await run(fixture('chatty'), { args: ['chatty', String(lines)] });
    expect(result.reason).toBe('Completed');
    const out = log.stdout().split('\n');
    expect(out.length).toBe(lines + 1);
    expect(out[0]).toBe('line 0');
    expect(out[lines - 1]).toBe(`line ${lines - 1}`);
    expect(out.every((l, i) => i === lines || l === `line ${i}`)).toBe(true);
    expect(log.stderr()).toBe(`wrote ${lines} lines\n`);
  });

  it('refuses proc_raise, which node:wasi implements as kill(getpid(), sig)', async () => {
    const { result, log } = await run(fixture('proc-raise'));
    expect(result.reason).toBe('Completed');
    expect(log.stdout()).toBe('proc_raise returned errno 52\n'); // ENOSYS, and this process is alive
  });

  it('rejects duplicate ids, unknown ids and unsupported fields clearly', async () => {
    const s = spec(fixture('sleeper'), { args: ['sleeper', '30'] });
    await driver.start(s);
    await expect(driver.start({ ...s })).rejects.toThrow(/already exists/);
    // A stop or wait issued while start() is still in progress applies once it has started.
    const racing = spec(fixture('sleeper'), { args: ['sleeper', '30'] });
    const started = driver.start(racing);
    await driver.stop(racing.id, 0);
    await started;
    expect((await driver.wait(racing.id)).reason).toBe('Killed');
    await driver.destroy(racing.id);
    await driver.stop(s.id, 0);
    await driver.destroy(s.id);
    await driver.destroy(s.id); // idempotent
    await expect(driver.wait('nope')).rejects.toMatchObject({ reason: 'NotFound' });
    await expect(driver.stats('nope')).rejects.toMatchObject({ reason: 'NotFound' });
    await expect(driver.start(spec(example('hello'), { workingDir: '/app' }))).rejects.toThrow(/workingDir/);
    await expect(driver.start(spec(example('hello'), { limits: { memoryBytes: 100 } }))).rejects.toThrow(
      /limits.memoryBytes/,
    );
    expect(await driver.recover({ id: 'x', driver: 'wasm', state: {} }, captureLog())).toBe(false);
  });
});

describe('module source and cache', () => {
  it('verifies imageDigest', async () => {
    const bytes = readFileSync(example('hello'));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    expect((await run(example('hello'), { imageDigest: digest })).result.reason).toBe('Completed');
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = await driver.start(spec(example('hello'), { imageDigest: wrong })).catch((e) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.reason).toBe('InvalidImageDigest');
    expect(err.message).toContain(digest);
    await expect(driver.start(spec(example('hello'), { imageDigest: 'md5:abc' }))).rejects.toMatchObject({
      reason: 'InvalidImageDigest',
    });
  });

  it('fails clearly for a missing file, a non-wasm file and a module it cannot run', async () => {
    await expect(driver.start(spec(join(tmp.path, 'missing.wasm')))).rejects.toMatchObject({
      reason: 'ErrImagePull',
      message: expect.stringContaining('not found'),
    });
    const text = join(tmp.path, 'script.wasm');
    writeFileSync(text, '#!/bin/sh\necho hi\n');
    await expect(driver.start(spec(text))).rejects.toMatchObject({
      reason: 'CreateContainerError',
      message: expect.stringContaining('not a WebAssembly module'),
    });
    // A module that imports something other than WASI: (import "env" "f" (func)) plus a memory.
    const envImport = Uint8Array.of(
      0,
      0x61,
      0x73,
      0x6d,
      1,
      0,
      0,
      0,
      1,
      4,
      1,
      0x60,
      0,
      0,
      2,
      9,
      1,
      3,
      0x65,
      0x6e,
      0x76,
      1,
      0x66,
      0,
      0,
      5,
      3,
      1,
      0,
      1,
    );
    const bad = join(tmp.path, 'env.wasm');
    writeFileSync(bad, envImport);
    await expect(driver.start(spec(bad))).rejects.toThrow(/imports function env\.f/);
    await expect(driver.start(spec('oci://registry/thing'))).rejects.toMatchObject({
      reason: 'ErrImagePull',
    });
  });

  it('compiles a module once: a second start of the same module and cap is a cache hit', async () => {
    // The cache is content-addressed: make a module no other test has run (a unique custom section).
    const copy = join(tmp.path, 'exit-code-copy.wasm');
    const tag = new TextEncoder().encode(`strata-test-${Date.now()}-${Math.random()}`);
    writeFileSync(
      copy,
      Buffer.concat([readFileSync(fixture('exit-code')), Uint8Array.of(0, tag.length + 1, tag.length), tag]),
    );
    const before = driver.cache.compiles;
    await run(copy);
    expect(driver.cache.compiles).toBe(before + 1);
    await run(copy);
    await run(copy, { id: 'cache-hit-3' });
    expect(driver.cache.compiles).toBe(before + 1);
    // A different memory cap is a different compiled module.
    await run(copy, { limits: { memoryBytes: 32 << 20 } });
    expect(driver.cache.compiles).toBe(before + 2);
  });

  it('keeps working when a warm worker has seen more modules than it keeps', async () => {
    const d = new WasmDriver({ cacheDir: join(tmp.path, 'cache-many'), poolSize: 1 });
    try {
      const base = readFileSync(fixture('exit-code'));
      const paths = Array.from({ length: 20 }, (_, i) => {
        const p = join(tmp.path, `many-${i}.wasm`);
        const tag = new TextEncoder().encode(`many-${i}`);
        writeFileSync(p, Buffer.concat([base, Uint8Array.of(0, tag.length + 1, tag.length), tag]));
        return p;
      });
      for (const round of [0, 1]) {
        for (const [i, p] of paths.entries()) {
          const { result } = await run(p, { args: ['exit-code', String(i + round)] }, d);
          expect(result.exitCode).toBe(i + round);
        }
      }
    } finally {
      await d.shutdown();
    }
  });

  it('downloads a module over http(s) once into the cache', async () => {
    const { createServer } = await import('node:http');
    const body = readFileSync(example('hello'));
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      if (req.url === '/hello.wasm') res.writeHead(200, { 'content-type': 'application/wasm' }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const url = `http://127.0.0.1:${port}/hello.wasm`;
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      expect((await run(url, { imageDigest: digest })).log.stdout()).toContain('Hello from Strata wasm!');
      expect((await run(url)).result.reason).toBe('Completed');
      expect(requests).toBe(1);
      await expect(driver.start(spec(`http://127.0.0.1:${port}/missing.wasm`))).rejects.toMatchObject({
        reason: 'ErrImagePull',
        message: expect.stringContaining('HTTP 404'),
      });
      await expect(driver.start(spec('http://example.com/x.wasm'))).rejects.toThrow(/plain http/);
    } finally {
      server.close();
    }
  });
});

describe('filesystem confinement', () => {
  let root: string;
  let secret: string;
  const SECRET = 'TOP-SECRET-4f1c2e';

  beforeAll(() => {
    root = join(tmp.path, 'fs');
    mkdirSync(join(root, 'outside'), { recursive: true });
    secret = join(root, 'outside', 'secret.txt');
    writeFileSync(secret, SECRET);
  });

  function volume(name: string, files: Record<string, string> = {}): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
    return dir;
  }

  it('a read-only (configMap-like) mount is readable and not writable', async () => {
    const cfg = volume('config', { 'app.conf': 'port=8080\n' });
    const { result, log } = await run(fixture('fs-tool'), {
      mounts: [{ hostPath: cfg, guestPath: '/config', readOnly: true }],
      args: [
        'fs-tool',
        'ls',
        '/config',
        ',',
        'cat',
        '/config/app.conf',
        ',',
        'write',
        '/config/app.conf',
        'hacked',
        ',',
        'append',
        '/config/app.conf',
        'more',
        ',',
        'write',
        '/config/new',
        'x',
        ',',
        'mkdir',
        '/config/d',
        ',',
        'rm',
        '/config/app.conf',
        ',',
        'rename',
        '/config/app.conf',
        '/config/moved',
        ',',
        'touch',
        '/config/app.conf',
        ',',
        'truncate',
        '/config/app.conf',
      ],
    });
    const out = log.stdout();
    expect(out).toContain('ENTRY /config/app.conf');
    expect(out).toContain('CONTENT /config/app.conf: port=8080\n');
    for (const op of [
      'write /config/app.conf',
      'append /config/app.conf',
      'write /config/new',
      'mkdir /config/d',
      'rm /config/app.conf',
      'rename /config/app.conf',
      'touch /config/app.conf',
      'truncate /config/app.conf',
    ]) {
      expect(out).toContain(`ERR ${op}: Read-only file system`);
    }
    expect(result.exitCode).toBe(8);
    expect(readFileSync(join(cfg, 'app.conf'), 'utf8')).toBe('port=8080\n');
    expect(existsSync(join(cfg, 'new'))).toBe(false);
  });

  it('a hard link cannot carry a read-only file into a writable mount', async () => {
    const cfg = volume('config2', { key: 'v' });
    const scratch = volume('scratch2');
    const { log } = await run(fixture('fs-tool'), {
      mounts: [
        { hostPath: cfg, guestPath: '/config', readOnly: true },
        { hostPath: scratch, guestPath: '/scratch', readOnly: false },
      ],
      args: ['fs-tool', 'link', '/config/key', '/scratch/key', ',', 'write', '/scratch/key', 'changed'],
    });
    expect(log.stdout()).toContain('ERR link /scratch/key: Read-only file system');
    expect(readFileSync(join(cfg, 'key'), 'utf8')).toBe('v');
  });

  it('an emptyDir mount is writable', async () => {
    const dir = volume('empty');
    const { result, log } = await run(fixture('fs-tool'), {
      mounts: [{ hostPath: dir, guestPath: '/data', readOnly: false }],
      args: [
        'fs-tool',
        'write',
        '/data/a.txt',
        'hello',
        ',',
        'append',
        '/data/a.txt',
        ' world',
        ',',
        'cat',
        '/data/a.txt',
        ',',
        'mkdir',
        '/data/sub',
        ',',
        'rename',
        '/data/a.txt',
        '/data/sub/b.txt',
        ',',
        'touch',
        '/data/sub/b.txt',
        ',',
        'write',
        '/data/gone',
        'x',
        ',',
        'rm',
        '/data/gone',
        ',',
        'ls',
        '/data/sub',
      ],
    });
    expect(result).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(log.stdout()).toContain('CONTENT /data/a.txt: hello world\n');
    expect(log.stdout()).toContain('ENTRY /data/sub/b.txt');
    expect(readFileSync(join(dir, 'sub/b.txt'), 'utf8')).toBe('hello world');
    expect(existsSync(join(dir, 'gone'))).toBe(false);
  });

  it('refuses to start with a host symlink in a mount that points outside it', async () => {
    const dir = volume('with-link', { 'ok.txt': 'fine' });
    symlinkSync(join(root, 'outside'), join(dir, 'etc'));
    const s = spec(fixture('fs-tool'), {
      mounts: [{ hostPath: dir, guestPath: '/data', readOnly: true }],
      args: ['fs-tool', 'cat', '/data/etc/secret.txt'],
    });
    const err = await driver.start(s).catch((e) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.reason).toBe('CreateContainerError');
    expect(err.message).toMatch(/symlink .*\/etc points outside the volume/);
    expect((s.log as CapturedLog).stdout()).not.toContain(SECRET);
    // The refused sandbox left nothing behind.
    await expect(driver.wait(s.id)).rejects.toMatchObject({ reason: 'NotFound' });
  });

  it('a symlink placed by the host after start cannot expose a host file either', async () => {
    const dir = volume('late');
    const s = spec(fixture('fs-tool'), {
      mounts: [{ hostPath: dir, guestPath: '/data', readOnly: false }],
      args: ['fs-tool', 'sleep', '1', ',', 'cat', '/data/late/secret.txt', ',', 'cat', '/data/file-link'],
    });
    await driver.start(s);
    symlinkSync(join(root, 'outside'), join(dir, 'late'));
    symlinkSync(secret, join(dir, 'file-link'));
    const result = await driver.wait(s.id);
    const out = (s.log as CapturedLog).stdout();
    expect(out).not.toContain(SECRET);
    expect(out).toContain('ERR cat /data/late/secret.txt: Capabilities insufficient');
    expect(out).toContain('ERR cat /data/file-link: Capabilities insufficient');
    expect(result.exitCode).toBe(2);
  });

  it('no escape: .., absolute paths, guest-made symlinks and hard links all fail', async () => {
    const dir = volume('escape');
    const { result, log } = await run(fixture('fs-escape'), {
      mounts: [{ hostPath: dir, guestPath: '/data', readOnly: false }],
      args: ['fs-escape', '/data', secret, 'secret.txt'],
    });
    const out = log.stdout();
    expect(result.reason).toBe('Completed');
    expect(out).toContain('done\n');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain('LEAK');
    expect(out).toContain('DENIED symlink create (absolute): Operation not permitted');
    expect(out).toContain('DENIED symlink create (relative): Operation not permitted');
    expect(out).toMatch(/DENIED hard link: /);
    expect(out.match(/^DENIED /gm)?.length).toBe(10);
  });

  it('refuses to open a FIFO, which would block the worker in open(2)', async () => {
    const dir = volume('fifo');
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const { log } = await run(fixture('fs-tool'), {
      mounts: [{ hostPath: dir, guestPath: '/data', readOnly: false }],
      args: ['fs-tool', 'cat', '/data/pipe'],
    });
    expect(log.stdout()).toBe('ERR cat /data/pipe: Not supported\n');
  });

  it('does not leak host descriptors across runs (node:wasi never closes them itself)', async () => {
    const dir = volume('fds', { 'f.txt': 'x' });
    const other = volume('fds2');
    const mounts = [
      { hostPath: dir, guestPath: '/data', readOnly: true },
      { hostPath: other, guestPath: '/other', readOnly: false },
    ];
    // Guests that leave a file open (fs-tool's ls/cat close theirs, the exit does not close preopens).
    await run(fixture('fs-tool'), { mounts, args: ['fs-tool', 'cat', '/data/f.txt'] });
    const before = openFdCount();
    for (let i = 0; i < 200; i++)
      await run(fixture('fs-tool'), {
        mounts,
        args: ['fs-tool', 'ls', '/data', ',', 'write', '/other/x', 'y'],
      });
    expect(openFdCount() - before).toBeLessThan(5);
  });
});

describe('limits and stopping', () => {
  it('memory hog over a 16 MiB limit is OOMKilled', async () => {
    const { result, log } = await run(fixture('memory-hog'), { limits: { memoryBytes: 16 * 1024 * 1024 } });
    expect(log.stdout()).toMatch(/^malloc failed after 1[0-5] MiB\n$/);
    expect(result).toMatchObject({ reason: 'OOMKilled', exitCode: 1 });
    expect(result.message).toMatch(/^linear memory reached its 16 MiB limit/);
    const trap = await run(fixture('memory-hog'), {
      args: ['memory-hog', '--abort'],
      limits: { memoryBytes: 16 * 1024 * 1024 },
    });
    expect(trap.result).toMatchObject({ reason: 'OOMKilled', exitCode: 134 });
    expect(trap.result.message).toContain('wasm trap: unreachable');
  });

  it('refuses a module that needs more memory at start than its limit', async () => {
    // Every fixture reserves a 1 MiB stack in linear memory.
    await expect(
      driver.start(spec(example('hello'), { limits: { memoryBytes: 512 * 1024 } })),
    ).rejects.toMatchObject({
      reason: 'CreateContainerError',
      message: expect.stringMatching(
        /needs 1\.\d MiB of linear memory at start, more than its memory limit of 512 KiB/,
      ),
    });
  });

  it('a guest asleep in poll_oneoff stops within the grace period', async () => {
    const s = spec(fixture('sleeper'));
    await driver.start(s);
    await eventually(() => (s.log as CapturedLog).stdout().includes('sleeping'));
    const t0 = Date.now();
    await driver.stop(s.id, 1);
    expect(Date.now() - t0).toBeLessThan(1500);
    const result = await driver.wait(s.id);
    expect(result).toMatchObject({ reason: 'Killed', exitCode: 143, signal: 'SIGTERM' });
    await driver.destroy(s.id);
  });

  it('a spinning guest is killed by stop, and the driver keeps working', async () => {
    const s = spec(fixture('spinner'));
    await driver.start(s);
    await eventually(() => (s.log as CapturedLog).stdout().includes('spinning'));
    const st = await driver.stats(s.id);
    expect(st.memoryBytes).toBeGreaterThan(0);
    const terminatedBefore = driver.terminatedWorkers;
    await driver.stop(s.id, 0.2);
    const result = await driver.wait(s.id);
    expect(result).toMatchObject({ reason: 'Killed', exitCode: 137, signal: 'SIGKILL' });
    // It was interrupted in place (inspector), not by terminating the worker thread.
    expect(driver.terminatedWorkers).toBe(terminatedBefore);
    // It computed until the stop: its CPU time was counted (how much depends on the machine's load).
    expect((await driver.stats(s.id)).cpuNanos).toBeGreaterThan(0);
    await driver.destroy(s.id);
    expect((await run(example('hello'))).result.reason).toBe('Completed');
  });

  it("a forced kill releases the guest's host descriptors too", async () => {
    const dir = join(tmp.path, 'kill-fds');
    mkdirSync(dir, { recursive: true });
    const mounts = [{ hostPath: dir, guestPath: '/data', readOnly: false }];
    await run(example('hello'), { mounts });
    const before = openFdCount();
    for (let i = 0; i < 5; i++) {
      const s = spec(fixture('spinner'), { mounts });
      await driver.start(s);
      await eventually(() => (s.log as CapturedLog).stdout().includes('spinning'));
      await driver.stop(s.id, 0);
      await driver.destroy(s.id);
    }
    expect(openFdCount() - before).toBeLessThan(3);
  });

  it('deadlineSeconds ends sleeping and spinning guests with DeadlineExceeded', async () => {
    const t0 = Date.now();
    const sleeping = await run(fixture('sleeper'), { limits: { deadlineSeconds: 0.3 } });
    expect(sleeping.result).toMatchObject({ reason: 'DeadlineExceeded', exitCode: 143 });
    expect(sleeping.result.message).toContain('deadline of 0.3s');
    const spinning = await run(fixture('spinner'), { limits: { deadlineSeconds: 0.3 } });
    expect(spinning.result).toMatchObject({ reason: 'DeadlineExceeded', exitCode: 137 });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('the ticker example logs every second until stopped', async () => {
    const s = spec(example('ticker'));
    await driver.start(s);
    const log = s.log as CapturedLog;
    await eventually(() => log.stdout().includes('tick 2 '), 4000);
    expect(log.stdout()).toMatch(/^tick 1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\ntick 2 /);
    const st = await driver.stats(s.id);
    expect(st.memoryBytes).toBeGreaterThanOrEqual(1024 * 1024);
    await driver.stop(s.id, 5);
    expect((await driver.wait(s.id)).reason).toBe('Killed');
    await driver.destroy(s.id);
  });

  it('limits.cpu below one core throttles a guest that calls the host', async () => {
    const wallSeconds = 1.5;
    const s = spec(fixture('busy-io'), { args: ['busy-io', String(wallSeconds)], limits: { cpu: 0.25 } });
    await driver.start(s);
    const result = await driver.wait(s.id);
    const { cpuNanos } = await driver.stats(s.id);
    await driver.destroy(s.id);
    expect(result.reason).toBe('Completed');
    const share = cpuNanos / 1e9 / wallSeconds;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.45);
  });

  it('refuses to run more sandboxes than maxSandboxes, or more threads than maxWorkers', async () => {
    const small = new WasmDriver({ cacheDir: join(tmp.path, 'cache-small'), maxSandboxes: 2 });
    try {
      const a = spec(fixture('sleeper'));
      const b = spec(fixture('sleeper'));
      await small.start(a);
      await small.start(b);
      expect((await small.fingerprint()).attributes['wasm.maxSandboxes']).toBe('2');
      await expect(small.start(spec(fixture('sleeper')))).rejects.toThrow(
        /all 2 wasm sandboxes of this node are in use/,
      );
      await small.stop(a.id, 0);
      expect((await run(example('hello'), {}, small)).result.reason).toBe('Completed');
    } finally {
      await small.shutdown();
    }
    // A thread per guest (the earlier design): the threads are the limit.
    const threads = new WasmDriver({
      cacheDir: join(tmp.path, 'cache-threads'),
      maxWorkers: 1,
      maxSandboxes: 10,
      poolSize: 1,
      guestsPerWorker: 1,
    });
    try {
      const a = spec(fixture('sleeper'));
      await threads.start(a);
      await expect(threads.start(spec(fixture('sleeper')))).rejects.toThrow(
        /all 1 wasm sandbox workers are in use/,
      );
      await threads.stop(a.id, 0);
      expect((await run(example('hello'), {}, threads)).result.reason).toBe('Completed');
    } finally {
      await threads.shutdown();
    }
  });

  it('refuses a start that would pass the open-file budget, naming RLIMIT_NOFILE; a stop frees it', async () => {
    const fdDriver = new WasmDriver({ cacheDir: join(tmp.path, 'cache-fds'), fdBudget: 2 });
    const vol = join(tmp.path, 'fd-volume');
    mkdirSync(vol, { recursive: true });
    const withVolume = () =>
      spec(fixture('sleeper'), { mounts: [{ hostPath: vol, guestPath: '/data', readOnly: true }] });
    try {
      const a = withVolume();
      await fdDriver.start(a);
      await fdDriver.start(withVolume());
      expect((await fdDriver.fingerprint()).attributes['wasm.openFileLimit']).toMatch(/^(\d+|Infinity)$/);
      const refused = await fdDriver.start(withVolume()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(SandboxError);
      expect((refused as SandboxError).reason).toBe('CreateContainerError');
      expect((refused as Error).message).toMatch(/hold 2 of the 2 open files .*RLIMIT_NOFILE.*needs 1/);
      // A pod without volumes holds no descriptor: still admitted.
      const bare = spec(fixture('sleeper'));
      await fdDriver.start(bare);
      await fdDriver.stop(bare.id, 0);
      await fdDriver.stop(a.id, 0);
      await fdDriver.wait(a.id);
      const c = withVolume();
      await fdDriver.start(c);
      await fdDriver.stop(c.id, 0);
    } finally {
      await fdDriver.shutdown();
    }
  });

  it('shutdown ends running sandboxes', async () => {
    const d = new WasmDriver({ cacheDir: join(tmp.path, 'cache-shutdown') });
    const a = spec(fixture('sleeper'));
    const b = spec(fixture('spinner'));
    await d.start(a);
    await d.start(b);
    await sleep(50);
    await d.shutdown();
    expect((await d.wait(a.id)).reason).toBe('Killed');
    expect((await d.wait(b.id)).reason).toBe('Killed');
    await expect(d.start(spec(example('hello')))).rejects.toThrow(/shut down/);
  });

  it('a shutdown racing a start settles both', async () => {
    const d = new WasmDriver({ cacheDir: join(tmp.path, 'cache-race') });
    const s = spec(fixture('spinner'));
    const started = d.start(s).then(
      () => 'started',
      (e: Error) => e.message,
    );
    await sleep(5);
    await d.shutdown();
    expect(await started).toMatch(/started|shut down/);
  });
});
