// A WASI 0.2 component, made runnable: jco transpiles it (once per content digest) into core modules and
// JavaScript glue, in its "instantiation" form — a function `instantiate(getCoreModule, imports,
// instantiateCore)` that imports nothing itself, so the host decides every import (component-host.ts)
// and no preview2-shim import map points at host paths. The result is kept in memory and on disk under
// `<cacheDir>/components/<sha256>/` (a transpile of a 13 MB componentize-js component takes ~30 s here).
//
// The glue is code generated from an untrusted component. It is turned from an ES module into a script
// here (its only top-level `export`s are rewritten; any `import` statement is refused) so that the
// worker can evaluate it in a context of its own (component-worker.ts), not as a module of the agent.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SandboxError } from '../driver.ts';

/** What a component is for, from the interfaces it exports. */
export type ComponentWorld = 'command' | 'http';

export interface TranspiledComponent {
  sha256: string;
  world: ComponentWorld;
  /** A script whose completion value is `{ instantiate }`. */
  glue: string;
  /** Core modules by the names the glue asks for (`component.core.wasm`, …). */
  cores: Record<string, Uint8Array>;
  /** The WASI interfaces it imports, unversioned (`wasi:cli/stdout`). */
  imports: string[];
}

/** The interfaces Strata's WASI 0.2 host provides (component-host.ts). */
export const SUPPORTED_IMPORTS = new Set([
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
  'wasi:http/types',
  'wasi:http/outgoing-handler',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
]);

const GLUE = 'component.js';

/** The exported interface decides the world: wasi:http/incoming-handler beats wasi:cli/run. */
function worldOf(exports: string[]): ComponentWorld {
  if (exports.some((e) => e.startsWith('wasi:http/incoming-handler@'))) return 'http';
  if (exports.some((e) => e.startsWith('wasi:cli/run@'))) return 'command';
  throw new SandboxError(
    'CreateContainerError',
    `the component exports ${exports.join(', ') || 'nothing'}; the wasm tier runs components that export ` +
      'wasi:cli/run (wasi:cli/command) or wasi:http/incoming-handler (wasi:http/proxy)',
  );
}

function checkImports(imports: string[]): void {
  const unsupported = imports.filter((i) => !SUPPORTED_IMPORTS.has(i));
  if (unsupported.length)
    throw new SandboxError(
      'CreateContainerError',
      `the component imports ${unsupported.join(', ')}, which the wasm tier does not provide ` +
        '(no sockets; see docs/wasi-components.md for the interfaces it does)',
    );
}

interface TranspileOutput {
  files: Record<string, Uint8Array>;
  imports: string[];
  exports: Array<[string, string]>;
}

/** jco's transpile on a worker thread (component-transpile-worker.ts): it blocks for tens of seconds. */
function transpileOnThread(bytes: Uint8Array): Promise<TranspileOutput> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./component-transpile-worker.ts', import.meta.url), {
      name: 'component transpile',
      workerData: { bytes },
      env: {},
    });
    w.once('message', (m: ({ ok: true } & TranspileOutput) | { ok: false; message: string }) => {
      if (m.ok) resolve(m);
      else reject(new SandboxError('CreateContainerError', `invalid WebAssembly component: ${m.message}`));
      void w.terminate();
    });
    w.once('error', (err) =>
      reject(new SandboxError('CreateContainerError', `transpiling the component: ${err.message}`)),
    );
    w.once('exit', () =>
      reject(new SandboxError('CreateContainerError', 'the transpile thread ended without an answer')),
    );
  });
}

/** The ES module jco wrote, as a script evaluating to `{ instantiate }`. */
export function glueAsScript(module: string): string {
  if (/^\s*import[\s{*'"]/m.test(module))
    throw new SandboxError(
      'CreateContainerError',
      'the transpiled component imports modules; refusing its glue',
    );
  const script = module
    .replace(/^export (async )?function instantiate\b/m, '$1function instantiate')
    .replace(/^export const _util\b/m, 'const _util')
    // Only a fallback that fetches core modules next to the glue uses it; we always pass getCoreModule.
    .replaceAll('import.meta.url', "'component:/'");
  if (/^export\b/m.test(script) || script.includes('import.meta'))
    throw new SandboxError(
      'CreateContainerError',
      'the transpiled component has exports other than instantiate, or uses import.meta',
    );
  return `${script}\n;({ instantiate });\n`;
}

interface Stored {
  world: ComponentWorld;
  imports: string[];
}

export class ComponentCache {
  /** Transpiles done (tests: a hit, in memory or on disk, does not count). */
  transpiles = 0;
  private readonly dir: string;
  private readonly entries = new Map<string, Promise<TranspiledComponent>>();

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'components');
  }

  get(sha256: string, load: () => Promise<Uint8Array>): Promise<TranspiledComponent> {
    let entry = this.entries.get(sha256);
    if (!entry) {
      entry = this.fromDisk(sha256).then((hit) => hit ?? this.transpile(sha256, load));
      // A failure is not cached: the next start tries again (and reports the same reason).
      entry.catch(() => this.entries.delete(sha256));
      this.entries.set(sha256, entry);
    }
    return entry;
  }

  private async fromDisk(sha256: string): Promise<TranspiledComponent | undefined> {
    const dir = join(this.dir, sha256);
    try {
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Stored;
      const cores: Record<string, Uint8Array> = {};
      for (const name of await readdir(dir))
        if (name.endsWith('.wasm')) cores[name] = new Uint8Array(await readFile(join(dir, name)));
      const glue = await readFile(join(dir, GLUE), 'utf8');
      return { sha256, world: meta.world, imports: meta.imports, glue, cores };
    } catch {
      return undefined;
    }
  }

  private async transpile(sha256: string, load: () => Promise<Uint8Array>): Promise<TranspiledComponent> {
    const bytes = await load();
    const out = await transpileOnThread(bytes);
    this.transpiles++;
    const imports = [...new Set(out.imports.map((i) => i.replace(/@.*$/, '')))];
    checkImports(imports);
    const world = worldOf(out.exports.map(([name]) => name));
    const cores: Record<string, Uint8Array> = {};
    let glue = '';
    for (const [name, data] of Object.entries(out.files)) {
      if (name === GLUE) glue = glueAsScript(new TextDecoder().decode(data));
      else if (name.endsWith('.wasm') && !name.includes('/')) cores[name] = data;
    }
    const entry: TranspiledComponent = { sha256, world, imports, glue, cores };
    await this.store(entry).catch(() => undefined); // a full disk costs a transpile next time, no more
    return entry;
  }

  private async store(entry: TranspiledComponent): Promise<void> {
    const tmp = join(this.dir, `.${entry.sha256}.${process.pid}.${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    for (const [name, data] of Object.entries(entry.cores)) await writeFile(join(tmp, name), data);
    await writeFile(join(tmp, GLUE), entry.glue);
    await writeFile(join(tmp, 'meta.json'), JSON.stringify({ world: entry.world, imports: entry.imports }));
    await rename(tmp, join(this.dir, entry.sha256)).catch(async () =>
      rm(tmp, { recursive: true, force: true }),
    );
  }
}
