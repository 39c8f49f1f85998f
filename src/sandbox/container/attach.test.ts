// Attaching to a container's own stdio through conmon, against real runc, conmon and catatonit: input
// reaches the program, stdinOnce closes its stdin when the client detaches (else the next client finds it
// open), a terminal reports its size and follows resizes, its output still reaches the log, and a
// container without an open stdin refuses input. Needs root; skipped (with the reason) otherwise.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError, type AttachedStdio } from '../driver.ts';
import { ContainerDriver } from './driver.ts';
import {
  buildTestRootfs,
  captureLog,
  containerSpec,
  containersUnavailable,
  eventually,
  tempDir,
} from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const unavailable = containersUnavailable('runc');
if (unavailable) console.warn(`skipping container attach tests: ${unavailable}`);

/** Everything the session prints, as it comes. */
function collect(session: AttachedStdio): { text: () => string } {
  let out = '';
  session.stdout.on('data', (d: Buffer) => (out += d.toString()));
  session.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { text: () => out };
}

describe.skipIf(unavailable)('ContainerDriver attach (conmon attach socket)', () => {
  const cgroupParent = `strata-attach-test-${process.pid}`;
  const runDir = `/run/strata-attach-test-${process.pid}`;
  let tmp: ReturnType<typeof tempDir>;
  let driver: ContainerDriver;
  const started: string[] = [];

  beforeAll(() => {
    buildTestRootfs();
    tmp = tempDir('strata-attach-');
    driver = new ContainerDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      cgroupParent,
      runDir,
    });
  });
  afterAll(async () => {
    if (!driver) return;
    for (const id of started) await driver.destroy(id).catch(() => {});
    await driver.shutdown();
    tmp.remove();
  });

  async function start(args: string[], stdio: { stdin: boolean; stdinOnce: boolean; tty: boolean }) {
    const log = captureLog();
    const spec = containerSpec({ args, log, options: { stdio } });
    started.push(spec.id);
    await driver.start(spec);
    return { id: spec.id, log };
  }

  it('stdinOnce: input reaches the program; detaching closes its stdin (EOF)', async () => {
    const { id, log } = await start(['sh', '-c', 'while read l; do echo "got $l"; done; echo eof; exit 7'], {
      stdin: true,
      stdinOnce: true,
      tty: false,
    });
    const s = await driver.attach(id, { stdin: true });
    const out = collect(s);
    s.stdin!.write('one\n');
    await eventually(() => out.text().includes('got one\n'), 15_000);
    s.stdin!.end(); // the client's input ends: with stdinOnce the container reads EOF
    expect(await driver.wait(id)).toMatchObject({ exitCode: 7 });
    await s.closed;
    expect(out.text()).toBe('got one\neof\n');
    expect(log.stdout()).toBe('got one\neof\n');
  });

  it('without stdinOnce, stdin stays open for the next client', async () => {
    const { id } = await start(['sh', '-c', 'while read l; do echo "got $l"; done; echo eof'], {
      stdin: true,
      stdinOnce: false,
      tty: false,
    });
    const first = await driver.attach(id, { stdin: true });
    const firstOut = collect(first);
    first.stdin!.write('a\n');
    await eventually(() => firstOut.text().includes('got a'), 15_000);
    first.close();
    await first.closed;
    const second = await driver.attach(id, { stdin: true });
    const secondOut = collect(second);
    second.stdin!.write('b\n');
    await eventually(() => secondOut.text().includes('got b'), 15_000);
    second.close();
    await driver.stop(id, 1);
  });

  it('on a terminal: the client’s size and resizes apply, and the output still reaches the log', async () => {
    const { id, log } = await start(['sh'], { stdin: true, stdinOnce: true, tty: true });
    const s = await driver.attach(id, { stdin: true, cols: 100, rows: 30 });
    expect(s.stderr).toBeNull();
    const out = collect(s);
    s.stdin!.write('stty size; tty\n');
    await eventually(() => /30 100\r?\n[^]*\/dev\/pts\/\d+/.test(out.text()), 15_000);
    await s.resize(132, 43);
    s.stdin!.write('stty size\n');
    await eventually(() => /43 132\r?\n/.test(out.text()), 15_000);
    s.stdin!.write('exit 3\n');
    expect(await driver.wait(id)).toMatchObject({ exitCode: 3 });
    await eventually(() => log.stdout().includes('43 132'), 15_000);
  });

  it('refuses input to a container started without an open stdin', async () => {
    const { id } = await start(['sleep', '30'], { stdin: false, stdinOnce: false, tty: false });
    const err = await driver.attach(id, { stdin: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).reason).toBe('NotSupported');
    expect((err as Error).message).toContain('set stdin: true');
    await driver.stop(id, 0);
  });
});
