// Runs a battery program twice over: through Strata's wasm tier (the driver, as a pod would) and through
// raw node:wasi (the reference point the host layer corrects). Each gets a fresh writable volume at
// /data, an empty stdin, and the same arguments and environment (ARGS, ENV: the env program checks
// them); the program's `key=value` lines become a map. A program that renumbers a file onto its stdout
// goes on printing into /data/stdout-redirect: those lines are read back as `redirected.<key>`.

import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { WasmDriver } from '../../src/sandbox/wasm/driver.ts';
import { Wasm, type ImportObject } from '../../src/sandbox/wasm/webassembly.ts';
import { spec, tempDir, type CapturedLog } from '../../src/sandbox/wasm/test-support.ts';

export type Observations = Map<string, string>;

/** argv and the environment every program gets (both runs): spaces, an empty one, non-ASCII. */
export const ARGS = ['conformance', 'a b', '', 'ünï'];
export const ENV: Record<string, string> = { STRATA_CONF: 'yes', EMPTY: '' };

/** The observations the program printed after pointing its stdout at `<volume>/stdout-redirect`. */
function redirected(volume: string, obs: Observations): Observations {
  let text: string;
  try {
    text = readFileSync(join(volume, 'stdout-redirect'), 'utf8');
  } catch {
    return obs;
  }
  for (const [k, v] of parse(text)) obs.set(`redirected.${k}`, v);
  return obs;
}

export function parse(stdout: string): Observations {
  const out: Observations = new Map();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

export async function runOnStrata(
  driver: WasmDriver,
  module: string,
): Promise<{ obs: Observations; exit: string }> {
  const vol = tempDir('strata-wasi-conf-');
  try {
    const s = spec(module, {
      args: ARGS,
      env: ENV,
      mounts: [{ hostPath: vol.path, guestPath: '/data', readOnly: false }],
    });
    await driver.start(s);
    const result = await driver.wait(s.id);
    await driver.destroy(s.id);
    const log = s.log as CapturedLog;
    return {
      obs: redirected(vol.path, parse(log.stdout())),
      exit: `${result.reason}:${result.exitCode}${log.stderr() ? ` ${log.stderr()}` : ''}`,
    };
  } finally {
    vol.remove();
  }
}

/** Raw node:wasi in this process: stdin an empty file, stdout a file, the volume preopened at /data. */
export async function runOnNodeWasi(module: string): Promise<{ obs: Observations; exit: string }> {
  const vol = tempDir('strata-wasi-raw-');
  const io = tempDir('strata-wasi-raw-io-');
  const stdin = openSync(join(io.path, 'stdin'), 'w+');
  const stdoutPath = join(io.path, 'stdout');
  const stdout = openSync(stdoutPath, 'w+');
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: ARGS,
      env: ENV,
      preopens: { '/data': vol.path },
      stdin,
      stdout,
      stderr: stdout,
      returnOnExit: true,
    });
    const mod = await Wasm.compile(readFileSync(module));
    const instance = new Wasm.Instance(mod, wasi.getImportObject() as ImportObject);
    let exit: string;
    try {
      exit = `exit:${wasi.start(instance as Parameters<WASI['start']>[0])}`;
    } catch (err) {
      exit = `trap: ${(err as Error).message}`;
    }
    return { obs: redirected(vol.path, parse(readFileSync(stdoutPath, 'utf8'))), exit };
  } finally {
    // The guest may have closed or renumbered them (through node:wasi, which closes the host fd).
    for (const fd of [stdin, stdout]) {
      try {
        closeSync(fd);
      } catch {
        // already closed by the guest
      }
    }
    vol.remove();
    io.remove();
  }
}
