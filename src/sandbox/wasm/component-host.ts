// Strata's WASI 0.2 imports for a transpiled component (component-transpile.ts). Built from
// @bytecodealliance/preview2-shim's *browser* implementation, whose pieces touch nothing of the host:
// wasi:io streams and pollables, clocks, random (crypto.getRandomValues), the wasi:http resource types,
// and `createCli`, a per-instance wasi:cli whose stdout/stderr are handlers we give. Its Node.js
// implementation is not used: it preopens host paths and opens real sockets.
//
// - wasi:cli: args and env from the pod; stdout/stderr to the pod's log (`sink`); stdin empty;
//   `exit` throws ComponentExit (the code is the result: err → 1).
// - wasi:filesystem: the pod's volume mounts as preopens, through component-fs.ts (confined like preview 1).
// - wasi:http/outgoing-handler: refused (`HTTP-request-denied`): components get no network.
// - no wasi:sockets (component-transpile.ts refuses a component that imports them).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hostAdapter, type Mount } from './component-fs.ts';

/** Where the guest's output goes: the pod's log (stream, bytes). */
export type OutputSink = (stream: 'stdout' | 'stderr', chunk: Uint8Array) => void;

export interface ComponentHostConfig {
  args: string[];
  env: Record<string, string>;
  sink: OutputSink;
  /** wasi:filesystem/preopens: the pod's volume mounts (component-fs.ts confines them). */
  mounts?: Array<Mount & { guestPath: string }>;
}

// preview2-shim's browser build is loaded by path (the package's "node" export condition points at its
// Node.js build), so it is untyped here.
type Shim = Record<string, any>;

const browserDir = join(
  dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/preview2-shim'))),
  '..',
  'browser',
);
const load = (name: string): Promise<Shim> => import(pathToFileURL(join(browserDir, `${name}.js`)).href);

const [io, clocks, random, cli, http, fs] = await Promise.all(
  ['io', 'clocks', 'random', 'cli', 'http', 'filesystem'].map(load),
);

/** wasi:http glue for the handler side (component-worker.ts). */
export const httpShim = {
  handleIncomingRequest: http.handleIncomingRequest as (
    request: Request,
    handler: (request: unknown, responseOut: unknown) => unknown,
  ) => Promise<Response>,
};

/** Thrown by wasi:cli/exit; preview2-shim's own ComponentExit carries `exitError` and `code`. */
export function exitCodeOf(err: unknown): number | undefined {
  if (err && typeof err === 'object' && (err as { exitError?: boolean }).exitError === true)
    return Number((err as { code?: number }).code ?? 1);
  return undefined;
}

function sinkStream(sink: OutputSink, stream: 'stdout' | 'stderr'): Record<string, unknown> {
  return {
    // Bytes go out as written; the agent's log path frames lines.
    write: (contents: Uint8Array) => sink(stream, new Uint8Array(contents)),
    blockingWriteAndFlush: (contents: Uint8Array) => sink(stream, new Uint8Array(contents)),
    checkWrite: () => 1n << 20n,
    flush() {},
    blockingFlush() {},
    drop() {},
  };
}

// --- waiting ---------------------------------------------------------------------------------------
// The glue is transpiled for synchronous imports (no JSPI), so wasi:io/poll must answer at once; the
// shim's own poll returns promises (it is written for jco's async mode). A component has its worker
// thread to itself (component-worker.ts), so a wait on the clock blocks that thread (Atomics.wait),
// as a preview-1 guest on a dedicated thread does. A wait on anything else that is not ready cannot
// complete (no sockets, bodies arrive whole) and is refused.

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Clock pollables: when each becomes ready (performance.now() milliseconds). */
const deadlines = new WeakMap<object, number>();

function clockPollable(durationNs: bigint): object {
  const at = performance.now() + Number(durationNs) / 1e6;
  const p = io.pollableCreate({
    ready: () => performance.now() >= at,
    wait: () => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now()))),
  }) as object;
  deadlines.set(p, at);
  return p;
}

