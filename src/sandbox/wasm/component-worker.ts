// A worker thread that runs one pod's WASI 0.2 component (component-sandbox.ts starts it): a
// wasi:cli/command once, or a wasi:http/proxy handler for each request. A wasi:http handler serves its
// requests one after another on one instance that is reset between requests to its state right after
// instantiation (component-reset.ts: memories, mutable globals and tables put back), so each request
// sees a fresh instance without paying for one; or, when the pod asks for it (or its modules cannot be
// reset), on a fresh instance per request from a pool made ahead.
//
import { createContext, Script } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { componentImports, exitCodeOf, httpShim } from './component-host.ts';
import { StateSnapshot } from './component-reset.ts';
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

/**
 * jco's glue calls `_debugLog` hundreds of times per wasi:http request, and each call looks up
 * `globalThis.process` — through the vm context's interceptor, ~5% of a request's time. It logs only
 * when JCO_DEBUG is set in an environment the glue does not have: it becomes a no-op.
 */
function withoutDebugLog(glue: string): string {
  return glue.replace('if (!globalThis?.process?.env?.JCO_DEBUG) { return; }', 'return;');
}

function evaluateGlue(): { instantiate: Instantiate; instantiateCore: InstantiateCore } {
  const context = createContext(
    { ...glueGlobals },
    { name: 'component glue', codeGeneration: { strings: false, wasm: false } },
  );
  const script = new Script(withoutDebugLog(data.glue), { filename: 'component.js' });
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

/** A new component instance; `made` collects its core instances (for a state snapshot). */
function newInstance(made: WasmInstance[] = []) {
  return instantiate(
    getCoreModule,
    componentImports({ args: data.args, env: data.env, sink, mounts: data.mounts }),
    // `.then` of the glue realm's promise gives one of that realm again (what the glue checks for).
    (m, imports) =>
      instantiateCore(m, imports).then((i) => {
        made.push(i);
        return i;
      }),
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
type RequestMessage = Extract<ToComponentWorker, { type: 'request' }>;
let instancesMade = 0;
let requestsServed = 0;

function handlerOf(i: Awaited<ReturnType<typeof newInstance>>): Handler {
  return (i.incomingHandler ?? i['wasi:http/incoming-handler']) as unknown as Handler;
}

/** Runs one request on `handler`; the response, or why it failed (the instance is then not reused). */
async function runRequest(
  handler: Handler,
  msg: RequestMessage,
): Promise<{ ok: true; reply: FromComponentWorker } | { ok: false; reply: FromComponentWorker }> {
  try {
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
    return { ok: true, reply: { type: 'response', id: msg.id, status: response.status, headers, body } };
  } catch (err) {
    const code = exitCodeOf(err);
    const why = code !== undefined ? `the handler exited with ${code}` : failure(err);
    return {
      ok: false,
      reply: { type: 'response', id: msg.id, status: 500, headers: [], body: new Uint8Array(), error: why },
    };
  }
}

// Instance per request: a pool of instances made ahead; each serves one request and is dropped.
const ready: Promise<Handler>[] = [];

function makeHandlerInstance(): Promise<Handler> {
  instancesMade++;
  return newInstance().then(handlerOf);
}

function refill(): void {
  while (ready.length < data.poolSize) {
    const p = makeHandlerInstance();
    p.catch(() => undefined); // reported when a request takes it
    ready.push(p);
  }
}

async function serveFresh(msg: RequestMessage): Promise<void> {
  const taken = ready.shift() ?? makeHandlerInstance();
  refill();
  let handler: Handler;
  try {
    handler = await taken;
  } catch (err) {
    const why = `cannot instantiate the component: ${failure(err)}`;
    return post({
      type: 'response',
      id: msg.id,
      status: 500,
      headers: [],
      body: new Uint8Array(),
      error: why,
    });
  }
  post((await runRequest(handler, msg)).reply);
  requestsServed++;
}

// Reset between requests: one instance, its state put back after each request (component-reset.ts).
interface Recycled {
  handler: Handler;
  snapshot: StateSnapshot;
  served: number;
}
let current: Promise<Recycled> | undefined;
const queue: RequestMessage[] = [];
let draining = false;

async function makeRecycled(): Promise<Recycled> {
  instancesMade++;
  const made: WasmInstance[] = [];
  const handler = handlerOf(await newInstance(made));
  return { handler, snapshot: StateSnapshot.take(made), served: 0 };
}

function replaceInstance(): Promise<Recycled> {
  current = makeRecycled();
  current.catch(() => undefined); // reported by the request that waits for it
  return current;
}

async function serveRecycled(msg: RequestMessage): Promise<void> {
  let instance: Recycled;
  try {
    instance = await (current ?? replaceInstance());
  } catch (err) {
    current = undefined; // the next request tries again
    const why = `cannot instantiate the component: ${failure(err)}`;
    return post({
      type: 'response',
      id: msg.id,
      status: 500,
      headers: [],
      body: new Uint8Array(),
      error: why,
    });
  }
  const outcome = await runRequest(instance.handler, msg);
  requestsServed++;
  instance.served++;
  // A failed request (trap, exception, exit) may have left the instance anywhere: it is dropped. So is
  // one whose memory grew (memories do not shrink) and, now and then, a healthy one: the glue's and
  // the host's bookkeeping for an instance (resource tables) grows a little with every request.
  const reusable = outcome.ok && instance.served < data.maxRequestsPerInstance && instance.snapshot.restore();
  // The answer goes first: making the replacement starts synchronously (core instantiation) and
  // would hold it back.
  post(outcome.reply);
  if (!reusable) replaceInstance();
}

async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  try {
    // One at a time: the instance is synchronous, and its state is reset between requests.
    for (let msg = queue.shift(); msg; msg = queue.shift()) await serveRecycled(msg);
  } finally {
    draining = false;
  }
}

async function serveHttp(): Promise<void> {
  try {
    // A component that cannot be instantiated fails the start, not the first request.
    if (data.instances === 'reset') await replaceInstance();
    else {
      refill();
      await ready[0];
    }
  } catch (err) {
    return post({ type: 'start-failed', message: `cannot instantiate the component: ${failure(err)}` });
  }
  port.on('message', (msg: ToComponentWorker) => {
    if (msg.type === 'request') {
      if (data.instances === 'reset') {
        queue.push(msg);
        void drain();
      } else void serveFresh(msg);
    } else if (msg.type === 'count')
      post({ type: 'count', instances: instancesMade, requests: requestsServed });
  });
  post({ type: 'running' });
}

if (data.world === 'http') void serveHttp();
else void runCommand();
