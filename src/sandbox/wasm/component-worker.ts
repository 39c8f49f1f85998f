// A worker thread that runs one pod's WASI 0.2 component (component-sandbox.ts starts it): a
// wasi:cli/command once, or a wasi:http/proxy handler for each request, from a pool of instances made
// ahead (a componentize-js instance serves one request; a fresh one costs ~19 ms).
//
// The transpiled glue is code generated from an untrusted component, so it is evaluated as a script in
// a vm context of its own: no `require`, no `process`, no `import()` (no importModuleDynamically), no
// eval or `new Function` (codeGeneration.strings off), and only the globals listed in `glueGlobals`.
// What it can reach of this realm is what it is handed (the WASI 0.2 imports, core modules, those
// globals); the constructors through which a function of this realm leads to this realm's `Function`
// are removed below, since the worker runs nothing else. The thread itself has an empty `env` and
// resource limits; a stop terminates it.
import { createContext, Script } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { componentImports, exitCodeOf, httpShim } from './component-host.ts';
import type { ComponentWorkerData, FromComponentWorker, ToComponentWorker } from './component-protocol.ts';
import { Wasm, type ImportObject, type WasmInstance, type WasmModule } from './webassembly.ts';

const port = parentPort!;
const data = workerData as ComponentWorkerData;
const post = (m: FromComponentWorker): void => port.postMessage(m);

const sink = (stream: 'stdout' | 'stderr', chunk: Uint8Array): void => post({ type: 'log', stream, chunk });
const logLine = (stream: 'stdout' | 'stderr', ...parts: unknown[]): void =>
  sink(stream, new TextEncoder().encode(`${parts.map(String).join(' ')}\n`));

const glueGlobals = {
  TextEncoder,
  TextDecoder,
  queueMicrotask: (f: () => void) => queueMicrotask(f),
  setTimeout: (f: () => void, ms?: number) => setTimeout(f, ms),
  console: {
    log: (...a: unknown[]) => logLine('stdout', ...a),
    info: (...a: unknown[]) => logLine('stdout', ...a),
    debug: () => {},
    trace: () => {},
    warn: (...a: unknown[]) => logLine('stderr', ...a),
    error: (...a: unknown[]) => logLine('stderr', ...a),
  },
};

type Instantiate = (
  getCoreModule: (name: string) => WasmModule,
  imports: Record<string, unknown>,
  instantiateCore: InstantiateCore,
) => Promise<Record<string, Record<string, (...a: unknown[]) => unknown>>>;

type InstantiateCore = (m: WasmModule, imports: ImportObject) => Promise<WasmInstance>;

function evaluateGlue(): { instantiate: Instantiate; instantiateCore: InstantiateCore } {
  const context = createContext(
    { ...glueGlobals },
    { name: 'component glue', codeGeneration: { strings: false, wasm: false } },
  );
  const script = new Script(data.glue, { filename: 'component.js' });
  const { instantiate } = script.runInContext(context) as { instantiate: Instantiate };
  // The glue tells its own suspensions by `instanceof Promise` of its realm: hand it promises of that realm.
  const inRealm = new Script(
    '(f) => (m, i) => new Promise((ok, fail) => f(m, i).then(ok, fail))',
  ).runInContext(context) as (f: InstantiateCore) => InstantiateCore;
  const instantiateCore = inRealm(async (m, imports) => new Wasm.Instance(m, imports));
  // From here on no code of this realm needs Function's constructor; a handed-in function's
  // `.constructor` would otherwise lead the glue to it (and to `process`).
  for (const f of [function () {}, async function () {}, function* () {}, async function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(f), 'constructor', { value: undefined });
  }
  return { instantiate, instantiateCore };
}

const { instantiate, instantiateCore } = evaluateGlue();
const getCoreModule = (name: string): WasmModule => {
  const m = data.cores[name];
  if (!m) throw new Error(`the component's glue asked for core module ${name}, which it does not have`);
  return m;
};

function newInstance() {
  return instantiate(
    getCoreModule,
    componentImports({ args: data.args, env: data.env, sink, mounts: data.mounts }),
    instantiateCore,
  );
}

/** Errors may come from the glue's realm, where `instanceof Error` does not hold. */
function failure(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown } | null;
  if (e && typeof e === 'object' && typeof e.message === 'string') return `${String(e.name)}: ${e.message}`;
  return JSON.stringify(err) ?? String(err);
}

async function runCommand(): Promise<void> {
  let instance;
  try {
    instance = await newInstance();
  } catch (err) {
    return post({ type: 'start-failed', message: `cannot instantiate the component: ${failure(err)}` });
  }
  post({ type: 'running' });
  try {
    const run = (instance.run ?? instance['wasi:cli/run@0.2.0']).run;
    await run();
    post({ type: 'exit', code: 0 });
  } catch (err) {
    const code = exitCodeOf(err);
    if (code !== undefined) return post({ type: 'exit', code });
    if (err instanceof Wasm.RuntimeError) return post({ type: 'exit', code: 134, trap: err.message });
    // jco throws a ComponentError when run returns err(_): the command failed.
    if (err && (err as Error).name === 'ComponentError') return post({ type: 'exit', code: 1 });
    post({ type: 'exit', code: 1, error: failure(err) });
  }
}

// --- wasi:http/proxy ------------------------------------------------------------------------------

type Handler = { handle: (req: unknown, out: unknown) => unknown };
const ready: Promise<Handler>[] = [];
let instancesMade = 0;

function makeHandlerInstance(): Promise<Handler> {
  instancesMade++;
  return newInstance().then(
    (i) => (i.incomingHandler ?? i['wasi:http/incoming-handler']) as unknown as Handler,
  );
}

function refill(): void {
  while (ready.length < data.poolSize) {
    const p = makeHandlerInstance();
    p.catch(() => undefined); // reported when a request takes it
    ready.push(p);
  }
}

async function serveRequest(msg: Extract<ToComponentWorker, { type: 'request' }>): Promise<void> {
  const taken = ready.shift() ?? makeHandlerInstance();
  refill();
  try {
    const handler = await taken;
    const hasBody = msg.method !== 'GET' && msg.method !== 'HEAD';
    const request = new Request(msg.url, {
      method: msg.method,
      headers: msg.headers,
      body: hasBody ? msg.body : undefined,
    });
    const response = await httpShim.handleIncomingRequest(request, (req, out) => handler.handle(req, out));
    const headers: Array<[string, string]> = [];
    response.headers.forEach((v, k) => headers.push([k, v]));
    const body = new Uint8Array(await response.arrayBuffer());
    post({ type: 'response', id: msg.id, status: response.status, headers, body });
  } catch (err) {
    const code = exitCodeOf(err);
    const why = code !== undefined ? `the handler exited with ${code}` : failure(err);
    post({ type: 'response', id: msg.id, status: 500, headers: [], body: new Uint8Array(), error: why });
  }
}

async function serveHttp(): Promise<void> {
  refill();
  try {
    await ready[0]; // a component that cannot be instantiated fails the start, not the first request
  } catch (err) {
    return post({ type: 'start-failed', message: `cannot instantiate the component: ${failure(err)}` });
  }
  port.on('message', (msg: ToComponentWorker) => {
    if (msg.type === 'request') void serveRequest(msg);
    else if (msg.type === 'count') post({ type: 'count', instances: instancesMade });
  });
  post({ type: 'running' });
}

if (data.world === 'http') void serveHttp();
else void runCommand();
