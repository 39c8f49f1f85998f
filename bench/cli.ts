// CLI latency: `strata get pods` beside `kubectl get pods` against the same server (a node started with
// `strata up`, 20 pods), each run as a fresh process as a user types it: p50/p99 of RUNS runs, alternating.
//
//   npm run bench -- cli [RUNS]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize, printTable } from './lib/stats.ts';

const RUNS = Number(process.argv[2] ?? 20);
const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const NODE = process.execPath;
const MAIN = join(ROOT, 'src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'strata-bench-cli-'));
const kubeconfig = join(dir, 'kubeconfig');
const env: NodeJS.ProcessEnv = { ...process.env, STRATA_HOME: dir };

function run(cmd: string, args: readonly string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

// As users run it: bin/strata (the pinned Node, with its compile cache in the run's own directory).
const BIN = join(ROOT, 'bin/strata');
env.NODE_COMPILE_CACHE = join(dir, 'compile-cache');
const strata = (...args: string[]) => [BIN, ['--kubeconfig', kubeconfig, ...args]] as const;
try {
  run(...strata('up', '-d', '--data-dir', join(dir, 'data'), '--port', '0', '--runtimes', 'wasm'));
  const pods = Array.from(
    { length: 20 },
    (_, i) =>
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p${i} }\nspec:\n  runtimeClassName: wasm\n  nodeName: none\n  containers: [{ name: m, image: build/wasm/hello.wasm }]\n`,
  ).join('---\n');
  writeFileSync(join(dir, 'pods.yaml'), pods);
  run(...strata('apply', '-f', join(dir, 'pods.yaml')));
  const s: number[] = [];
  const k: number[] = [];
  // One warm-up each (page cache), then alternate so both see the same machine load.
  run(...strata('get', 'pods'));
  run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods']);
  for (let i = 0; i < RUNS; i++) {
    s.push(run(...strata('get', 'pods')));
    k.push(run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods']));
  }
  const ss = summarize(s);
  const ks = summarize(k);
  printTable(`CLI latency, get pods (20 pods), ${RUNS} runs each, fresh process per run`, [
    { name: 'kubectl get pods', s: ks },
    { name: 'strata get pods', s: ss, extra: `${(ss.p50 / ks.p50).toFixed(2)}× kubectl (p50)` },
  ]);
} finally {
  spawnSync(NODE, [MAIN, 'down', '--data-dir', join(dir, 'data')], { env });
  rmSync(dir, { recursive: true, force: true });
}