const monotonicClock = {
  resolution: () => 1000n,
  now: () => BigInt(Math.floor(performance.now() * 1e6)),
  subscribeDuration: (d: bigint) => clockPollable(d),
  subscribeInstant: (instant: bigint) => {
    const now = BigInt(Math.floor(performance.now() * 1e6));
    return clockPollable(instant > now ? instant - now : 0n);
  },
};

type Pollable = { ready(): boolean };

function pollNow(list: Pollable[]): Uint32Array {
  if (list.length === 0) throw new Error('poll list must not be empty');
  for (;;) {
    const ready: number[] = [];
    list.forEach((p, i) => p.ready() && ready.push(i));
    if (ready.length) return new Uint32Array(ready);
    const waits = list.map((p) => deadlines.get(p as object));
    if (waits.some((d) => d === undefined))
      throw new Error(
        'the component waits on something that cannot become ready on this node (only clock waits block)',
      );
    const until = Math.min(...(waits as number[]));
    Atomics.wait(sleeper, 0, 0, Math.max(0, until - performance.now()));
  }
}

// `[method]pollable.block` too: the shim's returns a promise the synchronous glue would drop.
(io.poll.Pollable as { prototype: { block(): void } }).prototype.block = function (this: Pollable) {
  pollNow([this]);
};

const syncPoll = {
  Pollable: io.poll.Pollable,
  poll: pollNow,
  pollList: pollNow,
  pollOne: (p: Pollable) => void pollNow([p]),
};

const deniedOutgoing = {
  handle() {
    // wasi:http/types error-code: the host refuses outgoing requests.
    throw { tag: 'HTTP-request-denied' };
  },
};

/** wasi:filesystem `types` and `preopens` over the pod's mounts (component-fs.ts). */
export function componentFilesystem(mounts: Array<Mount & { guestPath: string }>): {
  types: Shim;
  preopens: { getDirectories(): Array<[Shim, string]> };
} {
  return fs.createFilesystem({
    adapter: hostAdapter({
      inputStreamCreate: io.inputStreamCreate,
      outputStreamCreate: io.outputStreamCreate,
    }),
    preopens: Object.fromEntries(mounts.map((m) => [m.guestPath, m])),
  });
}

/** The import object for `instantiate(getCoreModule, imports)`, keyed by unversioned interface name. */
export function componentImports(config: ComponentHostConfig): Record<string, unknown> {
  const c = cli.createCli({
    environment: config.env,
    arguments: config.args,
    stdout: sinkStream(config.sink, 'stdout'),
    stderr: sinkStream(config.sink, 'stderr'),
  });
  const filesystem = componentFilesystem(config.mounts ?? []);
  return {
    'wasi:cli/environment': c.environment,
    'wasi:cli/exit': c.exit,
    'wasi:cli/stdin': c.stdin,
    'wasi:cli/stdout': c.stdout,
    'wasi:cli/stderr': c.stderr,
    'wasi:cli/terminal-input': c.terminalInput,
    'wasi:cli/terminal-output': c.terminalOutput,
    'wasi:cli/terminal-stdin': c.terminalStdin,
    'wasi:cli/terminal-stdout': c.terminalStdout,
    'wasi:cli/terminal-stderr': c.terminalStderr,
    'wasi:clocks/monotonic-clock': monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:filesystem/preopens': filesystem.preopens,
    'wasi:filesystem/types': filesystem.types,
    'wasi:http/types': http.types,
    'wasi:http/outgoing-handler': deniedOutgoing,
    'wasi:io/error': io.error,
    'wasi:io/poll': syncPoll,
    'wasi:io/streams': io.streams,
    'wasi:random/random': random.random,
    'wasi:random/insecure': random.insecure,
    'wasi:random/insecure-seed': random.insecureSeed,
  };
}
