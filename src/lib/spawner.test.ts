// The command runner's helper process: commands run from it (not from this process), with execFile's
// semantics — stdout back, a failure's exit code and stderr, a missing tool's ENOENT, stdin input, a
// working directory, a timeout — many at once, and a helper that dies fails what it was running with a
// clear error and is replaced for the next command. STRATA_SPAWNER=inline runs them here instead.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandError, run } from './command.ts';
import { spawnCommand } from './spawner.ts';

const parentOf = async () => Number((await run('sh', ['-c', 'echo $PPID'])).trim());

describe('run() through the helper process', () => {
  afterEach(() => {
    delete process.env.STRATA_SPAWNER;
  });

  it('runs commands from a helper, not from this process, and returns their stdout', async () => {
    const helper = await parentOf();
    expect(helper).not.toBe(process.pid);
    expect(helper).toBeGreaterThan(1);
    // One helper for every command.
    expect(await parentOf()).toBe(helper);
    expect(await run('sh', ['-c', 'echo out; echo err >&2'])).toBe('out\n');
  });

  it("reports a failure with the tool's exit code and stderr", async () => {
    const err = await run('sh', ['-c', 'echo nope >&2; exit 3']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).code).toBe(3);
    expect((err as CommandError).stderr).toBe('nope\n');
    expect((err as CommandError).message).toBe('sh -c echo nope >&2; exit 3: nope');
  });

  it('names a missing tool (ENOENT), writes input to stdin, runs in the directory asked for', async () => {
    const missing = await run('strata-no-such-tool', ['x']).catch((e: unknown) => e);
    expect((missing as CommandError).errno).toBe('ENOENT');
    expect((missing as CommandError).code).toBeNull();
    expect(await run('cat', [], { input: 'from stdin\n' })).toBe('from stdin\n');
    const dir = mkdtempSync(join(tmpdir(), 'strata-spawner-'));
    try {
      expect((await run('pwd', [], { cwd: dir })).trim()).toBe(dir);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('kills a command past its timeout', async () => {
    const err = await run('sleep', ['30'], { timeoutMs: 200 }).catch((e: unknown) => e);
    // Killed (no exit code), well before the 30 s it would take: the test's own timeout is 5 s.
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).code).toBeNull();
    expect((err as CommandError).message).toMatch(/sleep 30: Command failed/);
  });

  it('keeps many commands apart', async () => {
    const outs = await Promise.all(
      Array.from({ length: 30 }, (_, i) => run('sh', ['-c', `sleep 0.0$((${i} % 5)); echo ${i}`])),
    );
    expect(outs).toEqual(Array.from({ length: 30 }, (_, i) => `${i}\n`));
  });

  it('fails what a dead helper was running, and the next command gets a new helper', async () => {
    const helper = await parentOf();
    const running = run('sleep', ['10']).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    process.kill(helper, 'SIGKILL');
    const err = (await running) as Error;
    expect(err.message).toMatch(/^\S*sleep 10: the command runner exited \(SIGKILL\) before it answered$/);
    const next = await parentOf();
    expect(next).not.toBe(helper);
    expect(next).not.toBe(process.pid);
  });

  it('STRATA_SPAWNER=inline runs commands from this process', async () => {
    process.env.STRATA_SPAWNER = 'inline';
    expect(await parentOf()).toBe(process.pid);
  });
});

describe("a daemon's handshake through the helper (conmon's _OCI_SYNCPIPE)", () => {
  afterEach(() => {
    delete process.env.STRATA_SPAWNER;
  });

  for (const mode of ['helper', 'inline'] as const) {
    it(`${mode}: answers with the first line written on fd 3, without waiting for the command`, async () => {
      if (mode === 'inline') process.env.STRATA_SPAWNER = 'inline';
      const dir = mkdtempSync(join(tmpdir(), 'strata-handshake-'));
      try {
        const reply = await spawnCommand({
          file: 'sh',
          // Reports, then goes on for longer than any test: the reply must not wait for it.
          args: [
            '-c',
            'echo "{\\"data\\": $$, \\"where\\": \\"$(pwd)\\", \\"var\\": \\"$HANDSHAKE_VAR\\"}" >&3; echo later >&3; exec sleep 600',
          ],
          cwd: dir,
          handshake: { env: { HANDSHAKE_VAR: 'set' } },
          timeoutMs: 30_000,
          maxBuffer: 1024,
        });
        expect(reply.ok).toBe(true);
        const msg = JSON.parse(reply.stdout) as { data: number; where: string; var: string };
        expect(msg).toMatchObject({ where: dir, var: 'set' });
        // Still running, in a session of its own.
        expect(() => process.kill(msg.data, 0)).not.toThrow();
        const sid = Number(readFileSync(`/proc/${msg.data}/stat`, 'utf8').split(') ')[1].split(' ')[3]);
        expect(sid).toBe(msg.data);
        process.kill(msg.data, 'SIGKILL');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('fails with what the command printed when it exits without reporting', async () => {
    const reply = await spawnCommand({
      file: 'sh',
      args: ['-c', 'echo "bad argument" >&2; exit 1'],
      handshake: { env: {} },
      timeoutMs: 30_000,
      maxBuffer: 1024,
    });
    expect(reply).toMatchObject({ ok: false, stdout: '', stderr: 'bad argument\n' });
    expect(reply.message).toBe('sh exited without reporting');
  });
});
