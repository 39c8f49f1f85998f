// The WASI preview-1 conformance battery: each program in programs/ runs through Strata's wasm tier
// (the driver, as a pod's container would) and, for the record, through raw node:wasi; every
// observation is compared with expected.ts. Divergences still open are listed in KNOWN and printed.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmDriver } from '../../src/sandbox/wasm/driver.ts';
import { buildDir, tempDir } from '../../src/sandbox/wasm/test-support.ts';
import { EXPECTED, KNOWN, type Expected } from './expected.ts';
import { runOnNodeWasi, runOnStrata, type Observations } from './runners.ts';

const here = new URL('.', import.meta.url).pathname;
const moduleOf = (program: string): string => join(buildDir, 'conformance', `${program}.wasm`);

function matches(want: string | readonly string[], got: string | undefined): boolean {
  return got !== undefined && (typeof want === 'string' ? got === want : want.includes(got));
}

interface Row {
  key: string;
  want: string;
  strata: string;
  node: string;
  ok: boolean;
}

function compare(program: string, expected: Expected, strata: Observations, node: Observations): Row[] {
  return Object.entries(expected).map(([key, want]) => ({
    key: `${program}.${key}`,
    want: typeof want === 'string' ? want : want.join('|'),
    strata: strata.get(key) ?? '(missing)',
    node: node.get(key) ?? '(missing)',
    ok: matches(want, strata.get(key)),
  }));
}

/** Programs raw node:wasi cannot run in this process, and why (printed). */
const RAW_NODE_SKIPPED: Record<string, string> = {
  poll: "uvwasi's poll_oneoff blocks the thread on a file descriptor subscription (the test would hang)",
  sock: 'uvwasi ends the whole process on these sock_* calls (the test runner dies)',
};

const rows: Row[] = [];
let tmp: ReturnType<typeof tempDir>;
let driver: WasmDriver;

// Compiling eight programs takes a while on a loaded machine (they are cached afterwards).
beforeAll(() => {
  execFileSync('bash', [join(here, 'build.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  tmp = tempDir();
  driver = new WasmDriver({ cacheDir: join(tmp.path, 'cache') });
}, 180_000);

afterAll(async () => {
  await driver.shutdown();
  tmp.remove();
  if (rows.length === 0) return;
  const nodeOk = rows.filter((r) =>
    matches(r.want.split('|'), r.node === '(missing)' ? undefined : r.node),
  ).length;
  const lines = [
    `WASI conformance: ${rows.length} behaviours, Strata passes ${rows.filter((r) => r.ok).length}, raw node:wasi ${nodeOk}`,
    ...rows
      .filter((r) => !r.ok || !matches(r.want.split('|'), r.node))
      .map(
        (r) =>
          `  ${r.ok ? 'ok  ' : 'DIFF'} ${r.key.padEnd(44)} want ${r.want.padEnd(16)} strata ${r.strata.padEnd(12)} node:wasi ${r.node}`,
      ),
  ];
  console.log(lines.join('\n'));
});

describe('WASI preview-1 conformance (Strata wasm tier vs the spec and wasmtime)', () => {
  for (const [program, expected] of Object.entries(EXPECTED)) {
    it(program, async () => {
      const strata = await runOnStrata(driver, moduleOf(program));
      const node = RAW_NODE_SKIPPED[program]
        ? { obs: new Map<string, string>(), exit: `not run: ${RAW_NODE_SKIPPED[program]}` }
        : await runOnNodeWasi(moduleOf(program)).catch((err: Error) => ({
            obs: new Map<string, string>(),
            exit: `failed: ${err.message}`,
          }));
      if (RAW_NODE_SKIPPED[program]) console.log(`raw node:wasi ${program}: ${node.exit}`);
      expect(strata.exit, 'the program ran to its end').toBe('Completed:0');
      const got = compare(program, expected, strata.obs, node.obs);
      rows.push(...got);
      const unexpected = got.filter((r) => !r.ok && !(r.key in KNOWN));
      const known = got.filter((r) => !r.ok && r.key in KNOWN);
      const fixed = got.filter((r) => r.ok && r.key in KNOWN);
      for (const r of known)
        console.log(`known divergence ${r.key}: got ${r.strata}, want ${r.want} — ${KNOWN[r.key]}`);
      expect(unexpected.map((r) => `${r.key}: got ${r.strata}, want ${r.want}`)).toEqual([]);
      expect(fixed.map((r) => `${r.key} passes now: remove it from KNOWN`)).toEqual([]);
    });
  }
});
