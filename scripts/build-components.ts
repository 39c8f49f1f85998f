// Builds the example WASI 0.2 components from source with componentize-js (no AOT: its weval step
// downloads a binary) into build/components/:
//   examples/wasi-http-hello/hello.js -> build/components/wasi-http-hello.wasm (wasi:http/proxy)
//   examples/wasi-cli-hello/main.js   -> build/components/wasi-cli-hello.wasm  (wasi:cli/command)
// Idempotent: an output newer than its sources and this script is left alone. Run from setup.sh.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'components');
/** The WASI release the pinned componentize-js engine speaks. */
const WASI_VERSION = '0.2.10';
/** The WIT the pinned jco ships for the 0.2 line. */
const JCO_WIT = join(root, 'node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12');

const examples = [
  { name: 'wasi-http-hello', source: 'hello.js', world: 'hello' },
  { name: 'wasi-cli-hello', source: 'main.js', world: 'cli-hello' },
];

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const p of paths) {
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(readdirSync(p).map((n) => join(p, n))));
    else newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/** The example's world.wit plus the wasi:* packages, restamped to WASI_VERSION, in a build dir. */
function witFor(dir: string, name: string): string {
  const wit = join(out, `${name}.wit`);
  rmSync(wit, { recursive: true, force: true });
  mkdirSync(join(wit, 'deps'), { recursive: true });
  cpSync(join(dir, 'wit', 'world.wit'), join(wit, 'world.wit'));
  for (const pkg of readdirSync(JCO_WIT)) {
    const text = readFileSync(join(JCO_WIT, pkg, 'package.wit'), 'utf8').replaceAll(
      '@0.2.12',
      `@${WASI_VERSION}`,
    );
    mkdirSync(join(wit, 'deps', pkg));
    writeFileSync(join(wit, 'deps', pkg, 'package.wit'), text);
  }
  return wit;
}

// componentize-js runs its splicer as a component on preview2-shim, which since 0.2x preopens nothing;
// the build (trusted input, our own sources) needs to read them.
const { _setPreopens } = await import('@bytecodealliance/preview2-shim/filesystem');
(_setPreopens as (preopens: Record<string, string>) => void)({ '/': '/' });
const { componentize } = await import('@bytecodealliance/componentize-js');

mkdirSync(out, { recursive: true });
const script = fileURLToPath(import.meta.url);
for (const ex of examples) {
  const dir = join(root, 'examples', ex.name);
  const target = join(out, `${ex.name}.wasm`);
  if (existsSync(target) && statSync(target).mtimeMs > newestMtime([dir, script])) continue;
  const started = Date.now();
  const { component } = await componentize({
    sourcePath: join(dir, ex.source),
    witPath: witFor(dir, ex.name),
    worldName: ex.world,
  });
  writeFileSync(target, component);
  console.log(`build-components: ${ex.name}.wasm (${component.length} bytes, ${Date.now() - started} ms)`);
}
